// The controller's TLS: the pair checked at start (errors name the key), served by startController on a real
// port, and rotated without a restart: reload() and the directory watcher give new connections the new
// certificate while connections already open keep working; a bad new pair is refused and the old one kept.
// Certificates are real, made with openssl in a temp dir.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseControllerConfig } from '../../../controller/config.js';
import { startController, type RunningController } from '../../../controller/server.js';
import { readTlsPair } from '../../../controller/tls.js';
import { describeWith, missing } from '../../helpers/env.js';
import { HAS_OPENSSL, makeCa, makeServerCert, type TestCa, type TestCert } from '../../helpers/tls.js';

/** The SHA-256 fingerprint of the certificate a new TLS connection to 127.0.0.1:port is given. */
async function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const cert: PeerCertificate = s.getPeerCertificate();
      s.end();
      resolve(cert.fingerprint256);
    });
    s.once('error', reject);
  });
}

/** GET over a given keep-alive agent; which local port the connection used tells whether it was reused. */
function get(agent: https.Agent, url: string, ca: string): Promise<{ status: number; localPort: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent, ca }, (res) => {
      const localPort = res.socket.localPort ?? 0; // the socket goes back to the pool at the end
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, localPort, body }));
    });
    req.once('error', reject);
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeWith(missing([[HAS_OPENSSL, 'needs openssl (test certificates)']]), 'controller TLS', () => {
  let dir: string;
  let ca: TestCa;
  let first: TestCert;
  let second: TestCert;
  let third: TestCert;
  let other: TestCert;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hw-tls-'));
    ca = makeCa(dir, 'test');
    first = makeServerCert(dir, ca, 'first');
    second = makeServerCert(dir, ca, 'second');
    third = makeServerCert(dir, ca, 'third');
    other = makeServerCert(dir, makeCa(dir, 'other'), 'other');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A tls directory of its own holding copies of `cert`, for one test. */
  function tlsDir(name: string, cert: TestCert): { certFile: string; keyFile: string } {
    const d = join(dir, name);
    mkdirSync(d);
    copyFileSync(cert.certFile, join(d, 'cert.pem'));
    copyFileSync(cert.keyFile, join(d, 'key.pem'));
    return { certFile: join(d, 'cert.pem'), keyFile: join(d, 'key.pem') };
  }

  it('config: both keys required, unknown keys refused', () => {
    expect(() => parseControllerConfig({ tls: { cert_file: '/x.pem' } })).toThrow(/config key "tls.key_file": required when tls is given/);
    expect(() => parseControllerConfig({ tls: { key_file: '/x.pem' } })).toThrow(/config key "tls.cert_file": required/);
    expect(() => parseControllerConfig({ tls: { cert_file: '/a', key_file: '/b', ca_file: '/c' } })).toThrow(/config key "tls.ca_file": unknown key/);
    expect(parseControllerConfig({}).tls).toBeUndefined();
    expect(parseControllerConfig({ tls: { cert_file: '/a', key_file: '/b' } }).tls).toEqual({ certFile: '/a', keyFile: '/b' });
  });

  it('a pair that is not one is a config error naming the key', () => {
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const cases: Array<[{ certFile: string; keyFile: string }, RegExp]> = [
      [{ certFile: join(dir, 'missing.pem'), keyFile: first.keyFile }, /config key "tls.cert_file": cannot read .*missing\.pem: ENOENT/],
      [{ certFile: first.certFile, keyFile: join(dir, 'missing.key') }, /config key "tls.key_file": cannot read .*missing\.key/],
      [{ certFile: garbage, keyFile: first.keyFile }, /config key "tls.cert_file": .*garbage\.pem holds no PEM certificate/],
      [{ certFile: first.certFile, keyFile: garbage }, /config key "tls.key_file": .*garbage\.pem holds no usable private key/],
      [{ certFile: first.certFile, keyFile: second.keyFile }, /config key "tls.key_file": the key in .*second\.key does not belong to the certificate in tls.cert_file/],
    ];
    for (const [cfg, message] of cases) expect(() => readTlsPair(cfg)).toThrow(message);
    expect(readTlsPair({ certFile: first.certFile, keyFile: first.keyFile }).fingerprint256).toBe(first.fingerprint256);
  });

  async function start(name: string, files: { certFile: string; keyFile: string }, logged: string[] = []): Promise<RunningController> {
    const config = parseControllerConfig({
      listen: '127.0.0.1:0',
      state_dir: join(dir, `${name}-state`),
      admin_token_file: join(dir, `${name}-admin.token`),
      ingest: { parser_threads: 0 },
      tls: { cert_file: files.certFile, key_file: files.keyFile },
    });
    const log = pino({ level: 'info' }, { write: (line: string) => logged.push(line) });
    return startController(config, { log });
  }

  it('startController refuses a mismatched pair before it listens', async () => {
    const files = tlsDir('mismatch', first);
    copyFileSync(second.keyFile, files.keyFile);
    await expect(start('mismatch', files)).rejects.toThrow(/config key "tls.key_file": the key in .* does not belong/);
  });

  it('serves HTTPS; reload() and a change of the files rotate the certificate for new connections, open ones keep working; a bad pair is kept out', async () => {
    const files = tlsDir('rotate', first);
    const logged: string[] = [];
    const c = await start('rotate', files, logged);
    try {
      expect(c.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const port = Number(new URL(c.url).port);
      expect(await servedFingerprint(port, ca.pem)).toBe(first.fingerprint256);

      const pool = new https.Agent({ keepAlive: true, maxSockets: 1 });
      const before = await get(pool, `${c.url}/healthz`, ca.pem);
      expect(before.status).toBe(200);

      // Rotation by a signal's reload(): the files replaced in place.
      copyFileSync(second.certFile, files.certFile);
      copyFileSync(second.keyFile, files.keyFile);
      expect(c.tls!.reload('SIGHUP')).toEqual({ ok: true, changed: true });
      expect(await servedFingerprint(port, ca.pem)).toBe(second.fingerprint256);
      const after = await get(pool, `${c.url}/healthz`, ca.pem);
      expect(after).toMatchObject({ status: 200, localPort: before.localPort }); // the same connection, still served

      // A bad pair (the key of another certificate): refused, the certificate in use stays.
      copyFileSync(other.keyFile, files.keyFile);
      const bad = c.tls!.reload('SIGHUP');
      expect(bad).toMatchObject({ ok: false, error: expect.stringMatching(/tls.key_file.*does not belong/) });
      expect(await servedFingerprint(port, ca.pem)).toBe(second.fingerprint256);
      expect(logged.some((l) => /TLS certificate not reloaded: kept the one in use/.test(l) && l.includes(second.fingerprint256))).toBe(true);

      // The watcher: a new pair written over the files (a rename, as tools do) is picked up without a signal.
      copyFileSync(third.certFile, `${files.certFile}.new`);
      copyFileSync(third.keyFile, `${files.keyFile}.new`);
      renameSync(`${files.keyFile}.new`, files.keyFile);
      renameSync(`${files.certFile}.new`, files.certFile);
      await until('the third certificate served', async () => ((await servedFingerprint(port, ca.pem)) === third.fingerprint256 ? true : undefined));
      expect((await get(pool, `${c.url}/healthz`, ca.pem)).localPort).toBe(before.localPort);
      expect(logged.some((l) => /TLS certificate reloaded/.test(l) && l.includes('"reason":"file change"'))).toBe(true);

      // Metrics: the expiry of the certificate in use, the reloads by result.
      const admin = readFileSync(join(dir, 'rotate-admin.token'), 'utf8').trim();
      const metrics = await new Promise<string>((resolve, reject) => {
        https.get(`${c.url}/metrics`, { ca: ca.pem, headers: { authorization: `Bearer ${admin}` } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        }).once('error', reject);
      });
      expect(metrics).toMatch(/^hostwarden_tls_certificate_expiry_timestamp_seconds \d{10}$/m);
      expect(metrics).toMatch(/^hostwarden_tls_reloads_total\{result="ok"\} 2$/m);
      expect(metrics).toMatch(/^hostwarden_tls_reloads_total\{result="failed"\} [1-9]\d*$/m);
      pool.destroy();
    } finally {
      await c.close();
    }
  });

  it('a certificate from another CA is refused by a client that trusts only the test CA', async () => {
    const c = await start('other', tlsDir('other-ca', other));
    try {
      await expect(servedFingerprint(Number(new URL(c.url).port), ca.pem)).rejects.toThrow(/unable to (get local issuer|verify)/);
    } finally {
      await c.close();
    }
  });
});
