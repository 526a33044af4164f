// TLS between the built agent and the built controller, with real certificates (openssl in a temp dir: a test
// CA with two server certificates for 127.0.0.1/localhost, and a second CA):
// - an agent (`hostwarden-agent --once`) reports over HTTPS with the test CA in controller.ca_file, and the
//   controller stores it and shows the host's transport as https;
// - an agent trusting only the other CA refuses the controller's certificate with a logged error naming the
//   URL and the reason, exits 1, and keeps the report in its spool (delivered once it trusts the right CA);
// - rotation: the files replaced and SIGHUP sent, a new connection sees the new certificate (fingerprint) while
//   a connection opened before keeps being served; a change of the files alone is picked up too; a bad pair
//   is logged and the old certificate kept; at start, a bad pair is exit 2 naming the key;
// - plain HTTP to an address that is not loopback works, is a warning at every agent start (silenced by
//   controller.insecure) and shows as insecure_transport in GET /v1/hosts/{host}: the controller runs in a
//   network namespace the test makes (test/helpers/netns.ts), the agent reaches it over the namespace's veth
//   pair, so no packet goes anywhere but loopback and that pair.
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import { Spool } from '../../agent/transport/spool.js';
import { describeWith, hasCommand, missing, needRoot } from '../helpers/env.js';
import { createTestNetns, netnsLeftovers, startDaemonInNetns, type TestNetns } from '../helpers/netns.js';
import { Cleanup, listeningUrl, ROOT, runProgram, startDaemon, tempDir, uniq, waitFor, writeToken, type Daemon } from '../helpers/system.js';
import { HAS_OPENSSL, makeCa, makeServerCert, type TestCa, type TestCert } from '../helpers/tls.js';

const CONTROLLER = 'controller/bin/hostwarden-controller.js';
const AGENT = 'agent/bin/hostwarden-agent.js';
const built = existsSync(join(ROOT, 'dist', CONTROLLER)) && existsSync(join(ROOT, 'dist', AGENT));

function fingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const f = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(f);
    });
    s.once('error', reject);
  });
}

function request(url: string, opts: { ca?: string; agent?: https.Agent; token?: string } = {}): Promise<{ status: number; body: Record<string, unknown>; localPort: number }> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, { ...(opts.ca ? { ca: opts.ca } : {}), ...(opts.agent ? { agent: opts.agent } : {}), headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} }, (res) => {
      const localPort = res.socket.localPort ?? 0;
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || 'null') as Record<string, unknown>, localPort }));
    });
    req.once('error', reject);
  });
}

