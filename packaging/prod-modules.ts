// Copies the production part of node_modules into a package tree: every package the committed lockfile does
// not mark `dev`, from the installed tree (`npm ci` already ran and built better-sqlite3 against the pinned
// runtime), without nested node_modules (the lockfile lists those as packages of their own) and without
// what is only needed to build a native module. Run by the pinned Node 24, which strips the types:
//
//   node packaging/prod-modules.ts SOURCE_ROOT DEST_NODE_MODULES
//
// Prints one line per package copied, `NAME VERSION LICENSE` (for the copyright file); exits 1 naming the
// first production package missing from the tree.
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

interface LockPackage {
  version?: string;
  license?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

/** Paths (relative to the package) that a native module needs at run time; the rest is its build. */
const RUNTIME_ONLY: Record<string, { keep: string[]; keepDirs: string[] }> = {
  'node_modules/better-sqlite3': {
    keep: ['package.json', 'LICENSE', 'build/Release/better_sqlite3.node'],
    keepDirs: ['lib'],
  },
};

/** The lockfile's production packages, by path in the tree. */
export function productionPackages(lock: { packages?: Record<string, LockPackage> }): Map<string, LockPackage> {
  const out = new Map<string, LockPackage>();
  for (const [path, p] of Object.entries(lock.packages ?? {})) {
    if (path === '' || p.dev || p.link) continue;
    out.set(path, p);
  }
  return out;
}

function keeps(pkg: string, rel: string): boolean {
  const rule = RUNTIME_ONLY[pkg];
  if (!rule || rel === '') return true;
  if (rule.keepDirs.some((d) => rel === d || rel.startsWith(`${d}/`))) return true;
  // Directories on the way to a kept file are kept (their unkept contents are filtered one by one).
  return rule.keep.some((f) => f === rel || f.startsWith(`${rel}/`));
}

export function copyProductionModules(sourceRoot: string, dest: string, log: (line: string) => void = () => {}): number {
  const lock = JSON.parse(readFileSync(join(sourceRoot, 'package-lock.json'), 'utf8')) as { packages?: Record<string, LockPackage> };
  const packages = productionPackages(lock);
  let copied = 0;
  for (const [path, p] of packages) {
    const from = join(sourceRoot, path);
    if (!existsSync(from)) {
      if (p.optional) continue; // an optional package for another platform
      throw new Error(`production package ${path}@${p.version} is not installed in ${sourceRoot} (run npm ci)`);
    }
    const to = join(dest, relative('node_modules', path));
    mkdirSync(to, { recursive: true });
    cpSync(from, to, {
      recursive: true,
      dereference: false,
      filter: (src) => {
        const rel = relative(from, src).split(sep).join('/');
        if (rel === 'node_modules' || rel.startsWith('node_modules/')) return false;
        return keeps(path, rel);
      },
    });
    log(`${path.slice('node_modules/'.length)} ${p.version ?? '?'} ${p.license ?? 'unknown'}`);
    copied++;
  }
  return copied;
}

if (import.meta.main) {
  const [sourceRoot, dest] = process.argv.slice(2);
  if (!sourceRoot || !dest) {
    process.stderr.write('usage: node packaging/prod-modules.ts SOURCE_ROOT DEST_NODE_MODULES\n');
    process.exit(2);
  }
  try {
    const n = copyProductionModules(sourceRoot, dest, (line) => process.stdout.write(`${line}\n`));
    process.stderr.write(`prod-modules: ${n} production packages copied to ${dest}\n`);
  } catch (err) {
    process.stderr.write(`prod-modules: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
