// The agent's connection to the controller over real HTTPS servers on loopback with real certificates (openssl
// in a temp dir): a report goes out with the test CA in controller.ca_file and leaves the spool; a certificate
// from another CA, an unknown CA without ca_file, a name the certificate does not list, TLS to a plain port
// and plain HTTP to a TLS port are refused in words that name the URL and what to do, and the report stays
// spooled. Plain HTTP across the network is a warning at start, never a refusal.
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../../agent/config.js';
import { ControllerHttp, isLoopbackHost, plainHttpWarning } from '../../../../agent/transport/http-client.js';
import { ControllerClient } from '../../../../agent/transport/reporter.js';
import { Spool } from '../../../../agent/transport/spool.js';
import { describeWith, missing } from '../../../helpers/env.js';
import { HAS_OPENSSL, makeCa, makeServerCert, type TestCa, type TestCert } from '../../../helpers/tls.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-agent-tls-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'agent-secret-token\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { log: pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

const spools: Spool[] = [];
afterAll(() => {
  for (const s of spools) s.close();
});

function spoolWithReport(): Spool {
  const spool = new Spool(mkdtempSync(join(dir, 's-')), {});
  spools.push(spool);
  spool.enqueue((seq) => ({ version: 1, host: 'web01', seq, at: new Date().toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] }));
  return spool;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const accept: Handler = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.statusCode = 202;
    res.setHeader('content-type', 'application/json');
    res.end('{"accepted":0,"duplicate":false,"seq":1}');
  });
};

async function listen(server: HttpServer): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return String((server.address() as { port: number }).port);
}

describe('plain HTTP', () => {
  it.each([
    ['localhost', true],
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['[::1]', true],
    ['10.0.0.5', false],
    ['ctl.example.com', false],
    ['[fe80::1]', false],
  ])('isLoopbackHost(%s) is %s', (host, loopback) => expect(isLoopbackHost(host)).toBe(loopback));

  it('to an address that is not loopback is a warning at start (silenced by controller.insecure), never a refusal', () => {
    expect(plainHttpWarning({ url: 'http://127.0.0.1:8640', timeoutMs: 1000 })).toBeUndefined();
    expect(plainHttpWarning({ url: 'https://ctl.example:8640', timeoutMs: 1000 })).toBeUndefined();
    expect(plainHttpWarning({ url: 'http://ctl.example:8640', timeoutMs: 1000, insecure: true })).toBeUndefined();
    const w = plainHttpWarning({ url: 'http://ctl.example:8640', timeoutMs: 1000 });
    expect(w).toMatch(/^controller\.url http:\/\/ctl\.example:8640 is plain HTTP to ctl\.example, which is not loopback: .* unencrypted\. .*controller\.insecure: true silences this warning$/);

    const { log, lines } = capture();
    new ControllerHttp({ url: 'http://10.9.8.7:8640', timeoutMs: 1000 }, log).close();
    new ControllerHttp({ url: 'http://10.9.8.7:8640', timeoutMs: 1000, insecure: true }, log).close();
    new ControllerHttp({ url: 'http://127.0.0.1:8640', timeoutMs: 1000 }, log).close();
    expect(lines.map((l) => [l.level, l.url])).toEqual([[40, 'http://10.9.8.7:8640']]);
  });

  it('config: controller.ca_file and controller.insecure are read; ca_file wants https', () => {
    const c = readAgentConfig({ host: 'web01', controller: { url: 'https://ctl.example:8640', ca_file: '/etc/hostwarden/ca.pem', insecure: true } });
    expect(c.controller).toMatchObject({ url: 'https://ctl.example:8640', caFile: '/etc/hostwarden/ca.pem', insecure: true });
    expect(() => readAgentConfig({ host: 'web01', controller: { insecure: 'yes' } })).toThrow(/config key "controller.insecure": must be true or false/);
    expect(() => new ControllerHttp({ url: 'http://127.0.0.1:8640', timeoutMs: 1000, caFile: '/etc/hostwarden/ca.pem' }, pino({ level: 'silent' }))).toThrow(
      /config key "controller.ca_file": is only used with an https:\/\/ controller.url/,
    );
  });
});

