// Infected data at the controller, through app.inject() on a real store (SQLite and PostgreSQL, describeBackends): an agent's report carries its
// file quarantine entries and the incident (rule infected, the files as explanation); the admin lists them,
// asks for a restore or delete (202, served in the host's policy until the agent answers), and a scan; a second
// request while one is pending, or one for a file no longer quarantined, is a 409; another host's agent can
// neither report entries for this host's tenants nor answer its requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenRegistry } from '../../../../controller/auth.js';
import { buildApp, type App } from '../../../../controller/http/app.js';
import type { QuarantinedFileWire } from '../../../../shared/wire/files.js';
import { describeBackends, type OpenedStore } from '../../../helpers/store-backends.js';
import { Clock, event, explanation, HOUR, report } from '../fixtures.js';

const ADMIN = 'admin-token-for-tests-0001';
const AGENT = 'agent-token-web01-tests-01';
const AGENT2 = 'agent-token-web02-tests-02';
const T0 = Date.UTC(2025, 5, 1, 10);

describeBackends('http: quarantined-files', (backend) => {
  const clock = new Clock(T0 + HOUR);
  const auth = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });
  /** Without a body (a JSON content type with an empty body is a 400). */
  const bare = (t: string) => ({ authorization: `Bearer ${t}` });
  const ID = '0b7d3c9e-3f43-4c1e-9a55-5b8c1f2e7a01';

  function entry(extra: Partial<QuarantinedFileWire> = {}): QuarantinedFileWire {
    return {
      id: ID,
      tenant: 'alice',
      path: '/home/alice/public_html/shell.php',
      size: 120,
      sha256: 'a'.repeat(64),
      signature: 'Php.Webshell-1',
      uid: 1001,
      gid: 1001,
      mode: 0o644,
      mtime: new Date(T0 - 86_400_000).toISOString(),
      quarantined_at: new Date(T0).toISOString(),
      scan: 'scan-1',
      state: 'quarantined',
      state_at: new Date(T0).toISOString(),
      ...extra,
    };
  }

  let app: App;
  let t: OpenedStore;

  beforeAll(async () => {
    t = await backend.openStore({ now: clock.now });
    const tokens = new TokenRegistry();
    tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    tokens.addToken(AGENT2, { kind: 'agent', name: 'agent:web02', host: 'web02' });
    app = await buildApp({ store: t.store, tokens, now: clock.now, reportBodyLimit: 256 * 1024 });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  const post = (token: string, body: unknown) => app.inject({ method: 'POST', url: '/v1/reports', headers: auth(token), payload: JSON.stringify(body) });
  const get = (url: string) => app.inject({ url, headers: auth(ADMIN) });
  const policy = async () => (await app.inject({ url: '/v1/hosts/web01/policy', headers: auth(AGENT) })).json();

  describe('quarantined files at the controller', () => {
    it('a report stores the entries and the infected incident with its file list', async () => {
      expect((await post(AGENT2, report('web02', 1, T0 - 1000, [{ tenant: 'bob' }]))).statusCode).toBe(202);
      const ev = event('infected:scan-1:1', 'infected:scan-1', 'opened', T0, {
        tenant: 'alice',
        resource: 'files',
        rule: 'infected',
        step: 'notice',
        level: 0,
        explanation: { ...explanation('found 1 infected file'), rule: 'infected', resource: 'files', files: [{ path: entry().path, signature: 'Php.Webshell-1', sha256: 'a'.repeat(64), size: 120, action: 'quarantined', id: ID }] },
      });
      const res = await post(AGENT, report('web01', 1, T0, [{ tenant: 'alice' }], { events: [ev], files: [entry()] }));
      expect(res.statusCode).toBe(202);
      expect(res.json().rejected_items).toBeUndefined();
      const list = await get('/v1/quarantined-files?tenant=alice');
      expect(list.statusCode).toBe(200);
      expect(list.json().files).toEqual([{ ...entry(), host: 'web01', reported_at: new Date(T0 + HOUR).toISOString(), request: null }]);
      expect((await get('/v1/quarantined-files?host=web02')).json().files).toEqual([]);
      const incidents = (await get('/v1/incidents?tenant=alice')).json().incidents;
      expect(incidents).toHaveLength(1);
      const detail = (await get(`/v1/incidents/${incidents[0].id}`)).json();
      expect(detail).toMatchObject({ rule: 'infected', resource: 'files' });
      expect(detail.explanation.files[0].path).toBe(entry().path);
    });

    it("another host's agent cannot report entries for this host's tenant", async () => {
      await post(AGENT2, report('web02', 2, T0, [], { files: [entry({ state: 'deleted', state_at: new Date(T0 + 5000).toISOString() })] }));
      expect((await get(`/v1/quarantined-files/${ID}`)).json().state).toBe('quarantined');
    });

    it('restore: 202, served in the policy until the agent answers; a second request meanwhile is a 409', async () => {
      const res = await app.inject({ method: 'POST', url: `/v1/quarantined-files/${ID}/restore`, headers: bare(ADMIN) });
      expect(res.statusCode).toBe(202);
      const req = res.json();
      expect(req).toMatchObject({ action: 'restore', file: ID, tenant: 'alice', host: 'web01', state: 'pending', by: 'admin' });
      expect((await policy()).file_requests).toEqual([{ id: req.id, file: ID, action: 'restore', by: 'admin', created_at: req.created_at }]);
      const again = await app.inject({ method: 'DELETE', url: `/v1/quarantined-files/${ID}`, headers: bare(ADMIN) });
      expect(again.statusCode).toBe(409);
      expect(again.json().error).toBe('request_pending');
      // Another host's agent answering it changes nothing.
      await post(AGENT2, report('web02', 3, T0 + 1000, [], { file_acks: [{ request: req.id, state: 'done', at: new Date(T0 + 1000).toISOString() }] }));
      expect((await policy()).file_requests).toHaveLength(1);
      const restored = entry({ state: 'restored', state_at: new Date(T0 + 2000).toISOString() });
      await post(AGENT, report('web01', 2, T0 + 2000, [], { files: [restored], file_acks: [{ request: req.id, state: 'done', at: new Date(T0 + 2000).toISOString() }] }));
      expect((await policy()).file_requests).toBeUndefined();
      const f = (await get(`/v1/quarantined-files/${ID}`)).json();
      expect(f).toMatchObject({ state: 'restored', request: { id: req.id, state: 'done' } });
      const late = await app.inject({ method: 'DELETE', url: `/v1/quarantined-files/${ID}`, headers: bare(ADMIN) });
      expect(late.statusCode).toBe(409);
      expect(late.json().error).toBe('not_quarantined');
    });

    it('scan on demand reaches the policy; unknown files and tenants are 404s, a bad id a 400, agents get 403', async () => {
      const res = await app.inject({ method: 'POST', url: '/v1/tenants/alice/scan', headers: bare(ADMIN) });
      expect(res.statusCode).toBe(202);
      const bodied = await app.inject({ method: 'POST', url: '/v1/tenants/alice/scan', headers: auth(ADMIN), payload: '{"now":true}' });
      expect([bodied.statusCode, bodied.json().message]).toEqual([400, expect.stringContaining('no body')]);
      expect((await app.inject({ method: 'POST', url: '/v1/tenants/alice/scan', headers: auth(ADMIN), payload: '{}' })).statusCode).toBe(202);
      expect((await policy()).scan_requests).toEqual([expect.objectContaining({ id: res.json().id, tenant: 'alice' }), expect.objectContaining({ tenant: 'alice' })]);
      expect((await app.inject({ method: 'POST', url: '/v1/tenants/nobody/scan', headers: bare(ADMIN) })).statusCode).toBe(404);
      expect((await get('/v1/quarantined-files/no-such-file')).statusCode).toBe(404);
      expect((await get('/v1/quarantined-files/..%2Fetc')).statusCode).toBe(400);
      expect((await app.inject({ url: '/v1/quarantined-files', headers: auth(AGENT) })).statusCode).toBe(403);
      expect((await app.inject({ method: 'POST', url: `/v1/quarantined-files/${ID}/restore`, headers: bare(AGENT) })).statusCode).toBe(403);
    });

    it('retention drops restored and deleted files and answered requests past the span, keeping files still held', async () => {
      const ID2 = '0b7d3c9e-3f43-4c1e-9a55-5b8c1f2e7a02';
      await post(AGENT, report('web01', 3, T0 + 3000, [], { files: [entry({ id: ID2, path: '/home/alice/x.php' })] }));
      const del = (await app.inject({ method: 'DELETE', url: `/v1/quarantined-files/${ID2}`, headers: bare(ADMIN) })).json();
      // The agent could not delete it: the request is answered, the file still held.
      await post(AGENT, report('web01', 4, T0 + 4000, [], { file_acks: [{ request: del.id, state: 'failed', at: new Date(T0 + 4000).toISOString(), message: 'disk' }] }));
      const scans = (await policy()).scan_requests as Array<{ id: string }>;
      await post(AGENT, report('web01', 5, T0 + 5000, [], { file_acks: scans.map((s) => ({ request: s.id, state: 'done' as const, at: new Date(T0 + 5000).toISOString() })) }));
      const restoreReq = (await get(`/v1/quarantined-files/${ID}`)).json().request.id as string;
      // Within the span (730 days by default) nothing goes.
      await t.store.applyRetention(T0 + 700 * 24 * HOUR);
      expect((await get(`/v1/quarantined-files/${ID}`)).statusCode).toBe(200);
      expect(await t.store.getFileRequest(scans[0]!.id)).toMatchObject({ state: 'done' });
      await t.store.applyRetention(T0 + 800 * 24 * HOUR);
      expect((await get(`/v1/quarantined-files/${ID}`)).statusCode).toBe(404);
      expect(await t.store.getFileRequest(restoreReq)).toBeUndefined();
      const held = (await get(`/v1/quarantined-files/${ID2}`)).json();
      expect(held).toMatchObject({ state: 'quarantined', request: { id: del.id, state: 'failed' } });
      for (const s of scans) expect(await t.store.getFileRequest(s.id)).toBeUndefined();
    });
  });
});
