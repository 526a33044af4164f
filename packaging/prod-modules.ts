// Copies the production part of node_modules into a package tree: every package the committed lockfile does
// not mark `dev`, from the installed tree (`npm ci` already ran and built better-sqlite3 against the pinned
// runtime), without nested node_modules (the lockfile lists those as packages of their own) and without
// what is only needed to build a native module, nor what no program runs (CRUFT below: tests, benchmarks,
// docs, examples, type declarations, source maps, VCS/lint/CI files, the modules' own command-line tools).
// Run by the pinned Node 24, which strips the types:
//
//   node packaging/prod-modules.ts SOURCE_ROOT DEST_NODE_MODULES
//
// Prints one line per package copied, `NAME VERSION LICENSE` (for the copyright file); exits 1 naming the
// first production package missing from the tree.
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
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

/** Directories directly under a package's root that hold no run-time code (checked on the tree we ship). */
const CRUFT_TOP_DIRS = new Set(['test', 'tests', '__tests__', 'spec', 'specs', 'fixtures', 'bench', 'benchmark', 'benchmarks', 'example', 'examples', 'docs', 'doc', 'integration', 'coverage', 'scripts', 'types']);
/** Directories at any depth that hold no run-time code. */
const CRUFT_DIRS = new Set(['.github', '.circleci', '.vscode', '.idea', '.husky', 'node_modules']);
/** File names at any depth: VCS, lint, editor, CI and test-runner settings, docs, declarations, source maps. */
const CRUFT_FILE =
  /^(?:\.git(?:attributes|ignore|keep|modules)|\.npmignore|\.npmrc|\.eslintrc(?:\..*)?|\.eslintignore|eslint\.config\.[cm]?js|\.prettier(?:rc(?:\..*)?|ignore)|\.editorconfig|\.travis\.yml|\.taprc|\.nycrc(?:\..*)?|\.nojekyll|\.borp\.ya?ml|\.markdownlint.*|\.keep|\.ignore|tsconfig(?:\..*)?\.json|.*\.(?:d\.ts|d\.mts|d\.cts|ts|mts|cts|map|md|markdown|html|sh)|favicon\.ico|Makefile)$/i;
/** Licence and notice files stay whatever their extension (LICENSE.md is a licence, not a doc). */
const LICENSE_FILE = /^(?:licen[cs]e|copying|notice|authors)(?:[.-].*)?$/i;

/** Whether a path of a package (relative, with /; `dir`: it is a directory) is shipped, before the native-module rule. */
export function isRuntimeFile(rel: string, dir: boolean): boolean {
  if (rel === '') return true;
  const parts = rel.split('/');
  const name = parts[parts.length - 1]!;
  if (CRUFT_TOP_DIRS.has(parts[0]!.toLowerCase()) && (parts.length > 1 || dir)) return false;
  if (parts.some((p) => CRUFT_DIRS.has(p))) return false;
  if (dir || LICENSE_FILE.test(name)) return true;
  return !CRUFT_FILE.test(name);
}

/** The files of a package's `bin` (its own command-line tools: nothing of ours runs them) that are not its main. */
export function binFiles(manifest: { main?: unknown; bin?: unknown; name?: unknown }): string[] {
  const bins = typeof manifest.bin === 'string' ? [manifest.bin] : manifest.bin && typeof manifest.bin === 'object' ? Object.values(manifest.bin as Record<string, unknown>) : [];
  const norm = (f: string) => f.replace(/^\.\//, '');
  const main = typeof manifest.main === 'string' ? norm(manifest.main) : 'index.js';
  return bins.filter((b): b is string => typeof b === 'string').map(norm).filter((b) => b !== main && !b.startsWith('../'));
}

/** Removes the empty directories below (not including) dir. */
function pruneEmpty(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const sub = join(dir, e.name);
    pruneEmpty(sub);
    if (readdirSync(sub).length === 0) rmdirSync(sub);
  }
}

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
        return keeps(path, rel) && isRuntimeFile(rel, lstatSync(src).isDirectory());
      },
    });
    const manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8')) as Record<string, unknown>;
    for (const b of binFiles(manifest)) rmSync(join(to, b), { force: true });
    pruneEmpty(to);
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
