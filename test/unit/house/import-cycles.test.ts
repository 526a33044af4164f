// The house check "no import cycle among agent, controller, shared and ctl", counting every kind of import
// (type-only and dynamic too), and the checker itself proven able to fail on small trees written here.
import { afterAll, describe, expect, it } from 'vitest';
import { tempTree, writeTree } from '../../helpers/cgroup-tree.js';
import { describeCycle, importCycles, importGraph } from '../../helpers/import-graph.js';
import { ROOT } from '../../helpers/system.js';

const FOLDERS = ['agent', 'controller', 'shared', 'ctl', 'ui'];

describe('no import cycle among the sources', () => {
  it(`${FOLDERS.join(', ')}: every import, type-only and dynamic ones included`, () => {
    const graph = importGraph(ROOT, FOLDERS);
    expect(graph.files.length).toBeGreaterThan(50); // the walk found the tree
    expect(graph.edges.some((e) => e.kind === 'import type')).toBe(true); // and type-only edges in it
    expect(graph.problems).toEqual([]);
    const cycles = importCycles(graph);
    const described = cycles.map((c) => `${describeCycle(c.path, graph.edges)}\n  (component: ${c.members.join(', ')})`);
    expect(described, `import cycles:\n  ${described.join('\n\n  ')}`).toEqual([]);
  });
});

describe('the cycle checker, on trees with and without a cycle', () => {
  const trees: Array<{ cleanup(): void }> = [];
  afterAll(() => trees.forEach((t) => t.cleanup()));
  /** A tree of src/a.ts (importing `a`), src/b.ts (importing b.ts with `back`), src/c.ts; its cycles. */
  const cyclesOf = (files: Record<string, string>) => {
    const tree = tempTree();
    trees.push(tree);
    writeTree(tree.root, files);
    const graph = importGraph(tree.root, ['src']);
    return { cycles: importCycles(graph), graph };
  };
  const pair = (back: string) => ({ 'src/a.ts': "import { b } from './b.js';\nexport const a = b;\n", 'src/b.ts': `${back}\nexport const b = 1;\n` });

  const closing: Array<[kind: string, back: string]> = [
    ['import', "import { a } from './a.js';"],
    ['import type', "import type { A } from './a.js';"],
    ['import { type A } (every specifier a type)', "import { type A } from './a.js';"],
    ['side-effect import', "import './a.js';"],
    ['export from', "export { a } from './a.js';"],
    ['export type from', "export type { A } from './a.js';"],
    ['export * from', "export * from './a.js';"],
    ['dynamic import', "export const later = () => import('./a.js');"],
    ['dynamic import, template literal', 'export const later = () => import(`./a.js`);'],
    ['import type query', "export type A = import('./a.js').A;"],
    ['multi-line import', "import {\n  a,\n} from\n  './a.js';"],
  ];
  it.each(closing)('%s closes a cycle', (_kind, back) => {
    const { cycles } = cyclesOf(pair(back));
    expect(cycles).toEqual([{ members: ['src/a.ts', 'src/b.ts'], path: ['src/a.ts', 'src/b.ts', 'src/a.ts'] }]);
  });

  const open: Array<[what: string, back: string]> = [
    ['an import in a comment', "// import { a } from './a.js';\n/* import './a.js'; */"],
    ['an import in a string', "export const text = \"import { a } from './a.js'\";"],
    ['a package and a builtin', "import { pino } from 'pino';\nimport { join } from 'node:path';\nexport const p = [pino, join];"],
    ['a file of the same name elsewhere', "import { a } from '../other/a.js';"],
  ];
  it.each(open)('%s closes none', (_what, back) => {
    const { cycles, graph } = cyclesOf({ ...pair(back), 'other/a.ts': 'export const a = 2;\n' });
    expect(cycles).toEqual([]);
    expect(graph.edges.map((e) => `${e.from} -> ${e.to}`)).toEqual(['src/a.ts -> src/b.ts']);
  });

  it('finds a long cycle as one path with lines and kinds, a self-import, and two cycles apart', () => {
    const { cycles, graph } = cyclesOf({
      'src/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'src/b.ts': "import { c } from './deep/c.js';\nexport const b = c;\n",
      'src/deep/c.ts': "\nimport type { A } from '../a.js';\nexport const c = 1;\nexport type C = A;\n",
      'src/self.ts': "import * as self from './self.js';\nexport const s = self;\n",
      'src/x.ts': "export { y } from './y.js';\nexport const x = 1;\n",
      'src/y.ts': "export const y = () => import('./x.js');\n",
    });
    expect(cycles.map((c) => c.path)).toEqual([
      ['src/a.ts', 'src/b.ts', 'src/deep/c.ts', 'src/a.ts'],
      ['src/self.ts', 'src/self.ts'],
      ['src/x.ts', 'src/y.ts', 'src/x.ts'],
    ]);
    expect(describeCycle(cycles[0]!.path, graph.edges)).toBe(
      'src/a.ts:1 (import) -> src/b.ts\n  src/b.ts:1 (import) -> src/deep/c.ts\n  src/deep/c.ts:2 (import type) -> src/a.ts',
    );
  });

  it('says what it cannot follow: an import of a computed specifier', () => {
    const { graph } = cyclesOf({ 'src/a.ts': "const name = './b.js';\nexport const load = () => import(name);\n" });
    expect(graph.problems).toEqual(['src/a.ts:2: dynamic import of a computed specifier cannot be checked for cycles']);
  });

  it('skips declaration files, dot-files (the boundary probes) and what is not TypeScript', () => {
    const { graph } = cyclesOf({ 'src/a.ts': '', 'src/a.d.ts': '', 'src/.probe.mts': "import './a.js';", 'src/b.js': '', 'src/c.mts': '' });
    expect(graph.files).toEqual(['src/a.ts', 'src/c.mts']);
  });
});
