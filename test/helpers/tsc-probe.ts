// Boundaries the compiler enforces, checked by compiling a probe: a one-line file placed inside a project
// (a folder with its tsconfig.json) that imports across a boundary, compiled with the project's own settings
// by the project's compiler: `tsc -b` on a temporary tsconfig beside the real one that extends it (rootDir,
// composite and the rest), repeats its references (which `extends` does not carry) and has the probe as its
// only file. The boundary errors concern the probe's imports, not the project's other files, whose check
// would cost seconds per row. The temporary files are dot-named .mts and .json, so neither the real project
// (`include: ["**/*.ts"]`) nor the house checks ever see them, and they are removed even when the compiler
// fails (a later run sweeps what an interrupted one left).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { NODE, ROOT } from './system.js';

const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const PREFIX = '.house-probe-';

export interface ProbeResult {
  /** The compiler's exit code: 0 when the probe compiled. */
  code: number;
  /** The diagnostics reported in the probe file itself, as `TSnnnn: message` (the rest of the project is not asked about). */
  probeErrors: string[];
  /** Everything the compiler said, for a failure message. */
  output: string;
}

/**
 * Compile `project` (a folder of ROOT holding tsconfig.json) with a probe file in it that imports `specifier`
 * (relative to the project folder, as the import would be written there).
 */
export function compileProbe(project: string, specifier: string): ProbeResult {
  const dir = join(ROOT, project);
  const real = parseJsonc(readFileSync(join(dir, 'tsconfig.json'), 'utf8')) as { include?: string[]; exclude?: string[]; references?: Array<{ path: string }> };
  const name = `${PREFIX}${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const probe = join(dir, `${name}.mts`);
  const config = join(dir, `${name}.json`);
  const buildInfo = mkdtempSync(join(tmpdir(), 'hw-probe-'));
  try {
    writeFileSync(probe, `// A boundary probe of test/helpers/tsc-probe.ts: removed after the compile.\nimport * as probe from '${specifier}';\nexport { probe };\n`);
    writeFileSync(
      config,
      JSON.stringify({
        extends: './tsconfig.json',
        // noEmit: nothing of the probe's project is written; the references are built into dist as `tsc -b` does.
        compilerOptions: { noEmit: true, tsBuildInfoFile: join(buildInfo, 'probe.tsbuildinfo') },
        // The project's own files too: a project may take files from beyond its folder (agent/policy takes
        // ../limits.ts), and an import of one of them must compile.
        include: real.include ?? [],
        exclude: real.exclude ?? [],
        files: [`./${name}.mts`],
        references: real.references ?? [],
      }),
    );
    let code = 0;
    let output = '';
    try {
      output = execFileSync(NODE, [TSC, '-b', config, '--pretty', 'false'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 }).toString();
    } catch (err) {
      const e = err as { status?: number | null; stdout?: Buffer; stderr?: Buffer; message: string };
      code = e.status ?? -1;
      output = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}` || e.message;
    }
    const at = `${relative(ROOT, probe)}(`;
    const probeErrors = output
      .split('\n')
      .filter((line) => line.startsWith(at))
      .map((line) => line.replace(/^[^:]+: error (TS\d+): /, '$1: '));
    return { code, probeErrors, output };
  } finally {
    rmSync(probe, { force: true });
    rmSync(config, { force: true });
    rmSync(buildInfo, { recursive: true, force: true });
  }
}

/** tsconfig.json is JSON with comments: drop the comments (outside strings) and trailing commas. */
function parseJsonc(text: string): unknown {
  const stripped = text.replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, str: string | undefined) => str ?? '');
  return JSON.parse(stripped.replace(/,(\s*[}\]])/g, '$1'));
}

/** Remove probe files a killed run may have left in these project folders; returns what was removed. */
export function sweepProbes(projects: string[]): string[] {
  const removed: string[] = [];
  for (const project of projects) {
    for (const name of readdirSync(join(ROOT, project))) {
      if (!name.startsWith(PREFIX)) continue;
      rmSync(join(ROOT, project, name), { force: true });
      removed.push(`${project}/${name}`);
    }
  }
  return removed;
}
