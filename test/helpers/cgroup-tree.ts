// Temp cgroup trees for driver tests: copies of the fixture trees under test/fixtures (captured from real
// kernels or written in the exact formats of cgroup-v2.rst), plus small tools to write, snapshot and change
// files behind the driver's back (a worker thread plays the kernel while the driver waits synchronously).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** Read a fixture file as text (path relative to test/fixtures). */
export function fixture(path: string): string {
  return readFileSync(join(FIXTURES, path), 'latin1');
}

export interface TempTree {
  root: string;
  cleanup(): void;
}

/** A fresh temp directory, optionally holding a copy of a fixture directory (relative to test/fixtures). */
export function tempTree(fromFixture?: string): TempTree {
  const root = mkdtempSync(join(tmpdir(), 'hostwarden-tree-'));
  if (fromFixture) cpSync(join(FIXTURES, fromFixture), root, { recursive: true });
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Write files (path relative to root -> content), creating directories. */
export function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

export function readTree(root: string, path: string): string {
  return readFileSync(join(root, path), 'latin1');
}

/** Every file under root with its content, for "nothing changed" assertions. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(root, p)] = readFileSync(p, 'latin1');
    }
  };
  walk(root);
  return out;
}

/**
 * Replace `file` with `content` after `delayMs`, from another thread: the kernel's part while the driver
 * waits synchronously (e.g. cgroup.events turning "frozen 1"). The new content appears atomically (written
 * beside, then renamed over), so a reader never sees a half-written file. Await the promise to join the thread.
 */
export function writeLater(file: string, content: string, delayMs: number): Promise<void> {
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const { renameSync, writeFileSync } = require('node:fs');
     setTimeout(() => {
       writeFileSync(workerData.file + '.new', workerData.content);
       renameSync(workerData.file + '.new', workerData.file);
     }, workerData.delayMs);`,
    { eval: true, workerData: { file, content, delayMs } },
  );
  return new Promise((resolve, reject) => {
    worker.on('error', reject);
    worker.on('exit', () => resolve());
  });
}
