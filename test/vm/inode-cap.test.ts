// Inode caps (plan key `inodes`) on the guest's scratch disk, which enforces user quotas: the agent sets the
// tenant's HARD inode limit at its plan's cap (no soft limit), opens a warning near the cap from the measured
// count, is refused new files at the cap, releases when files are removed, and puts back the limits that were
// there before when the plan stops capping. Then a tree of 100k files is counted right by the quota and by the
// walk. The agent runs in-process (its ticks driven by the test) on the guest's real cgroup v2 hierarchy.
import { chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.js';
import type { CollectContext } from '../../agent/collectors/collector.js';
import { InodesCollector } from '../../agent/collectors/inodes.js';
import { walkOwnedEntries } from '../../agent/collectors/inode-walk.js';
import { readAgentConfig } from '../../agent/config.js';
import { createDriver } from '../../agent/kernel/cgroup/detect.js';
import type { Tenant } from '../../agent/tenants.js';
import type { IncidentEvent } from '../../shared/wire/agent.js';
import { Cleanup, createUser, tempDir, type TestUser, uniq } from '../helpers/system.js';
import { CGROUP_ROOT, destroyParent, PROC_ROOT, requireGuest, run, SCRATCH, sleep, startIn, uniqueParent } from './guest.js';

requireGuest();

const CAP = 200;

/** The user's inode use and limits from `repquota -u -n -O csv` (read by column name). */
function inodeQuota(uid: number): { used: number; soft: number; hard: number } {
  const lines = run('repquota', ['-u', '-n', '-v', '-O', 'csv', SCRATCH]).trim().split('\n');
  const header = lines[0]!.split(',');
  const col = (row: string[], name: string) => Number(row[header.indexOf(name)]);
  const row = lines
    .slice(1)
    .map((l) => l.split(','))
    .find((r) => r[0] === `#${uid}`);
  return row ? { used: col(row, 'FileUsed'), soft: col(row, 'FileSoftLimit'), hard: col(row, 'FileHardLimit') } : { used: 0, soft: 0, hard: 0 };
}

describe('an inode cap held by the user quota', () => {
  const cleanup = new Cleanup();
  const parent = uniqueParent();
  let user: TestUser;
  let home: string;
  let agent: Agent;
  let tenant: string;

  async function asUser(script: string): Promise<{ code: number | null; output: string }> {
    const p = await startIn(undefined, '', script, { uid: user.uid, cwd: home });
    const { code } = await p.exited;
    return { code, output: p.output() };
  }

  /**
   * Let the count refresh (refresh: 1s), wait for it, and take the inode events of the ticks that see it (a
   * count from the quota alone completes within the tick that starts it; a walk, in a later one).
   */
  async function counted(): Promise<IncidentEvent[]> {
    await sleep(1100);
    const first = await agent.tick(); // starts a count
    await agent.inodes!.settled();
    const second = await agent.tick(); // evaluates it, if the first did not
    return [...first.events, ...second.events].filter((e) => e.resource === 'inodes');
  }

  beforeAll(() => {
    user = createUser(cleanup, 'hwc');
    tenant = user.name;
    home = join(SCRATCH, uniq('cap-'));
    mkdirSync(home);
    chownSync(home, user.uid, user.gid);
    cleanup.add(`rm -r ${home}`, () => rmSync(home, { recursive: true, force: true }));
    // An administrator's limits from before: the agent must give them back exactly when it stops capping.
    run('setquota', ['-u', String(user.uid), '0', '0', '5000', '6000', SCRATCH]);
    cleanup.add(`lift the quota of ${user.uid}`, () => run('setquota', ['-u', String(user.uid), '0', '0', '0', '0', SCRATCH]));
    cleanup.add(`remove cgroups under ${parent}`, () => destroyParent(parent));
    const dir = tempDir(cleanup, 'hw-vm-inodes-');
    const config = readAgentConfig({
      host: 'vm',
      state_dir: join(dir, 'state'),
      controller: { enabled: false },
      cgroup: { parent },
      bandwidth: { enabled: false },
      inventory: { enabled: false },
      inodes: { refresh: '1s', warn: 0.9, release: 0.85 },
      plans: { capped: { inodes: CAP }, open: { cpu: 100 } },
      tenants: [{ name: tenant, users: [user.uid], homes: [home], plan: 'capped' }],
    });
    const driver = createDriver({ cgroupRoot: CGROUP_ROOT, procRoot: PROC_ROOT, parent, driver: 'v2' });
    agent = new Agent({ config, driver, log: pino({ level: 'silent' }) });
    cleanup.add('stop the agent', () => agent.stop());
    agent.init();
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it("sets the tenant's hard inode limit at the plan's cap, with no soft limit", async () => {
    expect(await counted()).toEqual([]); // the home alone: far below the cap
    expect(inodeQuota(user.uid)).toEqual({ used: 1, soft: 0, hard: CAP });
  });

  it('warns from the measured count near the cap, before the tenant is refused anything', async () => {
    // 179 files and the home: 180 = 90 % of the cap.
    expect((await asUser('for i in $(seq 1 179); do : > f$i || exit 7; done; echo done')).output).toContain('done');
    const events = await counted();
    expect(events.map((e) => [e.type, e.step, e.level, e.rule])).toEqual([['opened', 'notice', 0, 'inode_cap']]);
    const e = events[0]!.explanation;
    expect(e.measured).toEqual({ value: 180, unit: 'inodes' });
    expect(e.threshold).toEqual({ value: CAP, unit: 'inodes', kind: 'plan_cap' });
    expect(e.limits).toEqual({ inodes_hard: CAP });
    expect(e.action).toMatch(/Notice only.*refuses new files/);
  });

  it('refuses files past the cap (EDQUOT), and the incident says the tenant is held there', async () => {
    // printf, not ":": a failed redirection of a special built-in ends dash itself (status 2).
    const r = await asUser('for i in $(seq 1000 1100); do printf "" > g$i || exit 7; done');
    expect(r.code).toBe(7);
    expect(r.output).toMatch(/Disk quota exceeded/);
    expect(inodeQuota(user.uid).used).toBe(CAP);
    const events = await counted();
    expect(events.map((e) => [e.type, e.step, e.level])).toEqual([['escalated', 'throttle', 1]]);
    expect(events[0]!.explanation.action).toMatch(/Held at the limit/);
  });

  it('releases once the tenant removed files below the release line', async () => {
    expect((await asUser('rm -f g* && for i in $(seq 1 40); do rm f$i; done && echo done')).output).toContain('done');
    expect(inodeQuota(user.uid).used).toBe(CAP - 20 - 40);
    const events = await counted();
    expect(events.map((e) => [e.type, e.step])).toEqual([['released', 'release']]);
  });

  it('puts back the limits from before when the plan stops capping inodes', async () => {
    agent.applyPolicy({ host: 'vm', tenants: [{ name: tenant, users: [user.uid], homes: [home], plan: 'open' }], plans: { open: { cpu: 100, weight: 1 } }, actions: [] });
    await counted();
    expect(inodeQuota(user.uid)).toMatchObject({ soft: 5000, hard: 6000 });
  });
});

describe('a tree of 100k files, counted', () => {
  const cleanup = new Cleanup();
  let user: TestUser;
  let home: string;
  const DIRS = 100;
  const PER_DIR = 1000;

  beforeAll(() => {
    user = createUser(cleanup, 'hwt');
    home = join(SCRATCH, uniq('tree-'));
    cleanup.add(`rm -r ${home}`, () => rmSync(home, { recursive: true, force: true }));
    mkdirSync(home);
    chownSync(home, user.uid, user.gid);
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  }, 600_000);

  it('is made by the user, 1,000 files a directory', async () => {
    // touch: one process per directory; a file at a time from here would cost minutes under emulation.
    const p = await startIn(undefined, '', `for d in $(seq 0 ${DIRS - 1}); do mkdir d$d && cd d$d && touch $(seq -f f%g 0 ${PER_DIR - 1}) && cd .. || exit 7; done; echo made`, { uid: user.uid, cwd: home });
    const { code } = await p.exited;
    expect({ code, output: p.output().trim() }).toEqual({ code: 0, output: 'made' });
    // A few of root's in the tree: neither count may take them.
    for (let i = 0; i < 7; i++) writeFileSync(join(home, `d${i}`, `root-${i}`), '');
  }, 900_000);

  // 100,000 files, 100 directories and the home.
  const expected = DIRS * PER_DIR + DIRS + 1;

  it('by the quota (repquota, through the inodes collector)', async () => {
    const tenant: Tenant = { name: 't', uids: [user.uid], homes: [home], domains: [], source: 'config' };
    const collector = new InodesCollector(PROC_ROOT);
    await collector.refresh([tenant]);
    const ctx: CollectContext = { mono: performance.now(), tenants: [tenant], stats: new Map(), samples: new Map([[tenant.name, { tenant: tenant.name }]]), host: { cores: 2, memory_bytes: 1 } };
    collector.collect(ctx);
    expect(ctx.samples.get('t')?.inodes?.count).toBe(expected);
    expect(inodeQuota(user.uid).used).toBe(expected);
  }, 300_000);

  it('by the walk of the home, by descriptor', async () => {
    const r = await walkOwnedEntries(home, new Set([user.uid]));
    expect(r.stopped).toBeUndefined();
    expect(r.count).toBe(expected);
    expect(r.entries).toBe(expected + 7);
  }, 300_000);
});
