// Remediation cases (RemediationStore) through their interface, on both backends: a case opened with its notice
// in the same transaction (written by the controller's own enqueueCaseNotice, under the host's cap), changed by
// a decision (none, one, or one that throws and leaves neither the change nor its notice), listed, pending,
// the automatic opening's incident tally and the link key. On PostgreSQL also two controllers changing one
// case at once: the decisions take turns, none is lost.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { openedCase } from '../../../../controller/remediation/machine.js';
import { enqueueCaseNotice } from '../../../../controller/remediation/notices.js';
import type { RemediationCase } from '../../../../shared/wire/remediation.js';
import { describeBackends, itShared, type OpenedParts } from '../../../helpers/store-backends.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const DAY = 86_400_000;
const notices = parseControllerConfig({ notices: { admin_bcc: ['abuse@example.com'] } }).notices;

function draft(tenant: string, extra: Partial<Parameters<typeof openedCase>[0]> = {}): RemediationCase {
  return openedCase({
    id: 1,
    tenant,
    host: 'web01',
    what: 'remove the webshells',
    rule: null,
    opened_by: 'admin',
    opened_at: new Date(T0).toISOString(),
    deadline: new Date(T0 + 3 * DAY).toISOString(),
    step: { action: 'throttle', level: 2 },
    evidence: { incidents: [], top_processes: [] },
    ...extra,
  });
}

