// The egress shaper: a tenant with a bandwidth cap (plan `bandwidth`, lowered by a throttle) gets an HTB class
// of that rate on every shaped interface, and its packets are steered into it by the packet priority that the
// shaper's own nftables table sets by socket owner UID (tc.ts says why no tc filter is used).
//
// What it owns, and nothing else:
// - the root qdisc `4857:` (HTB) of a shaped interface, added only where the root qdisc was the kernel's
//   default (handle 0: noqueue, pfifo_fast, mq, fq_codel as the kernel attached it). An interface whose root
//   qdisc someone chose is left alone and said so once. When the last throttle ends the qdisc is deleted, which
//   gives the interface its kernel default back.
// - the classes `4857:N` below it, one per throttled tenant (the same N on every interface);
// - the nft table `inet <bandwidth.table>_shape`, replaced atomically; deleted when the last throttle ends.
// Removing a throttle removes its class and its UIDs from the map. At start (and after a crash) leftovers of
// an earlier run are recognized by the qdisc's handle and kind and the table's name, and removed when unused.
//
// Shaped interfaces: `bandwidth.interfaces` from the config, else the devices of the default routes (IPv4 and
// IPv6), looked up whenever the set of throttles changes and at each re-verification.
// Limits: shaping is on egress only (what the host sends); HTB is one queue and one lock per interface, so a
// many-queue NIC loses its per-CPU queues while a throttle is on (see README, troubleshooting).
import { HostwardenError } from '../../shared/errors.js';
import type { NftExec } from '../collectors/bandwidth.js';
import { buildShapeRuleset, classArgs, classHolds, IFACE_RE, isKernelDefault, isOurs, MAX_MINOR, majorText, parseDefaultRouteDevs, parseHtbClasses, parseRootQdiscs, type RootQdisc, SHAPER_MAJOR } from './tc.js';

/** Runs `tc` or `ip` (tests: inside a network namespace). */
export type NetExec = (program: 'tc' | 'ip', args: string[]) => { status: number | null; stdout: string; stderr: string };

export interface ShapeTarget {
  uids: readonly number[];
  /** Bytes per second. */
  rate: number;
}

export interface ShaperOptions {
  /** The shaper's nft table (inet family). */
  table: string;
  /** Interfaces to shape; undefined: the devices of the default routes. */
  interfaces?: readonly string[];
  /** Re-read the kernel's state every n-th apply() even when nothing changed (someone may have removed ours). */
  verifyEvery?: number;
  warn?: (fields: Record<string, unknown>, message: string) => void;
  info?: (fields: Record<string, unknown>, message: string) => void;
}

export interface ShapeResult {
  /** Interfaces that carry the shaper's qdisc now. */
  shaped: string[];
  /** Interfaces left alone, and why. */
  skipped: Array<{ dev: string; reason: string }>;
}

/** tc or nft refused what the shaper asked (the agent logs it and tries again next tick). */
export class ShapingError extends HostwardenError {
  constructor(message: string) {
    super('HW_SHAPING', message);
  }
}

export class Shaper {
  private readonly minors = new Map<string, number>();
  private appliedKey: string | undefined;
  private calls = 0;
  private readonly warned = new Set<string>();
  private readonly major = SHAPER_MAJOR;

  constructor(
    private readonly tc: NetExec,
    private readonly nft: NftExec,
    private readonly opts: ShaperOptions,
  ) {}

  /** Make the kernel hold exactly `targets` (tenant -> uids and rate); idempotent. */
  apply(targets: ReadonlyMap<string, ShapeTarget>): ShapeResult {
    const active = new Map([...targets].filter(([, t]) => t.uids.length > 0 && t.rate > 0));
    this.number(active);
    const key = JSON.stringify([...active].map(([name, t]) => [name, this.minors.get(name), t.uids, t.rate]));
    // Nothing throttled and leftovers already cleared: nothing of ours to verify (no process per tick).
    const verify = this.calls++ % (this.opts.verifyEvery ?? 12) === 0 && active.size > 0;
    if (key === this.appliedKey && !verify) return { shaped: [], skipped: [] };
    let result: ShapeResult;
    try {
      result = this.reconcile(active);
    } catch (err) {
      // Nothing to shape and tc or nft cannot even be asked (not installed): there is nothing of ours to
      // remove either; say so once instead of failing every tick. With a cap to hold, it is an error.
      if (active.size > 0) throw err;
      this.warnOnce('no tc', {}, `cannot look for leftover bandwidth shaping: ${(err as Error).message}`);
      result = { shaped: [], skipped: [] };
    }
    this.appliedKey = key;
    return result;
  }

  /** Remove everything of the shaper's (the uninstall path, and the agent's --release-all). */
  releaseAll(): void {
    this.minors.clear();
    this.reconcile(new Map());
    this.appliedKey = undefined;
  }

