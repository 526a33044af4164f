import { chownSync, mkdirSync, mkdtempSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InodesCollector, InodesCountError, inodesCapacity, mountPointOf, parseRepquota, walkCount } from '../../../../agent/collectors/inodes.js';
import type { MountinfoEntry } from '../../../../agent/kernel/procfs.js';
import { type CollectContext, NoData } from '../../../../agent/collectors/collector.js';
import { isRoot } from '../../../helpers/env.js';

// Captured from quota-tools 4.06: repquota -u -n -p /mnt
const REPQUOTA = `*** Report for user quotas on device /dev/vdb
Block grace time: 7days; Inode grace time: 7days
                        Block limits                File limits
User            used    soft    hard  grace    used  soft  hard  grace
----------------------------------------------------------------------
#0        --      20       0       0      0       2     0     0      0
#1001     --    1024       0       0      0     150     0     0      0
#1002     +-  204800  102400  204800      0      12     0     0      0

`;

const dir = mkdtempSync(join(tmpdir(), 'hw-inodes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inodes collector', () => {
  it('parses repquota files used per UID', () => {
    expect(parseRepquota(REPQUOTA)).toEqual(new Map([[0, 2], [1001, 150], [1002, 12]]));
  });

  it('finds the mount point holding a path', () => {
    expect(mountPointOf('/home/alice/x', ['/', '/home', '/home2', '/proc'])).toBe('/home');
    expect(mountPointOf('/home2', ['/', '/home', '/home2'])).toBe('/home2');
    expect(mountPointOf('/var/www', ['/', '/home'])).toBe('/');
  });

  it('counts entries owned by the tenant UIDs without following symlinks', async () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, 'a/b'), { recursive: true });
    writeFileSync(join(home, 'a/f1'), 'x');
    writeFileSync(join(home, 'a/b/f2'), 'x');
    symlinkSync('/etc', join(home, 'link'));
    const me = process.getuid!();
    expect(await walkCount(home, new Set([me]))).toBe(6); // home, a, b, f1, f2, link
    if (isRoot()) {
      chownSync(join(home, 'a/f1'), 4242, 4242);
      expect(await walkCount(home, new Set([me]))).toBe(5);
      expect(await walkCount(home, new Set([4242]))).toBe(1);
    }
  });

  it('uses quota where repquota answers, else walks, and reports the last completed count', async () => {
    const home = join(dir, 'q');
    mkdirSync(home);
    writeFileSync(join(home, 'f'), 'x');
    const me = process.getuid!();
    const tenants = [
      { name: 'walked', uids: [me], homes: [home], domains: [], source: 'config' as const },
      { name: 'quota', uids: [1001, 1002], homes: ['/proc/x', '/proc/y'], domains: [], source: 'config' as const },
    ];
    const c = new InodesCollector('/proc', 60_000, (mp) => (mp === '/proc' ? { status: 0, stdout: REPQUOTA } : { status: 1, stdout: '' }));
    const ctx = (): CollectContext => ({ mono: 0, tenants, stats: new Map(), samples: new Map(tenants.map((t) => [t.name, { tenant: t.name }])), host: { cores: 1, memory_bytes: 1 } });
    const first = ctx();
    expect(c.collect(first)).toBeInstanceOf(NoData); // no data yet: the count runs in the background
    await c.settled();
    const second = ctx();
    c.collect(second);
    expect(second.samples.get('walked')?.inodes).toEqual({ count: 2 });
    expect(second.samples.get('quota')?.inodes).toEqual({ count: 162 }); // 150 + 12, once for the filesystem
    // The ledger's capacity: the inodes of the homes' filesystems (procfs has no fixed number: left out).
    const files = statfsSync(home).files;
    expect(second.host.inodes_capacity).toBe(files > 0 ? files : undefined);
    expect(c.capacity()).toBe(second.host.inodes_capacity);
  });

  it('sums the inodes of each filesystem holding homes once, leaving out those without a fixed number', () => {
    const entry = (mountPoint: string, device: string) => ({ mountPoint, device }) as MountinfoEntry;
    const entries = [entry('/', '8:1'), entry('/home', '8:2'), entry('/srv/home', '8:2'), entry('/var', '8:3'), entry('/var', '0:40'), entry('/data', '0:50')];
    const files: Record<string, number> = { '/': 1000, '/home': 500, '/srv/home': 500, '/var': 7, '/data': 0 };
    const statfs = (p: string) => {
      if (p === '/gone') throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return { files: files[p]! };
    };
    // /home and /srv/home are one filesystem (a bind mount); /var's top mount (0:40) is the one counted; btrfs-like 0 left out
    expect(inodesCapacity(['/home', '/srv/home', '/var', '/data', '/gone'], entries, statfs)).toBe(507);
    expect(inodesCapacity(['/data'], entries, statfs)).toBeUndefined();
    expect(inodesCapacity([], entries, statfs)).toBeUndefined();
  });

  it('a background count that fails is reported by the next collect, once, instead of going unhandled', async () => {
    const tenants = [{ name: 't', uids: [process.getuid!()], homes: [dir], domains: [], source: 'config' as const }];
    const c = new InodesCollector(join(dir, 'no-proc'), 60_000, () => ({ status: 1, stdout: '' }));
    const ctx = (): CollectContext => ({ mono: 0, tenants, stats: new Map(), samples: new Map([['t', { tenant: 't' }]]), host: { cores: 1, memory_bytes: 1 } });
    expect(c.collect(ctx())).toBeInstanceOf(NoData);
    await c.settled();
    expect(() => c.collect(ctx())).toThrow(InodesCountError);
    expect(c.collect(ctx())).toBeInstanceOf(NoData);
  });
});
