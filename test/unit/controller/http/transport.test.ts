// How each host's agent reaches the controller, shown in GET /v1/hosts and GET /v1/hosts/{host}: through
// app.inject() with the peer address of a request set, on a real SQLite store.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { isLoopbackAddress, TransportTracker } from '../../../../controller/http/transport.js';
import { report, tempStore } from '../fixtures.js';

const ADMIN = 'admin-token-for-transport-01';
const AGENT1 = 'agent-token-web01-transport1';
const AGENT2 = 'agent-token-web02-transport2';
const auth = (t: string) => ({ authorization: `Bearer ${t}` });

let app: App;
let t: ReturnType<typeof tempStore>;
const logged: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  t = tempStore();
  const tokens = new TokenRegistry();
  tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
  tokens.addToken(AGENT1, { kind: 'agent', name: 'agent:web01', host: 'web01' });
  tokens.addToken(AGENT2, { kind: 'agent', name: 'agent:web02', host: 'web02' });
  const log = pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line) as Record<string, unknown>) });
  app = await buildApp({ store: t.store, tokens, log });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await t.dispose();
});

async function post(token: string, host: string, seq: number, remoteAddress: string): Promise<number> {
  const res = await app.inject({ method: 'POST', url: '/v1/reports', headers: { ...auth(token), 'content-type': 'application/json' }, payload: JSON.stringify(report(host, seq, Date.now() - 10_000, [])), remoteAddress });
  return res.statusCode;
}

async function host(name: string): Promise<Record<string, unknown>> {
  const res = await app.inject({ method: 'GET', url: `/v1/hosts/${name}`, headers: auth(ADMIN) });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe('transport of a host', () => {
  it('is null until the host reports, http from loopback is not insecure, http from across the network is', async () => {
    expect(await post(AGENT1, 'web01', 1, '127.0.0.1')).toBe(202);
    expect(await host('web01')).toMatchObject({ host: 'web01', transport: 'http', insecure_transport: false, transport_warning: null });

    expect(await post(AGENT2, 'web02', 1, '10.1.2.3')).toBe(202);
    const web02 = await host('web02');
    expect(web02).toMatchObject({ transport: 'http', insecure_transport: true });
    expect(web02.transport_warning).toMatch(/plain HTTP from 10\.1\.2\.3: its token and reports cross the network unencrypted; give the controller tls/);
    const warned = logged.filter((l) => l.host === 'web02' && l.level === 40);
    expect(warned).toHaveLength(1);

    // The list carries the same fields; a repeat from the same peer logs nothing new.
    expect(await post(AGENT2, 'web02', 2, '10.1.2.3')).toBe(202);
    expect(logged.filter((l) => l.host === 'web02' && l.level === 40)).toHaveLength(1);
    const list = (await app.inject({ method: 'GET', url: '/v1/hosts', headers: auth(ADMIN) })).json() as { hosts: Array<Record<string, unknown>> };
    expect(list.hosts.map((h) => [h.host, h.transport, h.insecure_transport])).toEqual([
      ['web01', 'http', false],
      ['web02', 'http', true],
    ]);

    // A host that moved to loopback (or TLS) is not flagged any more.
    expect(await post(AGENT2, 'web02', 3, '::ffff:127.0.0.1')).toBe(202);
    expect(await host('web02')).toMatchObject({ insecure_transport: false, transport_warning: null });
  });

  it('notes a refused report too (the token crossed the network all the same), but not a request without a valid token', async () => {
    const tracker = new TransportTracker();
    expect(tracker.fields('web09')).toEqual({ transport: null, insecure_transport: false, transport_warning: null });
    const res = await app.inject({ method: 'POST', url: '/v1/reports', headers: { ...auth(AGENT1), 'content-type': 'application/json' }, payload: '{"bad":', remoteAddress: '192.0.2.7' });
    expect(res.statusCode).toBe(400);
    expect(await host('web01')).toMatchObject({ insecure_transport: true });
    const anonymous = await app.inject({ method: 'POST', url: '/v1/reports', headers: { ...auth('not-a-token'), 'content-type': 'application/json' }, payload: '{}', remoteAddress: '192.0.2.8' });
    expect(anonymous.statusCode).toBe(401);
    expect((await host('web01')).transport_warning).toMatch(/from 192\.0\.2\.7/);
  });

  it('the OpenAPI document declares the fields', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { components: { schemas: Record<string, unknown> }; paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }> }>> };
    const props = doc.paths['/v1/hosts/{host}']!.get!.responses['200']!.content['application/json']!.schema.properties!;
    expect(Object.keys(props)).toEqual(expect.arrayContaining(['transport', 'insecure_transport', 'transport_warning']));
  });

  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['128.0.0.1', false],
    ['fe80::1', false],
    [undefined, false],
  ])('isLoopbackAddress(%s) is %s', (address, loopback) => {
    expect(isLoopbackAddress(address)).toBe(loopback);
  });
});