  /** Give each throttled tenant a minor number (stable while it stays throttled; freed when it is released). */
  private number(active: ReadonlyMap<string, ShapeTarget>): void {
    for (const name of [...this.minors.keys()]) if (!active.has(name)) this.minors.delete(name);
    const used = new Set(this.minors.values());
    let next = 1;
    for (const name of active.keys()) {
      if (this.minors.has(name)) continue;
      while (used.has(next)) next++;
      if (next > MAX_MINOR) throw new ShapingError(`more than ${MAX_MINOR} throttled tenants`);
      this.minors.set(name, next);
      used.add(next);
    }
  }

  private reconcile(active: ReadonlyMap<string, ShapeTarget>): ShapeResult {
    const roots = parseRootQdiscs(this.run('tc', ['-j', 'qdisc', 'show']));
    const wanted = active.size > 0 ? this.interfaces() : [];
    const result: ShapeResult = { shaped: [], skipped: [] };
    // 1. Steering off first when throttles end, so no packet names a class that is about to go.
    if (active.size === 0) this.dropTable();
    // 2. Interfaces: ours where wanted (added only over a kernel default), ours removed where not wanted.
    for (const [dev, q] of roots) {
      if (isOurs(q, this.major) && !wanted.includes(dev)) {
        this.run('tc', ['qdisc', 'del', 'dev', dev, 'root', 'handle', majorText(this.major)]);
        this.opts.info?.({ dev }, 'bandwidth shaping removed: the interface has its default qdisc back');
      }
    }
    for (const dev of wanted) {
      const q = roots.get(dev);
      if (!roots.has(dev)) {
        result.skipped.push({ dev, reason: 'no such interface' });
        this.warnOnce(`missing ${dev}`, { dev }, 'bandwidth.interfaces names an interface this host does not have: not shaped');
        continue;
      }
      if (!isOurs(q, this.major)) {
        if (!isKernelDefault(q)) {
          const reason = `its root qdisc ${q!.kind} ${q!.handle} was set by someone else`;
          result.skipped.push({ dev, reason });
          this.warnOnce(`foreign ${dev} ${q!.kind} ${q!.handle}`, { dev, qdisc: q!.kind, handle: q!.handle }, 'interface not shaped: its root qdisc was not the kernel default, and hostwarden replaces only that');
          continue;
        }
        // `add`, never `replace`: if someone attached a qdisc since we looked, this fails instead of clobbering it.
        this.run('tc', ['qdisc', 'add', 'dev', dev, 'root', 'handle', majorText(this.major), 'htb']);
        this.opts.info?.({ dev, was: q?.kind ?? 'none' }, 'bandwidth shaping installed (HTB root qdisc)');
      }
      this.reconcileClasses(dev, active);
      result.shaped.push(dev);
    }
    // 3. Steering on last when throttles exist: every class it names is there.
    if (active.size > 0) {
      const entries = [...active].map(([name, t]) => ({ uids: t.uids, minor: this.minors.get(name)! }));
      this.run('nft', ['-f', '-'], buildShapeRuleset(this.opts.table, this.major, entries));
    }
    return result;
  }

  private reconcileClasses(dev: string, active: ReadonlyMap<string, ShapeTarget>): void {
    const classes = parseHtbClasses(this.run('tc', ['class', 'show', 'dev', dev]), this.major);
    const wantedMinors = new Set<number>();
    for (const [name, t] of active) {
      const minor = this.minors.get(name)!;
      wantedMinors.add(minor);
      if (!classHolds(classes.get(minor), t.rate)) this.run('tc', classArgs(dev, this.major, minor, t.rate));
    }
    for (const minor of classes.keys()) {
      if (!wantedMinors.has(minor)) this.run('tc', ['class', 'del', 'dev', dev, 'classid', `${this.major.toString(16)}:${minor.toString(16)}`]);
    }
  }

  private interfaces(): string[] {
    if (this.opts.interfaces) return [...this.opts.interfaces];
    const devs = new Set<string>();
    for (const family of ['-4', '-6']) {
      const r = this.tc('ip', [family, '-j', 'route', 'show', 'default']);
      if (r.status === 0) for (const d of parseDefaultRouteDevs(r.stdout)) devs.add(d);
    }
    if (devs.size === 0) this.warnOnce('no default route', {}, 'no default route: no interface to shape (set bandwidth.interfaces)');
    return [...devs].filter((d) => IFACE_RE.test(d));
  }

  private dropTable(): void {
    const r = this.nft(['list', 'table', 'inet', this.opts.table]);
    if (r.status === 0) this.run('nft', ['delete', 'table', 'inet', this.opts.table]);
  }

  private run(program: 'tc' | 'ip' | 'nft', args: string[], input?: string): string {
    const r = program === 'nft' ? this.nft(args, input) : this.tc(program, args);
    if (r.status !== 0) throw new ShapingError(`${program} ${args.slice(0, 4).join(' ')} failed: ${(r.stderr || `exit ${r.status}`).trim().split('\n')[0]}`);
    return r.stdout;
  }

  private warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.warn?.(fields, message);
  }
}

export type { RootQdisc };
