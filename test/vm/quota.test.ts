// ext4 user quotas on the guest's scratch disk (made with the quota feature, mounted usrquota): the kernel
// counts each user's inodes, quotactl (repquota) reports them, and an inode hard limit stops file creation.
// This is the kernel side of the `inodes` resource.
import { chownSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanup, createUser, type TestUser, uniq } from '../helpers/system.js';
import { requireGuest, run, SCRATCH, startIn } from './guest.js';

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
    const r = await asUser('for i in $(seq 100 199); do touch g$i || exit 7; done');
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
