// The item-3 report over a real controller: one host posts 2,000 tenants and 2,000 quarantine events (and
// 100 warnings) in one report over HTTP; notices go to the outbox directory, counted as .eml files. With the
// default notices.caps the first hour sends the caps' worth, the rest is held with the cap named; an hour
// later (the controller's clock is injected) the held quarantines go out as the cap allows and the warnings
// end in digests. The metric and the log (once per host per hour) count what was held; a second host's
// notices go out at once.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { DEFAULT_CAPS } from '../../../../controller/notices/caps.js';
import { startController, type RunningController } from '../../../../controller/server.js';
import type { Notice } from '../../../../shared/wire/api.js';
import type { IncidentEvent, Report, TenantInfoWire } from '../../../../shared/wire/agent.js';
import { Cleanup, tempDir, waitFor, writeToken } from '../../../helpers/system.js';
import { Clock } from '../../../unit/controller/fixtures.js';
import { floodEvents, names } from '../../../unit/controller/notices/flood.js';

const HOUR = 3_600_000;

function reportOf(host: string, seq: number, at: number, events: IncidentEvent[], tenants: TenantInfoWire[]): Report {
  const iso = new Date(at).toISOString();
  return { version: 1, host, seq, at: iso, sent_at: iso, interval: 5, host_stats: { cores: 8, memory_bytes: 32 << 30 }, samples: [], events, tenants };
}

