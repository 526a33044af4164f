// hostwardenctl over HTTPS against real TLS servers on 127.0.0.1 with certificates made by openssl: verified
// against --ca-file (or ca_file in ctl.yaml, or HOSTWARDEN_CA_FILE) when given, else the system's CA store;
// a certificate it cannot trust is exit 1 with a sentence that says so and how to fix it, and the token is
// never sent to such a server.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../../../ctl/main.js';
import { describeWith, hasCommand, missing } from '../../helpers/env.js';
import { makeTestCertificates, type TestCertificates } from './test-ca.js';

describeWith(missing([[hasCommand('openssl'), 'needs openssl']]), 'hostwardenctl over https', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hw-ctl-tls-'));
  const token = join(dir, 'admin.token');
  writeFileSync(token, 'tok-tls\n');
  let certs: TestCertificates;
  const servers: Server[] = [];
  const seen: string[] = [];
  let signed = '';
  let selfSigned = '';
  let plain = '';

  const answer = (name: string) => (req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${name} ${req.method} ${req.url} ${req.headers.authorization}`);
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"hosts":[]}');
  };
  async function listen(server: Server, scheme: string): Promise<string> {
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  beforeAll(async () => {
    certs = makeTestCertificates(dir);
    signed = await listen(createHttpsServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, answer('signed')), 'https');
    selfSigned = await listen(createHttpsServer({ cert: readFileSync(certs.selfSignedCert), key: readFileSync(certs.selfSignedKey) }, answer('self')), 'https');
    plain = await listen(createHttpServer(answer('plain')), 'https');
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await runCli([...argv, '--token-file', token, '--timeout', '10s'], { env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), defaultConfig: join(dir, 'absent.yaml') });
    return { code, stdout, stderr };
  }
  const untrusted = (url: string, against: string, code: string) =>
    `hostwardenctl: the certificate of the controller at ${url} is not trusted: it is not signed by ${against} (${code}). ` +
    'Give the CA certificate that signed it with --ca-file FILE (or ca_file in /etc/hostwarden/ctl.yaml, or HOSTWARDEN_CA_FILE)\n';

  it('works with --ca-file naming the CA that signed the certificate', async () => {
    const before = seen.length;
    expect(await run(['hosts', '--url', signed, '--ca-file', certs.ca])).toEqual({ code: 0, stdout: 'no hosts yet: none has reported and no tenant is managed on one\n', stderr: '' });
    expect(seen.slice(before)).toEqual(['signed GET /v1/hosts Bearer tok-tls']);
  });

  it('takes the CA from ctl.yaml (ca_file) or HOSTWARDEN_CA_FILE too; the flag wins over both', async () => {
    const yaml = join(dir, 'ctl.yaml');
    writeFileSync(yaml, `url: ${signed}\nca_file: ${certs.ca}\n`);
    expect((await run(['hosts', '--config', yaml])).code).toBe(0);
    expect((await run(['hosts', '--url', signed], { HOSTWARDEN_CA_FILE: certs.ca })).code).toBe(0);
    expect((await run(['hosts', '--url', signed, '--ca-file', certs.ca], { HOSTWARDEN_CA_FILE: certs.otherCa })).code).toBe(0);
    writeFileSync(yaml, `url: ${signed}\nca_file: ${certs.otherCa}\n`);
    expect(await run(['hosts', '--config', yaml])).toEqual({ code: 1, stdout: '', stderr: untrusted(signed, `the CA in ${certs.otherCa} (from ${yaml} ca_file)`, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') });
  });

  it('refuses the certificate without a CA that signed it (exit 1), saying so and how to fix it, and sends no token', async () => {
    const before = seen.length;
    expect(await run(['hosts', '--url', signed])).toEqual({ code: 1, stdout: '', stderr: untrusted(signed, "any CA of the system's store", 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') });
    expect(await run(['hosts', '--url', signed, '--ca-file', certs.otherCa])).toEqual({
      code: 1,
      stdout: '',
      stderr: untrusted(signed, `the CA in ${certs.otherCa} (from --ca-file)`, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
    });
    expect(await run(['hosts', '--url', selfSigned])).toEqual({ code: 1, stdout: '', stderr: untrusted(selfSigned, "any CA of the system's store", 'DEPTH_ZERO_SELF_SIGNED_CERT') });
    expect(seen.slice(before)).toEqual([]);
  });

  it('trusts a self-signed certificate given as the CA file', async () => {
    expect((await run(['hosts', '--url', selfSigned, '--ca-file', certs.selfSignedCert])).code).toBe(0);
  });

  it('refuses a certificate for another name: the URL must name what the certificate holds', async () => {
    const url = signed.replace('127.0.0.1', 'localhost');
    const r = await run(['hosts', '--url', url, '--ca-file', certs.ca]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^hostwardenctl: the certificate of the controller at ${url} is not valid for localhost \\(.*\\): use a --url with a name the certificate holds\\n$`));
  });

  it('says when https meets a plain HTTP server, and http a TLS one', async () => {
    const r = await run(['hosts', '--url', plain]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^hostwardenctl: cannot reach the controller at ${plain}: no TLS there \\(.*\\); is the controller served over http rather than https\\?\\n$`));
    const http = signed.replace('https:', 'http:');
    const r2 = await run(['hosts', '--url', http]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`hostwardenctl: cannot reach the controller at ${http}: `);
    expect(r2.stderr).toContain('http or https right?');
  });

  it('refuses a CA file it cannot use with exit 2, naming it and where it came from', async () => {
    const absent = join(dir, 'absent.pem');
    expect(await run(['hosts', '--url', signed, '--ca-file', absent])).toEqual({ code: 2, stdout: '', stderr: `hostwardenctl: cannot read the CA file ${absent} (from --ca-file): it does not exist\n` });
    const notPem = join(dir, 'not.pem');
    writeFileSync(notPem, 'hello\n');
    expect(await run(['hosts', '--url', signed], { HOSTWARDEN_CA_FILE: notPem })).toEqual({
      code: 2,
      stdout: '',
      stderr: `hostwardenctl: the CA file ${notPem} (from HOSTWARDEN_CA_FILE) holds no PEM certificate ("-----BEGIN CERTIFICATE-----")\n`,
    });
    const yaml = join(dir, 'empty-ca.yaml');
    writeFileSync(yaml, 'ca_file: ""\n');
    const r = await run(['hosts', '--config', yaml]);
    expect([r.code, r.stderr]).toEqual([2, `hostwardenctl: ${yaml}: config key "ca_file": must not be empty (leave the key out for the system's CA store)\n`]);
  });

  it('needs no CA file for plain http: a ca_file of ctl.yaml is not read then', async () => {
    const yaml = join(dir, 'ca-http.yaml');
    writeFileSync(yaml, `url: ${plain.replace('https:', 'http:')}\nca_file: ${join(dir, 'absent.pem')}\n`);
    expect((await run(['hosts', '--config', yaml])).code).toBe(0);
  });
});
