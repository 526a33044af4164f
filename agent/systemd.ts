// systemd hosts (systemd as PID 1 on pure cgroup v2): hostwarden works with systemd's cgroup tree, following
// systemd's "Control Group APIs and Delegation" rules (README "systemd hosts"):
//   - the tenants' cgroups live in a subtree systemd DELEGATED to hostwarden: the unit
//     hostwarden-tenants.service (Delegate=yes, in hostwarden.slice) holds it, and its holder process moves
//     itself into a leaf so that the subtree may enable controllers. The agent's own unit is not the
//     delegate: restarting the agent must not stop, kill or re-adopt the tenants' processes;
//   - PHP-FPM pool workers and cron jobs are moved into their tenant's cgroup of that subtree (their units
//     keep working: the master and the cron daemon stay in their services);
//   - login sessions stay in their session scopes (logind tracks a session by its scope: a process moved out is
//     no longer the session's, and `loginctl terminate-user` no longer reaches it). Their limits are put on the
//     user's slice `user-UID.slice` through systemd (`systemctl set-property --runtime`), so systemd itself
//     writes them and keeps them across daemon-reload.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Limits } from './limits.js';

/** The delegated subtree's cgroup path (from the cgroup2 root) that hostwarden-tenants.service holds. */
export const DELEGATED_BASE = 'hostwarden.slice/hostwarden-tenants.service';

/** Whether this host runs systemd as its init (sd_booted(3): the directory /run/systemd/system exists). */
export function systemdBooted(runDir = '/run/systemd/system'): boolean {
  return existsSync(runDir);
}

/**
 * Waits (bounded) until the delegated subtree offers the cpu and memory controllers: hostwarden-tenants.service
 * counts as started when its holder is exec'd, a moment before the holder has moved itself into its leaf and
 * enabled them. Returns whether they are there; the driver's setup then says what is missing.
 */
export function waitForDelegation(cgroupRoot: string, timeoutMs = 20_000): boolean {
  const file = join(cgroupRoot, DELEGATED_BASE, 'cgroup.subtree_control');
  const until = Date.now() + timeoutMs;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not there yet
    }
    const words = text.split(/\s+/);
    if (words.includes('cpu') && words.includes('memory')) return true;
    if (Date.now() >= until) return false;
    Atomics.wait(pause, 0, 0, 100);
  }
}

/** The cgroup v2 path of a process ("/user.slice/user-1000.slice/session-3.scope"), or null when gone. */
export function cgroupPathOf(procRoot: string, pid: number): string | null {
  let text: string;
  try {
    text = readFileSync(join(procRoot, String(pid), 'cgroup'), 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) if (line.startsWith('0::')) return line.slice(3);
  return null;
}

/**
 * Whether a process belongs to a login (a session scope, or the user's service manager user@UID.service), which
 * must stay where logind and systemd put it: everything under user.slice.
 */
export function inLoginCgroup(path: string | null): boolean {
  return path !== null && (path === '/user.slice' || path.startsWith('/user.slice/'));
}

/** Placement's option on systemd hosts: a process of a login stays in its session scope (never moved). */
export function keepLogins(procRoot: string): { keep: (pid: number) => boolean } {
  return { keep: (pid) => inLoginCgroup(cgroupPathOf(procRoot, pid)) };
}

/** systemd resource properties of a user slice for a tenant's limits (io is not mapped: see the README). */
export function sliceProperties(l: Limits): string[] {
  const out: string[] = [];
  if (l.cpuPercent !== undefined) out.push(l.cpuPercent === null ? 'CPUQuota=' : `CPUQuota=${Math.max(1, Math.round(l.cpuPercent))}%`);
  if (l.cpuWeight !== undefined) out.push(`CPUWeight=${l.cpuWeight === null ? 100 : l.cpuWeight}`);
  if (l.memoryHigh !== undefined) out.push(`MemoryHigh=${l.memoryHigh === null ? 'infinity' : Math.round(l.memoryHigh)}`);
  if (l.memoryMax !== undefined) out.push(`MemoryMax=${l.memoryMax === null ? 'infinity' : Math.round(l.memoryMax)}`);
  if (l.pidsMax !== undefined) out.push(`TasksMax=${l.pidsMax === null ? 'infinity' : Math.round(l.pidsMax)}`);
  return out;
}

export type SystemctlRunner = (args: string[]) => void;

const defaultRunner: SystemctlRunner = (args) => {
  execFileSync('systemctl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
};

/**
 * Keeps every tenant UID's user slice under the tenant's limits. A property set is written only when it
 * changed (systemd keeps it in /run/systemd/system.control until reboot, and applies it when the slice starts:
 * a login that starts later is governed from its first process). A UID that left its tenant is set back.
 */
export class UserSlices {
  private readonly applied = new Map<number, string>();
  private readonly lastError = new Map<number, string>();

  constructor(
    private readonly log: Pick<Logger, 'info' | 'warn' | 'debug'>,
    private readonly run: SystemctlRunner = defaultRunner,
  ) {}

  /** Every tenant's UIDs under the limits `desired` has for that tenant (a tenant without any is left out). */
  reconcileTenants(tenants: ReadonlyArray<{ name: string; uids: readonly number[] }>, desired: ReadonlyMap<string, { limits: Limits }>): void {
    this.reconcile(tenants.flatMap((t) => {
      const d = desired.get(t.name);
      return d ? [{ tenant: t.name, uids: t.uids, limits: d.limits }] : [];
    }));
  }

  reconcile(entries: ReadonlyArray<{ tenant: string; uids: readonly number[]; limits: Limits }>): void {
    const seen = new Set<number>();
    for (const e of entries) {
      const props = sliceProperties(e.limits);
      const key = props.join(' ');
      for (const uid of e.uids) {
        seen.add(uid);
        if (this.applied.get(uid) === key) continue;
        if (this.set(uid, props, e.tenant)) this.applied.set(uid, key);
      }
    }
    for (const uid of [...this.applied.keys()]) {
      if (seen.has(uid)) continue;
      // No longer a tenant's: lift what hostwarden set.
      if (this.set(uid, ['CPUQuota=', 'CPUWeight=100', 'MemoryHigh=infinity', 'MemoryMax=infinity'], '')) this.applied.delete(uid);
    }
  }

  private set(uid: number, props: string[], tenant: string): boolean {
    if (props.length === 0) return true;
    const unit = `user-${uid}.slice`;
    try {
      this.run(['set-property', '--runtime', unit, ...props]);
      this.lastError.delete(uid);
      this.log.info({ tenant, unit, properties: props }, 'user slice limits set');
      return true;
    } catch (err) {
      const msg = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().slice(0, 300);
      if (this.lastError.get(uid) !== msg) this.log.warn({ tenant, unit, err: msg }, 'cannot set user slice limits; will retry every tick');
      this.lastError.set(uid, msg);
      return false;
    }
  }
}
