// ext4 user quotas on the guest's scratch disk (made with the quota feature, mounted usrquota): the kernel
// counts each user's inodes, quotactl (repquota) reports them, and an inode hard limit stops file creation.
// The inodes collector (agent/collectors/inodes.ts) reads those counts through repquota, and falls back to a
// walk of the homes on a filesystem without quotas.
import { chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CollectContext } from '../../agent/collectors/collector.js';
import { InodesCollector } from '../../agent/collectors/inodes.js';
import type { Tenant } from '../../agent/tenants.js';
import { Cleanup, createUser, type TestUser, uniq } from '../helpers/system.js';
import { PROC_ROOT, requireGuest, run, SCRATCH, startIn } from './guest.js';

requireGuest();

interface QuotaUse {
  blocksKiB: number;
  inodes: number;
  inodeHard: number;
}

/** The user's line of `repquota -u -n -O csv`, read by column name. */
function userQuota(uid: number): QuotaUse | undefined {
  const lines = run('repquota', ['-u', '-n', '-v', '-O', 'csv', SCRATCH]).trim().split('\n');
  const header = lines[0]!.split(',');
  const col = (row: string[], name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`repquota csv has no column ${name}: ${lines[0]}`);
    return Number(row[i]);
  };
  for (const line of lines.slice(1)) {
    const row = line.split(',');
    if (row[0] !== `#${uid}`) continue; // first column: User (or Group), '#'-prefixed with -n
    return { blocksKiB: col(row, 'BlockUsed'), inodes: col(row, 'FileUsed'), inodeHard: col(row, 'FileHardLimit') };
  }
  return undefined;
}

describe('ext4 user quotas on the guest scratch disk', () => {
  const cleanup = new Cleanup();
  let user: TestUser;
  let dir: string;

  async function asUser(script: string): Promise<{ code: number | null; output: string }> {
    const p = await startIn(undefined, '', script, { uid: user.uid, cwd: dir });
    const { code } = await p.exited;
    return { code, output: p.output() };
  }

  beforeAll(() => {
    user = createUser(cleanup, 'hwq');
    dir = join(SCRATCH, uniq('quota-'));
    mkdirSync(dir);
    chownSync(dir, user.uid, user.gid);
    cleanup.add(`rm -r ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    cleanup.add(`lift the quota of ${user.uid}`, () => run('setquota', ['-u', String(user.uid), '0', '0', '0', '0', SCRATCH]));
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('counts the inodes a user owns, files and directories alike', async () => {
    expect((await asUser('for i in $(seq 1 37); do : > f$i; done; mkdir d && : > d/x && echo done')).output).toContain('done');
    // 37 files, d, d/x, and the directory the test chowned to the user.
    expect(userQuota(user.uid)?.inodes).toBe(40);
  });

  it('gives inodes back when files are removed', async () => {
    expect((await asUser('rm -r d f1 f2 && echo done')).output).toContain('done');
    expect(userQuota(user.uid)?.inodes).toBe(36);
  });

  it('an inode hard limit stops file creation at the limit with EDQUOT', async () => {
    run('setquota', ['-u', String(user.uid), '0', '0', '0', '50', SCRATCH]);
    expect(userQuota(user.uid)?.inodeHard).toBe(50);
    const r = await asUser('for i in $(seq 100 199); do printf "" > g$i || exit 7; done');
    expect(r.code).toBe(7);
    expect(r.output).toMatch(/Disk quota exceeded/);
    expect(userQuota(user.uid)?.inodes).toBe(50);
  });

  it('charges files root gives to the user (chown moves the inode between quotas)', () => {
    const before = userQuota(user.uid)!.inodes;
    run('setquota', ['-u', String(user.uid), '0', '0', '0', '0', SCRATCH]);
    const f = join(dir, 'from-root');
    run('touch', [f]);
    chownSync(f, user.uid, user.gid);
    expect(userQuota(user.uid)!.inodes).toBe(before + 1);
  });
});

describe('the inodes collector on the guest scratch disk', () => {
  const cleanup = new Cleanup();
  let user: TestUser;
  let home: string;
  let tmpHome: string;

  /** One collect() with a fresh refresh awaited; the tenant's inode count, if any. */
  async function count(collector: InodesCollector, tenant: Tenant): Promise<number | undefined> {
    await collector.refresh([tenant]);
    const ctx: CollectContext = { mono: performance.now(), tenants: [tenant], stats: new Map(), samples: new Map([[tenant.name, { tenant: tenant.name }]]), host: { cores: 2, memory_bytes: 1 } };
    collector.collect(ctx);
    return ctx.samples.get(tenant.name)?.inodes?.count;
  }

  beforeAll(() => {
    user = createUser(cleanup, 'hwi');
    home = join(SCRATCH, uniq('home-'));
    mkdirSync(home);
    cleanup.add(`rm -r ${home}`, () => rmSync(home, { recursive: true, force: true }));
    // Ten files in the home, and three more of the user's elsewhere on the same filesystem.
    for (let i = 0; i < 10; i++) writeFileSync(join(home, `f${i}`), '');
    for (let i = 0; i < 3; i++) writeFileSync(join(home, `../${uniq('stray-')}`), '');
    run('sh', ['-c', `chown -R ${user.uid}:${user.gid} ${home} && chown ${user.uid} $(find ${SCRATCH} -maxdepth 1 -name 'stray-*' -user 0)`]);
    cleanup.add('rm the strays', () => run('sh', ['-c', `find ${SCRATCH} -maxdepth 1 -name 'stray-*' -delete`]));
    tmpHome = mkdtempSync('/tmp/hw-home-');
    cleanup.add(`rm -r ${tmpHome}`, () => rmSync(tmpHome, { recursive: true, force: true }));
    for (let i = 0; i < 5; i++) writeFileSync(join(tmpHome, `t${i}`), '');
    run('chown', ['-R', `${user.uid}:${user.gid}`, tmpHome]);
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it("counts the user's inodes on the whole filesystem from its quota, not only the home", async () => {
    const tenant: Tenant = { name: 'q', uids: [user.uid], homes: [home], domains: [], source: 'config' };
    // 10 files + the home itself + 3 elsewhere: repquota sees them all, a walk of the home would say 11.
    expect(await count(new InodesCollector(PROC_ROOT), tenant)).toBe(14);
  });

  it('walks the home where the filesystem keeps no quota (tmpfs)', async () => {
    const tenant: Tenant = { name: 'w', uids: [user.uid], homes: [tmpHome], domains: [], source: 'config' };
    expect(await count(new InodesCollector(PROC_ROOT), tenant)).toBe(6);
  });

  it('adds both for a tenant with homes on both', async () => {
    const tenant: Tenant = { name: 'b', uids: [user.uid], homes: [home, tmpHome], domains: [], source: 'config' };
    expect(await count(new InodesCollector(PROC_ROOT), tenant)).toBe(20);
  });
});
