// Placement (agent/placement.ts) on the guest's real v2 hierarchy, with real Linux users: every process of a
// tenant's UIDs lands in the tenant's cgroup and is counted as a stray; nobody else's process is touched.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Placement } from '../../agent/placement.js';
import type { Tenant } from '../../agent/tenants.js';
import { createLogger } from '../../shared/log.js';
import { Cleanup, createUser, type TestUser } from '../helpers/system.js';
import { PROC_ROOT, requireGuest, startIn, tenantScope, waitFor } from './guest.js';

requireGuest();

describe('placement on the guest v2 hierarchy', () => {
  const g = tenantScope([]);
  const cleanup = new Cleanup();
  let placement: Placement;
  let owner: TestUser;
  let stranger: TestUser;
  let tenant: Tenant;
  const byUid = (uid: number): Tenant | undefined => (tenant.uids.includes(uid) ? tenant : undefined);

  /** Processes of a user: a shell that starts a child and a grandchild, all as that user, outside any tenant. */
  async function family(user: TestUser): Promise<number[]> {
    const p = await startIn(undefined, '', '(sleep 600 & exec sleep 601) & exec sleep 602', { uid: user.uid });
    g.started.push(p);
    const pids = (): number[] => pidsOf(user.uid);
    expect(await waitFor(() => pids().length === 3, 5000)).toBe(true);
    const out = pids();
    cleanup.add(`kill the processes of ${user.name}`, async () => {
      for (const pid of out) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      // userdel refuses while the user has a process, even a zombie: wait until they are reaped.
      if (!(await waitFor(() => out.every((pid) => !existsSync(`/proc/${pid}`)), 5000))) throw new Error(`processes of ${user.name} outlived SIGKILL`);
    });
    return out;
  }

  beforeAll(() => {
    owner = createUser(cleanup, 'hwp');
    stranger = createUser(cleanup, 'hwx');
    placement = new Placement(g.driver, PROC_ROOT, createLogger('placement-test', 'silent'));
    tenant = { name: owner.name, uids: [owner.uid], homes: [], domains: [], source: 'config' };
  });
  afterAll(async () => {
    // Kills the users' processes (newest first), waits for them, then removes the users. The tenant scope's
    // own afterAll (registered first, so run last) then removes the cgroups.
    expect(await cleanup.run()).toEqual([]);
  });

  it("moves every process of the tenant's UIDs into its cgroup and counts them as strays", async () => {
    const mine = await family(owner);
    const theirs = await family(stranger);
    placement.ensureCgroups([tenant]);
    expect(g.driver.exists(tenant.name)).toBe(true);
    const r = placement.run(byUid);
    expect(r).toMatchObject({ scanned: 3, moved: 3, errors: 0, full: true });
    expect(g.driver.procs(tenant.name).sort()).toEqual(mine.sort());
    for (const pid of mine) expect(g.driver.tenantOf(pid)).toBe(tenant.name);
    for (const pid of theirs) expect(g.driver.tenantOf(pid)).toBeNull();
    expect(g.driver.tenantOf(process.pid)).toBeNull();
    expect(placement.takeStrays()).toEqual(new Map([[tenant.name, 3]]));
  });

  it('finds nothing to move on the next pass, and children forked inside stay inside', async () => {
    const r = placement.run(byUid);
    expect(r.moved).toBe(0);
    expect(placement.takeStrays().size).toBe(0);
    // A process forked by a placed process starts in the tenant cgroup: no stray.
    const leader = g.driver.procs(tenant.name)[0]!;
    const child = await g.start(tenant.name, 'exec sleep 603', { uid: owner.uid });
    expect(g.driver.tenantOf(child.pid)).toBe(tenant.name);
    expect(placement.run(byUid).moved).toBe(0);
    expect(g.driver.tenantOf(leader)).toBe(tenant.name);
  });

  it('brings back a process that was moved into another cgroup', async () => {
    const pid = g.driver.procs(tenant.name)[0]!;
    g.driver.create('elsewhere');
    g.driver.move('elsewhere', pid);
    expect(g.driver.tenantOf(pid)).toBe('elsewhere');
    // A known process moved out by hand need not be re-read by a round that checks new PIDs only: the next full
    // pass (every fullEveryMs, 60 s by default, or at once after invalidate()) brings it back.
    placement.invalidate();
    expect(placement.run(byUid)).toMatchObject({ moved: 1, full: true });
    expect(g.driver.tenantOf(pid)).toBe(tenant.name);
    expect(placement.takeStrays()).toEqual(new Map([[tenant.name, 1]]));
  });
});

/** PIDs (thread group leaders) whose real UID is `uid`. */
function pidsOf(uid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'));
      if (m && Number(m[1]) === uid) out.push(Number(name));
    } catch {
      // exited
    }
  }
  return out;
}
