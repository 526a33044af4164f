// The import graph of the project's own TypeScript sources, and its cycles. Every way one file can depend on
// another counts, erased at run time or not: `import` and `import type`, `export ... from` and
// `export type ... from`, side-effect imports, `import('...')` expressions and `import('...')` types. The
// files are parsed (oxc, through vite's parseSync), not searched with patterns, so an import in a comment or
// a string is no edge and a multi-line import is one. Only relative specifiers are followed (packages and
// node: builtins are leaves); a dynamic import whose specifier is not a literal cannot be followed and is
// reported rather than silently skipped.
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { parseSync } from 'vite';

export type ImportKind = 'import' | 'import type' | 'export from' | 'export type from' | 'dynamic import' | 'import type query';

export interface ImportEdge {
  /** Both relative to the root, with '/' separators. */
  from: string;
  to: string;
  kind: ImportKind;
  line: number;
}

export interface ImportGraph {
  /** Source files relative to the root, sorted. */
  files: string[];
  edges: ImportEdge[];
  /** What cannot be checked: an import whose specifier is computed, not written. */
  problems: string[];
}

const SOURCE = /\.(?:ts|mts|cts)$/;

/**
 * The TypeScript sources under `folders` (relative to `root`): .ts/.mts/.cts, not .d.ts; node_modules, dist
 * and dot-names (editor files, the boundary probes of test/helpers/tsc-probe.ts) are skipped.
 */
export function sourceFiles(root: string, folders: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules' || entry.name === 'dist') continue;
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && SOURCE.test(entry.name) && !/\.d\.[mc]?ts$/.test(entry.name)) out.push(path);
    }
  };
  for (const folder of folders) walk(folder);
  return out.sort();
}

interface Specifier {
  value: string | undefined;
  kind: ImportKind;
  start: number;
}

/** Every module specifier of one file, with its kind and offset. Throws when the file does not parse. */
export function specifiersOf(file: string, code: string): Specifier[] {
  const parsed = parseSync(file, code, { lang: 'ts', sourceType: 'module' });
  if (parsed.errors.length > 0) throw new Error(`${file}: cannot parse: ${parsed.errors.map((e) => e.message).join('; ')}`);
  const out: Specifier[] = [];
  const literal = (node: unknown): string | undefined => {
    const n = node as { type?: string; value?: unknown; literal?: unknown; expressions?: unknown[]; quasis?: Array<{ value: { cooked: string | null } }> };
    if (n?.type === 'Literal' && typeof n.value === 'string') return n.value;
    if (n?.type === 'TSLiteralType') return literal(n.literal);
    if (n?.type === 'TemplateLiteral' && n.expressions?.length === 0) return n.quasis?.[0]?.value.cooked ?? undefined;
    return undefined;
  };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const n = node as Record<string, unknown> & { type?: string; start: number };
    switch (n.type) {
      case 'ImportDeclaration': {
        // `import type {A}` is type-only, and so is `import {type A, type B}` (the kind is for messages: both count).
        const specs = (n.specifiers as Array<{ importKind?: string }> | null) ?? [];
        const typeOnly = n.importKind === 'type' || (specs.length > 0 && specs.every((s) => s.importKind === 'type'));
        out.push({ value: literal(n.source), kind: typeOnly ? 'import type' : 'import', start: n.start });
        break;
      }
      case 'ExportNamedDeclaration':
      case 'ExportAllDeclaration':
        if (n.source) out.push({ value: literal(n.source), kind: n.exportKind === 'type' ? 'export type from' : 'export from', start: n.start });
        break;
      case 'ImportExpression':
        out.push({ value: literal(n.source), kind: 'dynamic import', start: n.start });
        break;
      case 'TSImportType':
        out.push({ value: literal(n.source ?? n.argument), kind: 'import type query', start: n.start });
        break;
      case 'TSExternalModuleReference':
        out.push({ value: literal(n.expression), kind: 'import', start: n.start });
        break;
    }
    for (const [key, child] of Object.entries(n)) if (key !== 'type' && child !== null && typeof child === 'object') visit(child);
  };
  visit(parsed.program);
  return out;
}

/** The file a relative specifier names, relative to the root: './x.js' is the source './x.ts' (nodenext). */
function resolveSpecifier(fromFile: string, spec: string): string {
  const target = spec.replace(/\.js$/, '.ts').replace(/\.mjs$/, '.mts').replace(/\.cjs$/, '.cts');
  return posix.normalize(posix.join(posix.dirname(fromFile), target));
}

/** The import graph of the sources under `folders`; edges only between files of the graph. */
export function importGraph(root: string, folders: string[]): ImportGraph {
  const files = sourceFiles(root, folders);
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const code = readFileSync(join(root, file), 'utf8');
    const lineOf = (offset: number) => code.slice(0, offset).split('\n').length;
    for (const spec of specifiersOf(file, code)) {
      const where = `${file}:${lineOf(spec.start)}`;
      if (spec.value === undefined) {
        problems.push(`${where}: ${spec.kind} of a computed specifier cannot be checked for cycles`);
        continue;
      }
      if (!spec.value.startsWith('.')) continue; // a package or a builtin
      // A file outside the folders is not in the graph (a missing file is the compiler's to report).
      const to = resolveSpecifier(file, spec.value);
      if (known.has(to)) edges.push({ from: file, to, kind: spec.kind, line: lineOf(spec.start) });
    }
  }
  return { files, edges, problems };
}

export interface ImportCycle {
  /** The files of one strongly connected component, sorted: every one reaches every other. */
  members: string[];
  /** One concrete closed path through it from its first member, e.g. ['a.ts', 'b.ts', 'a.ts']. */
  path: string[];
}

/**
 * The import cycles of a graph: one per strongly connected component (Tarjan) of more than one file, or of
 * a file importing itself (path ['a.ts', 'a.ts']).
 */
export function importCycles(graph: Pick<ImportGraph, 'files' | 'edges'>): ImportCycle[] {
  const next = new Map<string, string[]>(graph.files.map((f) => [f, []]));
  for (const e of graph.edges) next.get(e.from)?.push(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  let counter = 0;
  const strong = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || next.get(v)!.includes(v)) components.push(component);
    }
  };
  for (const f of graph.files) if (!index.has(f)) strong(f);
  return components
    .map((component) => component.sort())
    .sort((a, b) => a[0]!.localeCompare(b[0]!))
    .map((members) => ({ members, path: shortestCycle(members[0]!, new Set(members), next) }));
}

/** The shortest path from `start` back to itself inside one component (breadth first). */
function shortestCycle(start: string, inside: Set<string>, next: Map<string, string[]>): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of next.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const between: string[] = [];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = cameFrom.get(u)) between.unshift(u);
        return [start, ...between, start];
      }
      if (!cameFrom.has(w)) {
        cameFrom.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** A cycle in words, each step with the importing line and kind: for a failure message a reader can act on. */
export function describeCycle(cycle: string[], edges: ImportEdge[]): string {
  const steps = cycle.slice(1).map((to, i) => {
    const from = cycle[i]!;
    const e = edges.find((x) => x.from === from && x.to === to);
    return `${from}:${e?.line ?? '?'} (${e?.kind ?? '?'}) -> ${to}`;
  });
  return steps.join('\n  ');
}