describeWith(missing([needRoot, [HAS_OPENSSL, 'needs openssl (test certificates)'], [built, 'needs a build (npx tsc -b)']]), 'TLS between agent and controller', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let ca: TestCa;
  let other: TestCa;
  let first: TestCert;
  let second: TestCert;
  let foreign: TestCert;
  let certFile: string;
  let keyFile: string;
  let port: number;
  let url: string;
  let admin: string;
  let controller: Daemon;
  const parent = uniq('hostwarden-tls');

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-tls-system-');
    ca = makeCa(dir, 'test');
    other = makeCa(dir, 'other');
    first = makeServerCert(dir, ca, 'first');
    second = makeServerCert(dir, ca, 'second');
    foreign = makeServerCert(dir, other, 'foreign');
    certFile = join(dir, 'cert.pem');
    keyFile = join(dir, 'key.pem');
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    cleanup.add(`remove cgroups under ${parent}`, () => {
      const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
      for (const t of d.list()) d.remove(t, { kill: true });
      d.teardown();
    });
    admin = writeToken(join(dir, 'admin.token'));
    for (const h of ['web01', 'web02']) writeToken(join(dir, `${h}.token`));
    writeFileSync(
      join(dir, 'controller.yaml'),
      [
        'listen: 127.0.0.1:0',
        `tls: { cert_file: ${certFile}, key_file: ${keyFile} }`,
        `state_dir: ${join(dir, 'controller')}`,
        `admin_token_file: ${join(dir, 'admin.token')}`,
        `agents: [ { host: web01, token_file: ${join(dir, 'web01.token')} }, { host: web02, token_file: ${join(dir, 'web02.token')} } ]`,
        'ingest: { parser_threads: 0 }',
        'log_level: info',
        '',
      ].join('\n'),
    );
    controller = startDaemon(cleanup, CONTROLLER, ['--config', join(dir, 'controller.yaml')]);
    url = await listeningUrl(controller);
    port = Number(new URL(url).port);
    await waitFor('controller /healthz over https', async () => (await request(`${url}/healthz`, { ca: ca.pem })).status === 200, 20_000).catch((err) => {
      throw new Error(`${(err as Error).message}\ncontroller output:\n${controller.output()}`);
    });
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  /** An agent.yaml for `host` reporting to `controllerUrl` (the state dir is the host's own). */
  function agentConfig(host: string, controllerLine: string): string {
    const file = join(dir, `${host}-agent.yaml`);
    writeFileSync(
      file,
      [`host: ${host}`, 'interval: 500ms', `state_dir: ${join(dir, `agent-${host}`)}`, `controller: ${controllerLine}`, `cgroup: { parent: ${parent} }`, 'bandwidth: { enabled: false }', 'inodes: { enabled: false }', 'log_level: warn', ''].join('\n'),
    );
    return file;
  }

  const hostDetail = async (host: string) => (await request(`${url}/v1/hosts/${host}`, { ca: ca.pem, token: admin })).body;

  function spooled(host: string): number {
    const spool = new Spool(join(dir, `agent-${host}`));
    try {
      return spool.size();
    } finally {
      spool.close();
    }
  }

  it('an agent reports over HTTPS with the test CA in controller.ca_file; the controller stores it', async () => {
    const config = agentConfig('web01', `{ url: "${url}", token_file: ${join(dir, 'web01.token')}, ca_file: ${ca.certFile} }`);
    const r = runProgram(AGENT, ['--config', config, '--once']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/plain HTTP/);
    const host = await hostDetail('web01');
    expect(host).toMatchObject({ host: 'web01', transport: 'https', insecure_transport: false, transport_warning: null });
    expect(host.last_seq).toEqual(expect.any(Number));
    expect(spooled('web01')).toBe(0);
  });

  it('a certificate from another CA is refused: a logged error naming the URL and the reason, exit 1, the report kept in the spool', async () => {
    const refusing = agentConfig('web02', `{ url: "${url}", token_file: ${join(dir, 'web02.token')}, ca_file: ${other.certFile} }`);
    const r = runProgram(AGENT, ['--config', refusing, '--once']);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const error = lines.find((l) => l.level === 'error');
    expect(error?.msg).toBe(`certificate of the controller at ${url} refused: signed by an unknown authority (UNABLE_TO_VERIFY_LEAF_SIGNATURE): it is not signed by a CA in controller.ca_file (${other.certFile})`);
    expect(lines.some((l) => l.level === 'warn' && l.msg === 'report not delivered; kept in the spool')).toBe(true);
    expect(spooled('web02')).toBe(1);
    expect((await hostDetail('web02')).last_seq ?? null).toBeNull();

    // Trusting the right CA, the next run delivers the kept report and its own.
    const trusting = agentConfig('web02', `{ url: "${url}", token_file: ${join(dir, 'web02.token')}, ca_file: ${ca.certFile} }`);
    const again = runProgram(AGENT, ['--config', trusting, '--once']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(spooled('web02')).toBe(0);
    expect(await hostDetail('web02')).toMatchObject({ transport: 'https', last_seq: expect.any(Number) });
  });

  it('rotation: new files and SIGHUP give new connections the new certificate; an open connection keeps working; a bad pair is kept out', async () => {
    expect(await fingerprint(port, ca.pem)).toBe(first.fingerprint256);
    const pool = new https.Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.add('close the https pool', () => pool.destroy());
    const before = await request(`${url}/healthz`, { ca: ca.pem, agent: pool });
    expect(before.status).toBe(200);

    copyFileSync(second.certFile, certFile);
    copyFileSync(second.keyFile, keyFile);
    controller.child.kill('SIGHUP');
    await waitFor('the second certificate served', async () => (await fingerprint(port, ca.pem)) === second.fingerprint256, 10_000);
    const after = await request(`${url}/healthz`, { ca: ca.pem, agent: pool });
    expect(after).toMatchObject({ status: 200, localPort: before.localPort });
    expect(controller.output()).toMatch(/"reason":"SIGHUP".*TLS certificate reloaded: new connections use it/);

    // The agent trusts the CA, not one certificate: it goes on reporting across the rotation.
    const config = agentConfig('web01', `{ url: "${url}", token_file: ${join(dir, 'web01.token')}, ca_file: ${ca.certFile} }`);
    expect(runProgram(AGENT, ['--config', config, '--once']).code).toBe(0);

    // No signal: the watcher sees the files change.
    copyFileSync(first.certFile, certFile);
    copyFileSync(first.keyFile, keyFile);
    await waitFor('the first certificate served again', async () => (await fingerprint(port, ca.pem)) === first.fingerprint256, 10_000);

    // A key that does not belong to the certificate: logged, the certificate in use stays, the listener serves on.
    copyFileSync(foreign.keyFile, keyFile);
    controller.child.kill('SIGHUP');
    await waitFor('the refusal logged', () => /TLS certificate not reloaded: kept the one in use/.test(controller.output()), 10_000);
    expect(controller.output()).toMatch(/config key \\"tls.key_file\\": the key in .*key\.pem does not belong to the certificate/);
    expect(await fingerprint(port, ca.pem)).toBe(first.fingerprint256);
    expect((await request(`${url}/healthz`, { ca: ca.pem })).status).toBe(200);
    expect((await request(`${url}/healthz`, { ca: ca.pem, agent: pool })).localPort).toBe(before.localPort);
    expect(controller.child.exitCode).toBeNull();
    copyFileSync(first.keyFile, keyFile);
  });

  it('at start, a pair that is not one, or an unreadable file, is exit 2 naming the key', () => {
    const yaml = (cert: string, key: string) => {
      const f = join(dir, 'bad-controller.yaml');
      writeFileSync(f, `listen: 127.0.0.1:0\ntls: { cert_file: ${cert}, key_file: ${key} }\nstate_dir: ${join(dir, 'bad-state')}\nadmin_token_file: ${join(dir, 'admin.token')}\n`);
      return f;
    };
    const mismatch = runProgram(CONTROLLER, ['--config', yaml(first.certFile, second.keyFile)]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/config key "tls.key_file": the key in .*second\.key does not belong to the certificate in tls.cert_file/);
    const unreadable = runProgram(CONTROLLER, ['--config', yaml(join(dir, 'nope.pem'), first.keyFile)]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toMatch(/config key "tls.cert_file": cannot read .*nope\.pem/);
  });

  describeWith(missing([needRoot, [hasCommand('ip'), 'needs ip (iproute2: a network namespace and a veth pair)']]), 'plain HTTP across the network', () => {
    // The controller's test host: a namespace of the test's own; the agent, in the root namespace, reaches it
    // over the veth pair, so the controller sees the root end's address as the agent's peer (not loopback).
    const local = new Cleanup();
    let ns: TestNetns | undefined;
    afterAll(async () => {
      expect(await local.run()).toEqual([]);
      if (ns) expect(netnsLeftovers(ns)).toEqual([]);
    });

    it('works, is a warning at every agent start unless controller.insecure, and shows as insecure in the host detail', async () => {
      ns = createTestNetns(local, 'hwtls');
      const yaml = join(dir, 'plain-controller.yaml');
      writeFileSync(
        yaml,
        [`listen: ${ns.nsAddress}:0`, `state_dir: ${join(dir, 'plain')}`, `admin_token_file: ${join(dir, 'admin.token')}`, `agents: [ { host: web03, token_file: ${join(dir, 'web01.token')} } ]`, 'ingest: { parser_threads: 0 }', 'log_level: info', ''].join('\n'),
      );
      const plain = startDaemonInNetns(local, ns, CONTROLLER, ['--config', yaml]);
      const plainUrl = await listeningUrl(plain);
      expect(new URL(plainUrl).hostname).toBe(ns.nsAddress);
      await waitFor('plain controller /healthz', async () => (await request(`${plainUrl}/healthz`)).status === 200, 20_000);

      const warned = runProgram(AGENT, ['--config', agentConfig('web03', `{ url: "${plainUrl}", token_file: ${join(dir, 'web01.token')} }`), '--once']);
      expect(warned.code, warned.stdout + warned.stderr).toBe(0);
      const warning = warned.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.level === 'warn' && /plain HTTP/.test(String(l.msg)));
      expect(warning).toMatchObject({ url: plainUrl, msg: expect.stringContaining(`controller.url ${plainUrl} is plain HTTP to ${ns.nsAddress}, which is not loopback`) });

      const detail = (await request(`${plainUrl}/v1/hosts/web03`, { token: admin })).body;
      expect(detail).toMatchObject({ transport: 'http', insecure_transport: true, transport_warning: expect.stringContaining(`plain HTTP from ${ns.rootAddress}:`) });
      expect(plain.output()).toMatch(/"host":"web03".*plain HTTP from/);

      const silenced = runProgram(AGENT, ['--config', agentConfig('web03', `{ url: "${plainUrl}", token_file: ${join(dir, 'web01.token')}, insecure: true }`), '--once']);
      expect(silenced.code).toBe(0);
      expect(silenced.stdout).not.toMatch(/plain HTTP/);
    });
  });
});
