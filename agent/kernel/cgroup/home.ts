// Where a released process goes back to (the uninstall path, --release-all): on the cgroup v2 hierarchy, the
// cgroup of its parent process when that is outside hostwarden's tree — a PHP-FPM worker returns to
// php8.2-fpm.service beside its master, a cron job to cron.service — so that systemd's units own their processes
// again (`systemctl stop php8.2-fpm` reaches the workers). Elsewhere, or when the parent is gone or in our tree,
// the caller's `moveTo` (release_to, "/" by default).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseProcCgroup, parseProcStat } from '../procfs.js';

/** The hierarchy root of a tenant's directory `<root>/<parent...>/<tenant>`. */
export function hierarchyRootOf(tenantDir: string, parent: string): string {
  let root = dirname(tenantDir);
  for (let i = parent.split('/').length; i > 0; i--) root = dirname(root);
  return root;
}

/**
 * The cgroup.procs file of the cgroup v2 cgroup that `pid`'s parent process is in, below `root` (the cgroup2
 * mount), when it exists and is outside `/<parent>` and `/<outside>` (a path hostwarden's tree hangs from, e.g.
 * the delegated unit); undefined otherwise (the parent is gone, PID 1's, or one of ours).
 */
export function parentsCgroupProcs(procRoot: string, root: string, pid: number, ours: readonly string[]): string | undefined {
  try {
    const ppid = parseProcStat(readFileSync(join(procRoot, String(pid), 'stat'), 'utf8')).ppid;
    if (ppid <= 1) return undefined;
    const line = parseProcCgroup(readFileSync(join(procRoot, String(ppid), 'cgroup'), 'utf8')).find((l) => l.id === 0 && l.controllers.length === 0);
    if (!line || line.path === '/' || ours.some((p) => line.path === p || line.path.startsWith(`${p}/`))) return undefined;
    const file = join(root, line.path, 'cgroup.procs');
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}