describeBackends('RemediationStore', (backend) => {
  let store: OpenedParts;
  beforeEach(async () => {
    store = await backend.open();
  });
  afterEach(async () => {
    await store.close();
  });

  async function open(tenant: string, extra: Partial<Parameters<typeof openedCase>[0]> = {}): Promise<{ c: RemediationCase; notice: number | undefined }> {
    let notice: number | undefined;
    const c = await store.remediation.open(draft(tenant, extra), (stored, tx) => {
      notice = enqueueCaseNotice(stored, 'opened', tx, { config: notices, domain: 'example.com' }).id;
    });
    return { c, notice };
  }

  it('opens a case with its notice in one transaction, and reads it back', async () => {
    const { c, notice } = await open('alice');
    expect(c.id).toBeGreaterThan(0);
    expect(await store.remediation.get(c.id)).toEqual(c);
    expect(notice).toBeDefined();
    expect(await store.notices.get(notice!)).toMatchObject({ tenant: 'alice', source: `remediation:${c.id}:opened:1`, state: 'queued', recipient: null, category: 'remediation' });
    // A failing callback leaves neither the case nor a notice.
    await expect(
      store.remediation.open(draft('bob'), (stored, tx) => {
        enqueueCaseNotice(stored, 'opened', tx, { config: notices, domain: 'example.com' });
        throw new Error('template broken');
      }),
    ).rejects.toThrow('template broken');
    expect(await store.remediation.list({ tenant: 'bob' })).toEqual([]);
    expect(await store.notices.list({ tenant: 'bob' })).toEqual([]);
    expect(await store.remediation.get(c.id + 1000)).toBeUndefined();
  });

  it('changes a case by a decision: none, one (its notice once per change), or one that throws', async () => {
    const { c } = await open('alice');
    expect(await store.remediation.change(c.id, () => undefined)).toEqual({ case: c, changed: false });
    const notes: Array<number | undefined> = [];
    const acknowledged = await store.remediation.change(c.id, (cur, tx) => {
      const next: RemediationCase = { ...cur, state: 'acknowledged', acknowledged_at: new Date(tx.now).toISOString(), history: [...cur.history, { at: new Date(tx.now).toISOString(), type: 'acknowledged', by: 'tenant', note: null }] };
      notes.push(enqueueCaseNotice(next, 'acknowledged', tx, { config: notices, domain: 'example.com' }).id);
      // The same change's notice again: one of a source only.
      notes.push(enqueueCaseNotice(next, 'acknowledged', tx, { config: notices, domain: 'example.com' }).id);
      return next;
    });
    expect(acknowledged?.changed).toBe(true);
    expect(notes[0]).toBeDefined();
    expect(notes[1]).toBeUndefined();
    expect(await store.remediation.get(c.id)).toMatchObject({ state: 'acknowledged', history: [{ type: 'opened' }, { type: 'acknowledged' }] });
    await expect(
      store.remediation.change(c.id, (cur, tx) => {
        enqueueCaseNotice({ ...cur, history: [...cur.history, cur.history[0]!] }, 'overdue', tx, { config: notices, domain: 'example.com' });
        throw new Error('decision failed');
      }),
    ).rejects.toThrow('decision failed');
    expect((await store.remediation.get(c.id))?.state).toBe('acknowledged');
    expect((await store.notices.list({ tenant: 'alice' })).map((n) => n.event_type).sort()).toEqual(['remediation_acknowledged', 'remediation_opened']);
    expect(await store.remediation.change(c.id + 1000, () => expect.fail('no case'))).toBeUndefined();
  });

  it('lists newest first with filters; pending are the unresolved ones and those with a step to lift', async () => {
    const a = (await open('alice', { opened_at: new Date(T0).toISOString() })).c;
    const b = (await open('bob', { opened_at: new Date(T0 + 1000).toISOString(), rule: 'cpu-fair-share' })).c;
    const c = (await open('alice', { opened_at: new Date(T0 + 2000).toISOString(), rule: 'cpu-fair-share' })).c;
    expect((await store.remediation.list()).map((x) => x.id)).toEqual([c.id, b.id, a.id]);
    expect((await store.remediation.list({ tenant: 'alice', limit: 1 })).map((x) => x.id)).toEqual([c.id]);
    await store.remediation.change(a.id, (cur) => ({ ...cur, state: 'resolved', resolved_at: new Date(T0).toISOString(), resolution: 'fixed' }));
    await store.remediation.change(b.id, (cur) => ({ ...cur, state: 'resolved', resolved_at: new Date(T0).toISOString(), resolution: 'fixed', step_state: 'lift_due' }));
    expect((await store.remediation.pending()).map((x) => x.id)).toEqual([b.id, c.id]);
    expect((await store.remediation.list({ state: 'resolved' })).map((x) => x.id)).toEqual([b.id, a.id]);
    expect((await store.remediation.lastCaseFor('alice', 'cpu-fair-share'))?.id).toBe(c.id);
    expect(await store.remediation.lastCaseFor('carol', 'cpu-fair-share')).toBeUndefined();
  });

  it("tallies incidents per tenant and rule since a time (not manual ones), newest first; keeps the link key", async () => {
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(await store.seedIncident({ key: `a${i}`, tenant: 'alice', rule: 'cpu-fair-share', openedAt: T0 + i * 1000 }));
    await store.seedIncident({ key: 'old', tenant: 'alice', rule: 'cpu-fair-share', openedAt: T0 - DAY });
    await store.seedIncident({ key: 'm1', tenant: 'alice', rule: 'manual', openedAt: T0, manual: true });
    await store.seedIncident({ key: 'b1', tenant: 'bob', rule: 'memory-pressure', openedAt: T0 });
    expect(await store.remediation.incidentTally(T0, 2)).toEqual([{ tenant: 'alice', rule: 'cpu-fair-share', count: 3, ids: [...ids].reverse() }]);
    expect(await store.remediation.incidentTally(T0, 1, 'bob')).toEqual([{ tenant: 'bob', rule: 'memory-pressure', count: 1, ids: [expect.any(Number)] }]);
    expect(await store.remediation.incidentTally(T0 + 10_000, 1)).toEqual([]);

    const key = await store.remediation.linkKey();
    expect(key).toHaveLength(32);
    expect(await store.remediation.linkKey()).toEqual(key);
    await store.reopen();
    expect(await store.remediation.linkKey()).toEqual(key);
  });

  itShared(backend)('two controllers changing one case at once take turns (not SQLite: one controller per file)', async () => {
    const second = await store.another!();
    const { c } = await open('alice');
    const mark = (tag: string) => (cur: RemediationCase): RemediationCase => ({ ...cur, what: `${cur.what} ${tag}` });
    const results = await Promise.all([
      ...[1, 2, 3].map((i) => store.remediation.change(c.id, mark(`a${i}`))),
      ...[1, 2, 3].map((i) => second.remediation.change(c.id, mark(`b${i}`))),
    ]);
    expect(results.every((r) => r?.changed)).toBe(true);
    const what = (await store.remediation.get(c.id))!.what.split(' ').slice(3).sort();
    expect(what).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3']);
  });
});
