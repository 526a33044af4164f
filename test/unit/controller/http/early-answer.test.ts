// An answer that comes before the request's body has been read (413 on Content-Length, after a 100 Continue)
// must reach the client: the connection is closed with a FIN after the answer and what the client still sends
// is read and dropped (a lingering close), instead of a close with unread bytes, which makes the kernel reset
// the connection and can destroy the answer before the client reads it (the fuzz test saw EPIPE, no answer).
// Real HTTP on loopback, a raw client that sends as curl does for a large body.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { tempStore } from '../fixtures.js';

const ADMIN = 'admin-token-for-early-answers-01';

let app: App;
let port: number;
let t: ReturnType<typeof tempStore>;

beforeAll(async () => {
  t = tempStore();
  const tokens = new TokenRegistry();
  tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
  app = await buildApp({ store: t.store, tokens });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await app.close();
  await t.dispose();
});

/**
 * The client, in a process of its own (in this one, the server and the client would take turns on one event
 * loop and the client would never be caught writing): `n` POSTs whose whole body is handed to the socket after
 * the 100 Continue, as a client on a busy machine is still writing when the answer comes; per request a line:
 * the final status it read, else how the connection ended without one.
 */
const CLIENT = `
import { connect } from 'node:net';
const [port, token, path, size, n] = process.argv.slice(1);
const body = Buffer.alloc(Number(size), 'x');
const final = (text) => {
  while (/^HTTP\\/1\\.1 1\\d\\d/.test(text) && text.includes('\\r\\n\\r\\n')) text = text.slice(text.indexOf('\\r\\n\\r\\n') + 4);
  return /^HTTP\\/1\\.1 ([2-5]\\d\\d)/.exec(text)?.[1];
};
for (let i = 0; i < Number(n); i++) {
  console.log(await new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: Number(port) });
    let got = '';
    let sent = false;
    let how = 'no answer in 10 s';
    const timer = setTimeout(() => s.destroy(), 10000);
    s.on('connect', () => s.write('POST ' + path + ' HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\nAuthorization: Bearer ' + token +
      '\\r\\nContent-Type: application/json\\r\\nContent-Length: ' + body.length + '\\r\\nExpect: 100-continue\\r\\n\\r\\n'));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (!sent && got.startsWith('HTTP/1.1 100')) {
        sent = true;
        for (let at = 0; at < body.length; at += 65536) s.write(body.subarray(at, at + 65536));
      }
    });
    s.on('end', () => (how = 'closed without an answer'));
    s.on('error', (e) => (how = (e.code || e.message) + ' without an answer'));
    s.on('close', () => { clearTimeout(timer); resolve(final(got) ?? how); });
  }));
}
`;

/** Run the client (asynchronously: the server answers on this process's event loop). */
async function posts(path: string, size: number, n: number): Promise<string[]> {
  const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CLIENT, String(port), ADMIN, path, String(size), String(n)], { encoding: 'utf8', timeout: 120_000 });
  return r.stdout.trim().split('\n');
}

describe('an answer before the body', () => {
  it('413 on a body over the limit reaches the client every time, however much of the body it still sends', async () => {
    const answers = await posts('/v1/tenants/alice/links', 8 * 1024 * 1024, 25);
    expect(answers).toEqual(answers.map(() => '413'));
  });

  it('a body under the limit on the same route is read and answered (the baseline)', async () => {
    expect((await posts('/v1/tenants/alice/links', 64 * 1024, 1))[0]).toMatch(/^4\d\d$/);
  });
});
