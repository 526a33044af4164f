// Where released processes go back to (agent/kernel/cgroup/home.ts): beside their parent process on cgroup v2
// when that is outside hostwarden's tree, else release_to.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hierarchyRootOf, parentsCgroupProcs } from '../../../../../agent/kernel/cgroup/home.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-home-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const proc = join(dir, 'proc');
const root = join(dir, 'cgroup');

function processAt(pid: number, ppid: number, cgroupText: string): void {
  mkdirSync(join(proc, String(pid)), { recursive: true });
  writeFileSync(join(proc, String(pid), 'stat'), `${pid} (php-fpm8.2) S ${ppid} ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n`);
  writeFileSync(join(proc, String(pid), 'cgroup'), cgroupText);
}
function cgroupDir(path: string): void {
  mkdirSync(join(root, path), { recursive: true });
  writeFileSync(join(root, path, 'cgroup.procs'), '');
}

describe('hierarchyRootOf', () => {
  it('strips the tenant and every name of the parent path', () => {
    expect(hierarchyRootOf('/sys/fs/cgroup/hostwarden/alice', 'hostwarden')).toBe('/sys/fs/cgroup');
    expect(hierarchyRootOf('/sys/fs/cgroup/hostwarden.slice/hostwarden-tenants.service/hostwarden/alice', 'hostwarden.slice/hostwarden-tenants.service/hostwarden')).toBe('/sys/fs/cgroup');
    expect(hierarchyRootOf('/sys/fs/cgroup/cpu,cpuacct/hostwarden/alice', 'hostwarden')).toBe('/sys/fs/cgroup/cpu,cpuacct');
  });
});

describe('parentsCgroupProcs', () => {
  const ours = ['/hostwarden.slice/hostwarden-tenants.service/hostwarden', '/hostwarden.slice'];
  cgroupDir('system.slice/php8.2-fpm.service');
  processAt(100, 1, '0::/system.slice/php8.2-fpm.service\n');
  processAt(101, 100, '0::/hostwarden.slice/hostwarden-tenants.service/hostwarden/alice\n');
  processAt(200, 1, '0::/hostwarden.slice/hostwarden-tenants.service/hostwarden/alice\n');
  processAt(201, 200, '0::/hostwarden.slice/hostwarden-tenants.service/hostwarden/alice\n');
  processAt(300, 1, '0::/system.slice/gone.service\n');
  processAt(301, 300, '0::/hostwarden.slice/hostwarden-tenants.service/hostwarden/alice\n');
  processAt(400, 1, '12:freezer:/\n0::/\n');
  processAt(401, 400, '0::/hostwarden/alice\n');

  it("a PHP-FPM worker goes back to its master's service", () => {
    expect(parentsCgroupProcs(proc, root, 101, ours)).toBe(join(root, 'system.slice/php8.2-fpm.service/cgroup.procs'));
  });
  it('not when the parent is PID 1, one of ours, gone, in the root, or its cgroup does not exist', () => {
    expect(parentsCgroupProcs(proc, root, 200, ours)).toBeUndefined(); // parent PID 1
    expect(parentsCgroupProcs(proc, root, 201, ours)).toBeUndefined(); // parent in our tree
    expect(parentsCgroupProcs(proc, root, 301, ours)).toBeUndefined(); // its cgroup is not there
    expect(parentsCgroupProcs(proc, root, 401, ['/hostwarden'])).toBeUndefined(); // the root cgroup: release_to decides
    expect(parentsCgroupProcs(proc, root, 999, ours)).toBeUndefined(); // no such process
  });
});
