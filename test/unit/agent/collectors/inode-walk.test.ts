// The inode walk by descriptor on real temp trees: a tenant's symlinks (made before the walk, or swapped in
// between listing a directory and descending into it) never send the walk outside the home; the bounds
// stop it with a partial count; every descriptor it opens is closed.
import { chownSync, lchownSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { TenantWalk, walkOwnedEntries } from '../../../../agent/collectors/inode-walk.js';
import { InodesCollector } from '../../../../agent/collectors/inodes.js';
import { isRoot } from '../../../helpers/env.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-walk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** As root the trees belong to a test UID (as a tenant's would); otherwise to whoever runs the tests. */
const TENANT_UID = isRoot() ? 4242 : process.getuid!();
const tenant = new Set([TENANT_UID]);
let seq = 0;

/** Make a tree from `spec` (path -> 'dir' | 'file' | {link: target}) under a fresh directory, owned by TENANT_UID. */
function tree(spec: Record<string, 'dir' | 'file' | { link: string }>): string {
  const root = join(dir, `t${++seq}`);
  mkdirSync(root);
  const own = (p: string, link = false) => {
    if (isRoot()) (link ? lchownSync : chownSync)(p, TENANT_UID, TENANT_UID);
  };
  own(root);
  for (const [rel, what] of Object.entries(spec)) {
    const p = join(root, rel);
    if (what === 'dir') mkdirSync(p, { recursive: true });
    else if (what === 'file') writeFileSync(p, 'x');
    else symlinkSync(what.link, p);
    own(p, typeof what === 'object');
    for (let up = dirname(p); up.length > root.length; up = dirname(up)) own(up); // made by mkdir -p
  }
  return root;
}

/** An /etc-like directory outside every home: many files owned by the tenant UID, so counting them shows. */
function outside(files = 200): string {
  const spec: Record<string, 'file'> = {};
  for (let i = 0; i < files; i++) spec[`conf${i}`] = 'file';
  return tree(spec);
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe('inode walk by descriptor', () => {
  it('counts the entries of a home owned by the tenant, itself included, without following symlinks', async () => {
    const home = tree({ a: 'dir', 'a/b': 'dir', 'a/f1': 'file', 'a/b/f2': 'file', link: { link: '/etc' } });
    expect(await walkOwnedEntries(home, tenant)).toEqual({ count: 6, entries: 6 }); // home, a, b, f1, f2, link
    if (isRoot()) {
      chownSync(join(home, 'a/f1'), 0, 0);
      expect((await walkOwnedEntries(home, tenant)).count).toBe(5);
    }
  });

  it('does not count what a symlink made before the walk points at (a directory outside the home)', async () => {
    const etc = outside();
    const home = tree({ www: 'dir', 'www/index.php': 'file', escape: { link: etc }, 'www/deeper': { link: `${etc}/` } });
    const r = await walkOwnedEntries(home, tenant);
    expect(r).toEqual({ count: 5, entries: 5 }); // home, www, index.php, and the two links themselves
  });

  it('does not walk into a directory swapped for a symlink between listing its parent and descending', async () => {
    const etc = outside();
    const away = tree({});
    const home = tree({ a: 'dir', 'a/sub': 'dir', 'a/sub/f1': 'file', 'a/sub/f2': 'file', 'a/sub/f3': 'file', b: 'file' });
    const swapped: string[] = [];
    const r = await walkOwnedEntries(home, tenant, {
      beforeOpen: (parentPath, name) => {
        if (name !== 'sub') return;
        // What a tenant racing the walk does: the directory goes, a symlink to elsewhere takes its name.
        renameSync(join(parentPath, name), join(away, 'sub'));
        symlinkSync(etc, join(parentPath, name));
        if (isRoot()) lchownSync(join(parentPath, name), TENANT_UID, TENANT_UID);
        swapped.push(name);
      },
    });
    expect(swapped).toEqual(['sub']);
    // home, a, b, and "sub" counted as the symlink it now is: neither /etc's files nor the moved ones.
    expect(r.count).toBe(4);
    expect(r.stopped).toBeUndefined();
  });

  it('counts a home that is itself a symlink as one entry and never walks its target', async () => {
    const etc = outside(20);
    const parent = tree({ home: { link: etc } });
    expect(await walkOwnedEntries(join(parent, 'home'), tenant)).toEqual({ count: 1, entries: 1 });
  });

  it('stops at the depth bound with a partial count: deeper directories are counted, not entered', async () => {
    const home = tree({ 'd1/d2/d3/d4/d5/d6': 'dir', 'd1/d2/d3/d4/d5/d6/f': 'file' });
    const r = await walkOwnedEntries(home, tenant, { maxDepth: 3 });
    expect(r).toEqual({ count: 5, entries: 5, stopped: 'depth' }); // home, d1, d2, d3, d4 (not entered)
    expect(await walkOwnedEntries(home, tenant, { maxDepth: 6 })).toEqual({ count: 8, entries: 8 });
  });

  it('stops at the entry bound with a partial count, shared by all homes of a tenant', async () => {
    const spec: Record<string, 'file'> = {};
    for (let i = 0; i < 50; i++) spec[`f${i}`] = 'file';
    const [h1, h2] = [tree(spec), tree(spec)];
    const walk = new TenantWalk([TENANT_UID], { maxEntries: 70 });
    const total = (await walk.count(h1)) + (await walk.count(h2));
    expect(total).toBe(70);
    expect(walk.entries).toBe(70);
    expect(walk.stopped).toBe('entries');
  });

  it('closes every descriptor it opens, whether it finishes, stops at a bound or fails', async () => {
    const home = tree({ 'a/b/c': 'dir', 'a/b/c/f': 'file', 'x/y': 'dir' });
    const before = openFds();
    await walkOwnedEntries(home, tenant);
    await walkOwnedEntries(home, tenant, { budget: { entries: 3 } });
    const failed = await walkOwnedEntries(home, tenant, {
      beforeOpen: (_p, name) => {
        if (name === 'c') throw new Error('EMFILE: too many open files');
      },
    });
    expect(failed).toMatchObject({ stopped: 'error', error: 'EMFILE: too many open files' });
    expect(openFds()).toBe(before);
  });

  it('the collector keeps the partial count, flags it and logs it', async () => {
    const spec: Record<string, 'file'> = {};
    for (let i = 0; i < 30; i++) spec[`f${i}`] = 'file';
    const home = tree(spec);
    const lines: Array<{ tenant?: string; stopped?: string; msg?: string }> = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) });
    const c = new InodesCollector('/proc', 60_000, () => ({ status: 1, stdout: '' }), log, { maxEntries: 10 });
    await c.refresh([{ name: 'big', uids: [TENANT_UID], homes: [home], domains: [], source: 'config' }]);
    expect(c.partial()).toEqual(new Map([['big', 'entries']]));
    expect(lines).toMatchObject([{ tenant: 'big', stopped: 'entries', msg: expect.stringMatching(/partial/) }]);
    const full = new InodesCollector('/proc', 60_000, () => ({ status: 1, stdout: '' }), log);
    await full.refresh([{ name: 'big', uids: [TENANT_UID], homes: [home], domains: [], source: 'config' }]);
    expect(full.partial().size).toBe(0);
  });
});
