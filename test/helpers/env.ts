// Prerequisites of system tests. Locally a missing prerequisite skips the suite with its reason;
// in CI (CI=true) it fails: a skipped test never counts as passing there.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

export const IS_CI = process.env.CI === 'true';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The first missing prerequisite, in words, or undefined when all are there. */
export function missing(checks: Array<[ok: boolean, what: string]>): string | undefined {
  return checks.find(([ok]) => !ok)?.[1];
}

export const needRoot: [boolean, string] = [isRoot(), 'needs root'];
export const needV1Cgroups: [boolean, string] = [existsSync('/sys/fs/cgroup/cpu/cgroup.procs') || existsSync('/sys/fs/cgroup/cpu,cpuacct/cgroup.procs'), 'needs cgroup v1 cpu hierarchy'];

/**
 * describe() that runs when nothing is missing; otherwise skips with the reason locally and fails in CI.
 */
export function describeWith(missingWhat: string | undefined, name: string, body: () => void): void {
  if (missingWhat && IS_CI) {
    describe(name, () => {
      it(`prerequisite: ${missingWhat}`, () => {
        throw new Error(`CI must run "${name}" but it ${missingWhat}`);
      });
    });
    return;
  }
  describe.skipIf(Boolean(missingWhat))(missingWhat ? `${name} (skipped: ${missingWhat})` : name, body);
}