describe('notices caps over a real controller', () => {
  const cleanup = new Cleanup();
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('item 3: one report of 2,000 tenants and 2,000 quarantines sends the caps worth in the first hour; the held quarantines go out as the hour frees slots, warnings end in digests', async () => {
    const dir = tempDir(cleanup, 'hw-notices-caps-');
    const tokens = { web01: writeToken(join(dir, 'agent-web01.token')), web02: writeToken(join(dir, 'agent-web02.token')) };
    const admin = writeToken(join(dir, 'admin.token'));
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, 'state'),
      admin_token_file: join(dir, 'admin.token'),
      agents: [
        { host: 'web01', token_file: join(dir, 'agent-web01.token') },
        { host: 'web02', token_file: join(dir, 'agent-web02.token') },
      ],
      ingest: { parser_threads: 0 },
    });
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), cb()) }));
    const clock = new Clock(Date.now());
    const c: RunningController = await startController(config, { log, now: clock.now });
    cleanup.add('stop the controller', () => c.close());
    const outbox = join(dir, 'state', 'outbox');
    const emls = () => (existsSync(outbox) ? readdirSync(outbox).filter((f) => f.endsWith('.eml')).length : 0);
    const h = { authorization: `Bearer ${admin}` };
    const notices = async (query: string): Promise<Notice[]> => ((await (await fetch(`${c.url}/v1/notices?limit=10000&${query}`, { headers: h })).json()) as { notices: Notice[] }).notices;
    const metric = async (category: string, cap: string): Promise<number> => {
      const text = await (await fetch(`${c.url}/metrics`, { headers: h })).text();
      const m = new RegExp(`^hostwarden_notices_held_total\\{category="${category}",cap="${cap}"\\} (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : Number.NaN;
    };
    const capLogs = () => lines.filter((l) => /held back by notices\.caps/.test(String(l.msg)));
    /** Wait until the sender is idle: nothing queued or being sent. */
    const settled = () =>
      waitFor('the sender idle', async () => {
        const counts = ((await (await fetch(`${c.url}/v1/notices?limit=1`, { headers: h })).json()) as { counts: Record<string, number> }).counts;
        return !counts.queued && !counts.sending;
      }, 60_000, 100);
    const post = async (host: 'web01' | 'web02', seq: number, events: IncidentEvent[], tenants: TenantInfoWire[]) => {
      const body = JSON.stringify(reportOf(host, seq, clock.t - 1000, events, tenants));
      const res = await fetch(`${c.url}/v1/reports`, { method: 'POST', headers: { authorization: `Bearer ${tokens[host]}`, 'content-type': 'application/json' }, body });
      await res.arrayBuffer();
      return { status: res.status, bytes: body.length };
    };

    // The item-3 report: 2,000 directory entries with addresses, 2,000 quarantines, then 100 warnings.
    const tenants = names('t', 2000);
    const events = [...floodEvents('quarantine', tenants, clock.t - 2000), ...floodEvents('warning', tenants.slice(0, 100), clock.t - 2000)];
    const sent = await post('web01', 1, events, tenants.map((name) => ({ name, email: `${name}@example.com` })));
    expect(sent.status).toBe(202);
    expect(sent.bytes).toBeGreaterThan(1_000_000);

    // First hour: per_report (20) go with the report, the sender adds quarantines up to the hour's cap (30).
    const firstHour = DEFAULT_CAPS.perHostHour.quarantine;
    await waitFor(`${firstHour} .eml files`, () => emls() >= firstHour, 60_000, 100);
    await settled();
    expect(emls()).toBe(firstHour);
    const held = await notices('state=held');
    const heldQ = held.filter((n) => n.category === 'quarantine');
    const heldW = held.filter((n) => n.category === 'warning');
    expect([heldQ.length, heldW.length]).toEqual([2000 - firstHour, 100]);
    expect(heldQ.every((n) => n.digest_due === null && n.error === `held back: over notices.caps.per_report (${DEFAULT_CAPS.perReport} notices per report); sent as soon as the cap allows`)).toBe(true);
    expect(heldW.every((n) => n.digest_due !== null && /per_report .*told in the tenant's digest$/.test(n.error ?? ''))).toBe(true);
    await waitFor('the held notices counted', async () => (await metric('quarantine', 'per_report')) === 2000 - DEFAULT_CAPS.perReport);
    expect(await metric('warning', 'per_report')).toBe(100);
    expect(await metric('quarantine', 'per_host_hour')).toBe(0);
    expect(capLogs().map((l) => l.host)).toEqual(['web01']);
    expect(capLogs()[0]).toMatchObject({ held: { 'quarantine/per_report': 2000 - DEFAULT_CAPS.perReport, 'warning/per_report': 100 } });

    // Another report of web01 within the hour: held by the hour cap, behind the older ones; logged no more.
    expect((await post('web01', 2, floodEvents('quarantine', ['late'], clock.t - 1000), [{ name: 'late', email: 'late@example.com' }])).status).toBe(202);
    await waitFor('counted', async () => (await metric('quarantine', 'per_host_hour')) === 1);
    expect((await notices('tenant=late'))[0]).toMatchObject({ state: 'held', error: expect.stringContaining('notices.caps.per_host_hour.quarantine (30 per host per hour for web01)') });
    expect(capLogs()).toHaveLength(1);

    // A second host's quarantines are not held by web01's cap.
    const others = names('o', 5);
    expect((await post('web02', 1, floodEvents('quarantine', others, clock.t - 1000), others.map((name) => ({ name, email: `${name}@example.com` })))).status).toBe(202);
    await waitFor('web02 notices sent', () => emls() === firstHour + 5, 30_000, 100);
    expect((await notices('state=sent')).filter((n) => n.host === 'web02')).toHaveLength(5);

    // An hour later: the next 30 quarantines (oldest first), and one digest per warned tenant up to the digest cap.
    clock.advance(HOUR);
    c.notices.sender!.kick();
    const digestCap = DEFAULT_CAPS.perHostHour.digest;
    await waitFor('the second hour sent', () => emls() >= firstHour + 5 + firstHour + digestCap, 60_000, 100);
    await settled();
    expect(emls()).toBe(firstHour + 5 + firstHour + digestCap);
    const sentQ = (await notices('state=sent')).filter((n) => n.category === 'quarantine' && n.host === 'web01').map((n) => n.tenant).sort();
    expect(sentQ).toEqual(tenants.slice(0, 2 * firstHour));
    expect((await notices('state=digested')).filter((n) => n.category === 'warning')).toHaveLength(100);
    const digests = await notices('kind=digest');
    expect(digests.filter((d) => d.state === 'sent')).toHaveLength(digestCap);
    expect(digests.filter((d) => d.state === 'held')).toHaveLength(100 - digestCap);
    expect(await metric('digest', 'per_host_hour')).toBe(100 - digestCap);
    // One more log line for web01 in the new hour.
    expect(capLogs().map((l) => l.host)).toEqual(['web01', 'web01']);
    // Nothing is lost: every quarantine is either sent or still held, in order.
    expect((await notices('state=held')).filter((n) => n.category === 'quarantine')).toHaveLength(2000 - 2 * firstHour + 1);
  }, 180_000);
});
