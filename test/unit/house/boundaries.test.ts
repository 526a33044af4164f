// The house check "tsc refuses an import that crosses a boundary": per row, a probe file inside a project
// imports the target, is compiled by the project's compiler with the project's settings, and must fail with
// the project-reference error (the target is outside the project's rootDir / not in its file list) or, for
// a control row, compile cleanly, which proves the probe itself is sound. Targets are small modules (their
// imports are compiled too) in places the house sketch keeps.
import { existsSync } from 'node:fs';
import { join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/system.js';
import { compileProbe, sweepProbes } from '../../helpers/tsc-probe.js';

interface Boundary {
  /** The project folder (holding tsconfig.json) the probe is placed in. */
  project: string;
  /** The import as written in a file of that folder. */
  imports: string;
  allowed: boolean;
  why: string;
}

const BOUNDARIES: Boundary[] = [
  { project: 'ctl', imports: '../shared/time.js', allowed: true, why: 'control: ctl refers to shared' },
  { project: 'controller', imports: '../shared/units.js', allowed: true, why: 'control: controller refers to shared' },
  { project: 'ctl', imports: '../controller/fairness.js', allowed: false, why: 'the CLI never imports server code' },
  { project: 'ctl', imports: '../agent/config.js', allowed: false, why: 'the CLI never imports server code' },
  { project: 'agent', imports: '../controller/fairness.js', allowed: false, why: 'agent and controller meet only in shared' },
  { project: 'controller', imports: '../agent/config.js', allowed: false, why: 'agent and controller meet only in shared' },
  { project: 'shared', imports: '../controller/fairness.js', allowed: false, why: 'shared refers to nothing' },
  { project: 'agent/policy', imports: '../limits.js', allowed: true, why: 'control: the policy refers to the limit types it shares with the kernel layer' },
  { project: 'agent/policy', imports: '../kernel/cgroup/driver.js', allowed: false, why: 'the pure policy never knows the cgroup layer' },
  { project: 'agent/policy', imports: '../tenants.js', allowed: false, why: 'the pure policy never knows the agent around it' },
];

const PROJECT_BOUNDARY = /^TS(6059|6307): File '(.+)' is not (under 'rootDir'|listed within the file list of project)/;

describe('boundaries the compiler enforces', () => {
  beforeAll(() => {
    sweepProbes([...new Set(BOUNDARIES.map((b) => b.project))]);
  });

  it.each(BOUNDARIES)('$project imports $imports: $why', ({ project, imports, allowed }) => {
    const target = posix.join(project, imports).replace(/\.js$/, '.ts');
    expect(existsSync(join(ROOT, target)), `the probe's target ${target} must exist (update the table)`).toBe(true);
    const r = compileProbe(project, imports);
    if (allowed) {
      expect([r.code, r.probeErrors], r.output).toEqual([0, []]);
    } else {
      expect(r.code, `the compiler accepted ${project} importing ${imports}`).not.toBe(0);
      const crossing = r.probeErrors.filter((e) => PROJECT_BOUNDARY.exec(e)?.[2] === join(ROOT, target));
      expect(crossing.length, `no project-boundary error in the probe; the compiler said:\n${r.output}`).toBeGreaterThan(0);
    }
    expect(sweepProbes([project]), 'the probe was left in the tree').toEqual([]);
  }, 300_000);
});
