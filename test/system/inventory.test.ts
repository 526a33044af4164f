// The host inventory end to end with the built programs: `hostwarden-agent --once` gathers it with its compiled
// worker (dist/agent/collectors/inventory-worker.js and the installed systeminformation, as the package ships
// them) and its one report carries it; the built controller stores it and GET /v1/hosts/{host} returns it; the
// built hostwardenctl shows it in `host HOST`.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { arch, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import { validator } from '../../shared/validate.js';
import { HostInventoryInfoSchema } from '../../shared/wire/api.js';
import { describeWith, missing, needRoot } from '../helpers/env.js';
import { Cleanup, listeningUrl, ROOT, runProgram, startDaemon, tempDir, uniq, waitFor, writeToken, type Daemon } from '../helpers/system.js';

const CONTROLLER = 'controller/bin/hostwarden-controller.js';
const AGENT = 'agent/bin/hostwarden-agent.js';
const CTL = 'ctl/bin/hostwardenctl.js';
const built = [CONTROLLER, AGENT, CTL, 'agent/collectors/inventory-worker.js'].every((f) => existsSync(join(ROOT, 'dist', f)));

describeWith(missing([needRoot, [built, 'needs a build (npx tsc -b)']]), 'the host inventory, built agent to built CLI', () => {
  const cleanup = new Cleanup();
  const parent = uniq('hostwarden-inv');
  let dir: string;
  let url: string;
  let admin: string;
  let controller: Daemon;

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-inventory-system-');
    cleanup.add(`remove cgroups under ${parent}`, () => {
      const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
      for (const t of d.list()) d.remove(t, { kill: true });
      d.teardown();
    });
    admin = writeToken(join(dir, 'admin.token'));
    writeToken(join(dir, 'web01.token'));
    writeFileSync(
      join(dir, 'controller.yaml'),
      [
        'listen: 127.0.0.1:0',
        `state_dir: ${join(dir, 'controller')}`,
        `admin_token_file: ${join(dir, 'admin.token')}`,
        `agents: [ { host: web01, token_file: ${join(dir, 'web01.token')} } ]`,
        'log_level: info',
        '',
      ].join('\n'),
    );
    controller = startDaemon(cleanup, CONTROLLER, ['--config', join(dir, 'controller.yaml')]);
    url = await listeningUrl(controller);
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`)).ok, 20_000);
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('inventory end to end: --once reports what its compiled worker gathered; the API returns it; hostwardenctl host shows it', async () => {
    const home = join(dir, 'homes', 'alice');
    mkdirSync(home, { recursive: true });
    const config = join(dir, 'agent.yaml');
    writeFileSync(
      config,
      [
        'host: web01',
        'interval: 500ms',
        `state_dir: ${join(dir, 'agent')}`,
        `controller: { url: "${url}", token_file: ${join(dir, 'web01.token')} }`,
        `cgroup: { parent: ${parent} }`,
        'enforce: false',
        'bandwidth: { enabled: false }',
        'inodes: { enabled: false }',
        `tenants: [ { name: alice, users: [2000001], homes: [${home}] } ]`,
        'log_level: warn',
        '',
      ].join('\n'),
    );
    const once = runProgram(AGENT, ['--config', config, '--once']);
    expect(once.code, once.stdout + once.stderr).toBe(0);

    const res = await fetch(`${url}/v1/hosts/web01`, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { inventory: Record<string, unknown> & { filesystems: Array<{ mount: string }> }; collectors: Array<{ name: string; ok: boolean }> };
    expect(validator(HostInventoryInfoSchema).problems(body.inventory)).toEqual([]);
    expect(body.inventory).toMatchObject({ os: { kernel: release(), arch: arch() }, memory_bytes: totalmem(), cpu: { threads: expect.any(Number) } });
    expect(body.inventory.filesystems).toHaveLength(1);
    expect(home.startsWith(body.inventory.filesystems[0]!.mount)).toBe(true);
    expect(body.collectors.find((c) => c.name === 'inventory')).toMatchObject({ ok: true });

    const ctl = runProgram(CTL, ['--url', url, '--token-file', join(dir, 'admin.token'), 'host', 'web01']);
    expect(ctl.code, ctl.stderr).toBe(0);
    expect(ctl.stdout).toContain('\ninventory:\n');
    for (const label of ['gathered', 'reported', 'os', 'kernel', 'cpu model', 'cpu', 'memory total', 'home filesystem']) expect(ctl.stdout).toMatch(new RegExp(`\\n  ${label}: +\\S`));
    expect(ctl.stdout).toContain(`${release()}, ${arch()}`);
  });
});
