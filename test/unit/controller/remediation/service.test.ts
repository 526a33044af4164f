// The controller opening cases on its own (remediation.auto) from incidents every host reported, on a real
// store with a clock the test moves; and the remediation keys of controller.yaml with errors naming the key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../../controller/config.js';
import { RemediationService } from '../../../../controller/remediation/service.js';
import { ConfigError } from '../../../../shared/errors.js';
import { Clock, event, prepared, report, tempStore } from '../fixtures.js';

const H = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00Z');

describe('automatic remediation cases', () => {
  const clock = new Clock(T0);
  let t: ReturnType<typeof tempStore>;
  let service: RemediationService;
  let seq = 0;
  let n = 0;

  /** One incident of alice (rule cpu-fair-share) reported by web01 now, or by `host`. */
  async function incident(host = 'web01', tenant = 'alice'): Promise<void> {
    n++;
    seq++;
    const r = report(host, seq, clock.now() - 1000, [], { events: [event(`e${n}`, `${tenant}-cpu-${n}`, 'opened', clock.now() - 2000, { tenant })] });
    await t.store.ingest(prepared(r));
  }

  beforeAll(async () => {
    t = tempStore({ now: clock.now });
    const config = parseControllerConfig({ state_dir: t.dir, notices: { enabled: false }, remediation: { auto: { enabled: true, incidents: 3, window: '1h', what: '{count} x {rule} in {window}' } } });
    service = new RemediationService({ store: t.store, config: config.remediation, notices: config.notices, publicUrl: undefined, domain: 'example.com', now: clock.now });
    await t.store.putPlan('basic', { cpu: 100 });
    await t.store.putTenant('alice', { users: ['alice'], plan: 'basic', host: 'web01' });
  });
  afterAll(async () => t.dispose());

  it('opens one case after N incidents of one rule within the window, quoting them', async () => {
    await incident();
    await incident();
    expect(await service.autoOpen()).toBe(0);
    clock.advance(2 * H); // the first two fall out of the window
    await incident();
    await incident();
    expect(await service.autoOpen()).toBe(0);
    await incident();
    expect(await service.tick()).toMatchObject({ opened: 1 });
    const [c] = await service.list({ tenant: 'alice' });
    expect(c).toMatchObject({ state: 'open', rule: 'cpu-fair-share', opened_by: 'controller', what: '3 x cpu-fair-share in 1h', deadline: new Date(clock.now() + 7 * 24 * H).toISOString() });
    expect(c!.evidence.incidents).toHaveLength(3);
    expect(c!.evidence.top_processes.map((p) => p.command)).toEqual(['php-fpm: pool alice']);
    // The case's notice went into the outbox (no address: no_recipient).
    expect((await t.store.notices.list({ tenant: 'alice' })).map((x) => [x.event_type, x.state])).toEqual([['remediation_opened', 'no_recipient']]);
  });

  it('opens no second case while one is unresolved, nor for incidents older than the last case', async () => {
    await incident();
    expect(await service.autoOpen()).toBe(0);
    const [c] = await service.list({ tenant: 'alice' });
    await service.resolve(c!.id, 'admin', 'fixed');
    clock.advance(60_000); // incidents are dated by their agent a little before the report
    expect(await service.autoOpen()).toBe(0);
    await incident();
    await incident();
    expect(await service.autoOpen()).toBe(0);
    await incident();
    expect(await service.autoOpen()).toBe(1);
    expect((await service.list({ tenant: 'alice' })).map((x) => x.state)).toEqual(['open', 'resolved']);
  });

  it('a tenant unknown to the controller gets no case (logged), the others go on', async () => {
    for (let i = 0; i < 3; i++) await incident('web01', 'ghost');
    // Its agent reported incidents of it but never the tenant itself (no sample, no directory entry).
    expect(await t.store.getTenant('ghost')).toBeUndefined();
    const before = await service.list({});
    expect(await service.autoOpen()).toBe(0);
    expect(await service.list({})).toEqual(before);
    // The next run tries again (nothing was recorded for it) and still opens nothing.
    expect(await service.autoOpen()).toBe(0);
  });
});

describe('remediation keys of controller.yaml', () => {
  const keyOf = (raw: unknown): string | undefined => {
    try {
      parseControllerConfig(raw);
      return undefined;
    } catch (err) {
      if (err instanceof ConfigError) return err.key;
      throw err;
    }
  };

  it('defaults', () => {
    const c = parseControllerConfig({});
    expect(c.publicUrl).toBeUndefined();
    expect(c.remediation).toMatchObject({ deadlineMs: 7 * 24 * H, reminderBeforeMs: 24 * H, linkTtlMs: 30 * 24 * H, overdueStep: { action: 'throttle', level: 1 }, schedule: '* * * * *', auto: { enabled: false, incidents: 3, windowMs: 7 * 24 * H } });
    expect(parseControllerConfig({ public_url: 'https://ctl.example.com:8640/' }).publicUrl).toBe('https://ctl.example.com:8640');
    expect(parseControllerConfig({ remediation: { overdue_step: { action: 'quarantine' } } }).remediation.overdueStep).toEqual({ action: 'quarantine' });
  });

  it.each([
    [{ public_url: 'ftp://x' }, 'public_url'],
    [{ public_url: 'not a url' }, 'public_url'],
    [{ public_url: 'https://x/?a=1' }, 'public_url'],
    [{ remediation: { overdue_step: { action: 'freeze' } } }, 'remediation.overdue_step.action'],
    [{ remediation: { overdue_step: { action: 'quarantine', level: 2 } } }, 'remediation.overdue_step.level'],
    [{ remediation: { overdue_step: { action: 'throttle', level: 3 } } }, 'remediation.overdue_step.level'],
    [{ remediation: { deadline: 'soon' } }, 'remediation.deadline'],
    [{ remediation: { deadline: '4000d' } }, 'remediation.deadline'],
    [{ remediation: { schedule: 'every minute' } }, 'remediation.schedule'],
    [{ remediation: { auto: { incidents: 0 } } }, 'remediation.auto.incidents'],
    [{ remediation: { auto: { what: '' } } }, 'remediation.auto.what'],
    [{ remediation: { auto: { enable: true } } }, 'remediation.auto.enable'],
    [{ remediation: { colour: 'red' } }, 'remediation.colour'],
  ])('%j: a ConfigError naming %s', (raw, key) => {
    expect(keyOf(raw)).toBe(key);
  });
});
