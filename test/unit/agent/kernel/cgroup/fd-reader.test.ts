import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { KeptFile } from '../../../../../agent/kernel/cgroup/fd-reader.js';
import { tempTree, type TempTree } from '../../../../helpers/cgroup-tree.js';

describe('KeptFile', () => {
  let tree: TempTree;
  const open: KeptFile[] = [];
  afterEach(() => {
    for (const f of open.splice(0)) f.close();
    tree?.cleanup();
  });
  const keep = (path: string): KeptFile => {
    const f = new KeptFile(path);
    open.push(f);
    return f;
  };

  it('reads the current content on every read, through one kept descriptor', () => {
    tree = tempTree();
    const path = join(tree.root, 'memory.current');
    writeFileSync(path, '4096\n');
    const f = keep(path);
    expect(f.present).toBe(true);
    expect(f.read()).toBe('4096\n');
    writeFileSync(path, '8192\n'); // same inode, truncated and rewritten, as the kernel regenerates its text
    expect(f.read()).toBe('8192\n');
    writeFileSync(path, '1\n');
    expect(f.read()).toBe('1\n');
  });

  it('treats a missing file as no data', () => {
    tree = tempTree();
    const f = keep(join(tree.root, 'io.stat'));
    expect(f.present).toBe(false);
    expect(f.read()).toBeUndefined();
  });

  it('reads files larger than its buffer completely', () => {
    tree = tempTree();
    const path = join(tree.root, 'memory.stat');
    const big = Array.from({ length: 5000 }, (_, i) => `key_${i} ${i * 4096}`).join('\n') + '\n';
    expect(big.length).toBeGreaterThan(64 * 1024);
    writeFileSync(path, big);
    const f = keep(path);
    expect(f.read()).toBe(big);
    writeFileSync(path, 'small 1\n');
    expect(f.read()).toBe('small 1\n');
  });

  it('reads nothing after close', () => {
    tree = tempTree();
    const path = join(tree.root, 'pids.current');
    writeFileSync(path, '3\n');
    const f = keep(path);
    f.close();
    expect(f.present).toBe(false);
    expect(f.read()).toBeUndefined();
    f.close(); // twice is fine
  });
});