describeWith(missing([[HAS_OPENSSL, 'needs openssl (test certificates)']]), 'HTTPS to the controller', () => {
  let ca: TestCa;
  let good: TestCert;
  let foreign: TestCert;
  let misnamed: TestCert;
  const servers: HttpServer[] = [];

  beforeAll(() => {
    ca = makeCa(dir, 'test');
    good = makeServerCert(dir, ca, 'controller');
    foreign = makeServerCert(dir, makeCa(dir, 'other'), 'foreign');
    misnamed = makeServerCert(dir, ca, 'misnamed', { san: 'DNS:ctl.example.com' });
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  async function https(cert: TestCert, handler: Handler = accept): Promise<{ url: string; connections: () => number }> {
    let n = 0;
    const server = createHttpsServer({ cert: cert.cert, key: cert.key }, handler);
    server.on('secureConnection', () => n++);
    servers.push(server);
    return { url: `https://127.0.0.1:${await listen(server)}`, connections: () => n };
  }

  it('a report goes over HTTPS with the test CA in controller.ca_file and leaves the spool; one kept-alive connection', async () => {
    const srv = await https(good);
    const spool = spoolWithReport();
    spool.enqueue((seq) => ({ version: 1, host: 'web01', seq, at: new Date().toISOString(), interval: 5, host_stats: { cores: 1, memory_bytes: 1 }, samples: [] }));
    const client = new ControllerClient({ url: srv.url, tokenFile, timeoutMs: 5000, caFile: ca.certFile }, 'web01', spool, pino({ level: 'silent' }));
    expect(await client.sendPending()).toEqual({ sent: 2, buried: 0, pending: 0 });
    expect(srv.connections()).toBe(1);
  });

  it('a certificate from another CA is refused, named in an error log, and the report stays in the spool', async () => {
    const srv = await https(foreign);
    const spool = spoolWithReport();
    const { log, lines } = capture();
    const client = new ControllerClient({ url: srv.url, tokenFile, timeoutMs: 5000, caFile: ca.certFile }, 'web01', spool, log);
    const r = await client.sendPending();
    expect(r.error).toBe(
      `certificate of the controller at ${srv.url} refused: signed by an unknown authority (UNABLE_TO_VERIFY_LEAF_SIGNATURE): it is not signed by a CA in controller.ca_file (${ca.certFile})`,
    );
    expect(r).toMatchObject({ sent: 0, pending: 1 });
    expect(spool.size()).toBe(1);
    await client.sendPending();
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(1); // the same refusal again is not a second error line
    expect(errors[0]).toMatchObject({ url: srv.url, msg: r.error });
  });

  it('without controller.ca_file the system store decides: a private CA is refused with the key to set', async () => {
    const srv = await https(good);
    const client = new ControllerClient({ url: srv.url, tokenFile, timeoutMs: 5000 }, 'web01', spoolWithReport(), pino({ level: 'silent' }));
    const r = await client.sendPending();
    expect(r.error).toMatch(new RegExp(`^certificate of the controller at ${srv.url} refused: signed by an unknown authority \\(\\w+\\): set controller.ca_file to the CA that signed it$`));
    expect(r.pending).toBe(1);
  });

  it('a certificate that does not name the host of controller.url is refused', async () => {
    const srv = await https(misnamed);
    const client = new ControllerClient({ url: srv.url, tokenFile, timeoutMs: 5000, caFile: ca.certFile }, 'web01', spoolWithReport(), pino({ level: 'silent' }));
    const r = await client.sendPending();
    expect(r.error).toMatch(/^certificate of the controller at https:\/\/127\.0\.0\.1:\d+ refused: it is not valid for 127\.0\.0\.1 \(.*\): use a name or address the certificate lists/);
    expect(r.pending).toBe(1);
  });

  it('https:// to a plain HTTP port, and http:// to a TLS port, say which side speaks what', async () => {
    const plain = createHttpServer(accept);
    servers.push(plain);
    const port = await listen(plain);
    const tlsToPlain = new ControllerClient({ url: `https://127.0.0.1:${port}`, tokenFile, timeoutMs: 5000, caFile: ca.certFile }, 'web01', spoolWithReport(), pino({ level: 'silent' }));
    expect((await tlsToPlain.sendPending()).error).toMatch(/^TLS handshake with the controller at https:\/\/127\.0\.0\.1:\d+ failed \(wrong version number\): does it serve https on that port\? \(plain HTTP wants an http:\/\/ controller.url\)$/);

    const srv = await https(good);
    const plainToTls = new ControllerClient({ url: srv.url.replace('https:', 'http:'), tokenFile, timeoutMs: 5000 }, 'web01', spoolWithReport(), pino({ level: 'silent' }));
    const r = await plainToTls.sendPending();
    expect(r.error).toMatch(/^cannot reach controller at http:\/\/127\.0\.0\.1:\d+: .*\(if the controller serves TLS, use an https:\/\/ controller.url\)$/);
    expect(r.pending).toBe(1);
  });

  it('a controller that does not answer in time', async () => {
    const srv = await https(good, () => {
      /* never answers */
    });
    const client = new ControllerClient({ url: srv.url, tokenFile, timeoutMs: 300, caFile: ca.certFile }, 'web01', spoolWithReport(), pino({ level: 'silent' }));
    expect(await client.sendPending()).toMatchObject({ sent: 0, pending: 1, error: `controller at ${srv.url} did not answer in time` });
  });

  it('controller.ca_file that cannot be used is a config error naming the key', () => {
    const silent = pino({ level: 'silent' });
    const notPem = join(dir, 'not-a-ca.pem');
    writeFileSync(notPem, 'hello\n');
    expect(() => new ControllerHttp({ url: 'https://127.0.0.1:1', timeoutMs: 1000, caFile: join(dir, 'nope.pem') }, silent)).toThrow(/config key "controller.ca_file": cannot read .*nope\.pem/);
    expect(() => new ControllerHttp({ url: 'https://127.0.0.1:1', timeoutMs: 1000, caFile: notPem }, silent)).toThrow(/config key "controller.ca_file": .*not-a-ca\.pem holds no PEM certificate/);
  });
});
