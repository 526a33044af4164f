// A controller and an agent as the built daemons on loopback, configured for one test: a unique cgroup
// parent (removed at cleanup, killing what is left in it), fresh tokens, a port the kernel picks while the
// controller binds it (listen on 0), state in a temp dir.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import { type Cleanup, type Daemon, listeningUrl, startDaemon, tempDir, uniq, writeToken } from './system.js';

export interface Stack {
  url: string;
  /** The admin token. */
  admin: string;
  dir: string;
  /** The agent's cgroup parent. */
  parent: string;
  /** The agent daemon (the latest one after startAgent()). */
  agent: Daemon;
  /** Start the agent again with the same config (after the test killed it). */
  startAgent(): Daemon;
  /** GET/POST/... on the API with the admin token; JSON body in and out. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
}

/**
 * Start the stack; `agent` holds the test's own agent.yaml lines (tenants, plans, ...), `controller` its
 * controller.yaml lines. `startTimeoutMs`: how long the controller may take to listen (default 30 s; the VM
 * tier's emulated guest needs minutes, see test/vm/weblogs.test.ts). A controller that exits fails at once.
 */
export async function startStack(cleanup: Cleanup, opts: { host: string; interval: string; agent: string[]; controller?: string[]; startTimeoutMs?: number }): Promise<Stack> {
  const dir = tempDir(cleanup, `hw-${opts.host}-`);
  const parent = uniq('hostwarden-t');
  cleanup.add(`remove cgroups under ${parent}`, () => {
    const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
    for (const t of d.list()) d.remove(t, { kill: true });
    d.teardown();
  });
  const admin = writeToken(join(dir, 'admin.token'));
  writeToken(join(dir, 'agent.token'));
  // log_level info: the controller's 'controller listening' line tells the port it bound.
  writeFileSync(
    join(dir, 'controller.yaml'),
    `listen: 127.0.0.1:0\nstate_dir: ${join(dir, 'controller')}\nadmin_token_file: ${join(dir, 'admin.token')}\nagents: [ { host: ${opts.host}, token_file: ${join(dir, 'agent.token')} } ]\nlog_level: info\n${(opts.controller ?? []).map((l) => `${l}\n`).join('')}`,
  );
  const controller = startDaemon(cleanup, 'controller/bin/hostwarden-controller.js', ['--config', join(dir, 'controller.yaml')]);
  const url = await listeningUrl(controller, opts.startTimeoutMs);
  writeFileSync(
    join(dir, 'agent.yaml'),
    [
      `host: ${opts.host}`,
      `interval: ${opts.interval}`,
      `state_dir: ${join(dir, 'agent')}`,
      `controller: { url: "${url}", token_file: ${join(dir, 'agent.token')} }`,
      `cgroup: { parent: ${parent} }`,
      'bandwidth: { enabled: false, shaping: false }', // tests change no firewall nor qdisc outside namespaces of their own
      'log_level: warn',
      ...opts.agent,
      '',
    ].join('\n'),
  );
  const startAgent = () => startDaemon(cleanup, 'agent/bin/hostwarden-agent.js', ['--config', join(dir, 'agent.yaml')]);
  const api: Stack['api'] = async (method, path, body) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> };
  };
  const stack: Stack = {
    url,
    admin,
    dir,
    parent,
    agent: startAgent(),
    startAgent: () => (stack.agent = startAgent()),
    api,
  };
  return stack;
}
