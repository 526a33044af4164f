// The audit log of admin calls (Store.addAudit / listAudit) on both backends: newest first, filtered by time
// range and admin, limited, every field kept.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeBackends, type OpenedParts } from '../../../helpers/store-backends.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

describeBackends('audit log', (backend) => {
  let store: OpenedParts;
  beforeEach(async () => {
    store = await backend.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('lists newest first, by time range and admin, limited; every field kept', async () => {
    await store.audit.add({ at: at(0), who: 'admin', method: 'PUT', path: '/v1/plans/basic', status: 201, ip: '127.0.0.1', detail: '{"cpu":100}' });
    await store.audit.add({ at: at(10), who: 'alice', method: 'POST', path: '/v1/tenants/bob/actions', status: 202, ip: '::1', detail: null });
    await store.audit.add({ at: at(20), who: 'admin', method: 'DELETE', path: '/v1/tenants/carol', status: 404, ip: null, detail: null });
    const all = await store.audit.list({});
    expect(all.map((e) => [e.at, e.who, e.status])).toEqual([
      [at(20), 'admin', 404],
      [at(10), 'alice', 202],
      [at(0), 'admin', 201],
    ]);
    expect(all[2]).toEqual({ id: expect.any(Number), at: at(0), who: 'admin', method: 'PUT', path: '/v1/plans/basic', status: 201, ip: '127.0.0.1', detail: '{"cpu":100}' });
    expect((await store.audit.list({ who: 'admin' })).map((e) => e.status)).toEqual([404, 201]);
    expect((await store.audit.list({ from: T0 + 5000, to: T0 + 20_000 })).map((e) => e.who)).toEqual(['alice']);
    expect((await store.audit.list({ limit: 1 })).map((e) => e.status)).toEqual([404]);
    expect(await store.audit.list({ who: 'nobody' })).toEqual([]);
  });
});
