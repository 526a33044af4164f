// What the v1 and v2 backends share: name checks, the remove/release/teardown flows, placement queries and
// limit validation and verification. A backend supplies its directories, files and kernel-specific steps.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelPressure as Pressure } from '../../../shared/wire/agent.js';
import {
  assertParentName,
  assertPid,
  assertTenantName,
  DEFAULT_FREEZE_TIMEOUT_MS,
  DEFAULT_KILL_TIMEOUT_MS,
  HostPressureReader,
  listTenantDirs,
  movePid,
  readControl,
  readPids,
  rmdirCgroup,
  SILENT_LOGGER,
  waitUntil,
} from './control.js';
import type { Limits } from '../../limits.js';
import { parseProcCgroup, type ProcCgroupLine } from '../procfs.js';
import { CgroupError, type CgroupDriver, type CgroupKind, type CgroupLogger, type StatsReader } from './driver.js';
import { CgroupBusyError, NoSuchProcessError } from './errors.js';
import { hierarchyRootOf, parentsCgroupProcs } from './home.js';
import { KeptProcsFiles, onCgroupFs } from './kept-procs.js';
import { LIMIT_FIELDS, validateLimits, verifyLimits, type LimitField } from './limit-rules.js';
import { CgroupStatsReader, type StatsSources } from './stats-reader.js';

/** The cgroup of the host's system services, directly under the cgroup2 root (systemd). */
export const SERVICES_CGROUP = 'system.slice';

export interface BaseOptions {
  procRoot: string;
  parent: string;
  freezeTimeoutMs?: number;
  killTimeoutMs?: number;
  logger?: CgroupLogger;
}

export abstract class BaseDriver implements CgroupDriver {
  abstract readonly kind: CgroupKind;
  readonly parent: string;
  protected readonly procRoot: string;
  protected readonly freezeTimeoutMs: number;
  protected readonly killTimeoutMs: number;
  protected readonly log: CgroupLogger;
  private hostPsi?: HostPressureReader;
  private servicesPsi?: HostPressureReader;
  /** cgroup.procs kept open for placement's moves (kept-procs.ts); undefined until the first move, null off cgroupfs. */
  private keptProcs: KeptProcsFiles | null | undefined;

  constructor(opts: BaseOptions) {
    assertParentName(opts.parent);
    this.parent = opts.parent;
    this.procRoot = opts.procRoot;
    this.freezeTimeoutMs = opts.freezeTimeoutMs ?? DEFAULT_FREEZE_TIMEOUT_MS;
    this.killTimeoutMs = opts.killTimeoutMs ?? DEFAULT_KILL_TIMEOUT_MS;
    this.log = opts.logger ?? SILENT_LOGGER;
  }

  // --- what a backend supplies ------------------------------------------------------------------------------
  abstract parentPaths(): string[];
  abstract setup(): void;
  /** The tenant's directory in every hierarchy, the primary one first. */
  protected abstract tenantDirs(tenant: string): string[];
  /** The directories a process is moved into (default: every one of tenantDirs, the primary one first). */
  protected placementDirs(tenant: string): string[] {
    return this.tenantDirs(tenant);
  }
  /** The cgroup2 mount (pure v2: the root; hybrid: the unified mount), if any. */
  protected abstract cgroup2Mount(): string | undefined;
  /** The line of /proc/PID/cgroup that belongs to the primary hierarchy, and that hierarchy's mount root. */
  protected abstract primaryLine(lines: ProcCgroupLine[]): { line?: ProcCgroupLine; mountRoot: string };
  /** Which files hold the tenant's statistics (public for benchmarks and diagnostics; nothing is opened). */
  abstract statsSources(tenant: string): StatsSources;
  protected abstract writeLimits(tenant: string, limits: Limits): void;
  protected abstract readLimits(tenant: string): Limits;
  protected abstract limitFile(tenant: string, field: LimitField): string;
  protected abstract freezeNow(tenant: string): void;
  protected abstract thawNow(tenant: string): void;
  protected abstract frozenNow(tenant: string): boolean;
  protected abstract killNow(tenant: string): void;

  // --- shared flows -----------------------------------------------------------------------------------------
  protected primaryDir(tenant: string): string {
    return this.tenantDirs(tenant)[0]!;
  }

  protected requireTenant(tenant: string): void {
    assertTenantName(tenant);
    if (!existsSync(this.primaryDir(tenant))) throw new CgroupError(`tenant cgroup ${this.primaryDir(tenant)} does not exist: create() it first`, { code: 'HW_CGROUP_NO_TENANT' });
  }

  create(tenant: string): void {
    assertTenantName(tenant);
    for (const dir of this.tenantDirs(tenant)) this.mkdirTenant(dir);
  }

  /** mkdir of one tenant directory; a backend may do more (v1 sets nothing extra today). */
  protected abstract mkdirTenant(dir: string): void;

  exists(tenant: string): boolean {
    assertTenantName(tenant);
    return existsSync(this.primaryDir(tenant));
  }

  list(): string[] {
    return listTenantDirs(this.parentPaths()[0]!);
  }

  /** PIDs left in any of the tenant's hierarchies. */
  protected leftoverPids(tenant: string): number[] {
    const all = new Set<number>();
    for (const dir of this.tenantDirs(tenant)) for (const pid of readPids(join(dir, 'cgroup.procs'))) all.add(pid);
    return [...all];
  }

  remove(tenant: string, opts: { kill?: boolean; moveTo?: string } = {}): void {
    assertTenantName(tenant);
    this.keptProcs?.close(tenant);
    const dirs = this.tenantDirs(tenant).filter((d) => existsSync(d));
    if (dirs.length === 0) return;
    if (existsSync(this.primaryDir(tenant))) this.thawNow(tenant);
    if (opts.moveTo !== undefined && this.leftoverPids(tenant).length > 0) this.evacuate(tenant, dirs, opts.moveTo);
    const left = this.leftoverPids(tenant);
    if (left.length > 0) {
      if (!opts.kill) {
        throw new CgroupBusyError(
          `tenant ${tenant} still has ${left.length} process(es) (${left.slice(0, 10).join(', ')}${left.length > 10 ? ', ...' : ''}); ` +
            'release() it to let them run on ungoverned, or remove it with { kill: true }',
        );
      }
      this.log.warn({ tenant, pids: left.length }, 'killing the remaining processes of a removed tenant');
      this.killNow(tenant);
      waitUntil(
        () => this.leftoverPids(tenant).length === 0,
        this.killTimeoutMs,
        () => `tenant ${tenant} still has processes ${this.leftoverPids(tenant).slice(0, 10).join(', ')} after SIGKILL`,
      );
    }
    for (const dir of dirs) rmdirCgroup(dir);
  }

  /**
   * Move every task of the tenant to `moveTo` (a cgroup path from each hierarchy's root, "/" = the root) in
   * every hierarchy: the uninstall path, where tenants' processes must run on outside hostwarden. Tasks forked
   * while moving are picked up by the next pass.
   */
  private evacuate(tenant: string, dirs: string[], moveTo: string): void {
    if (!moveTo.startsWith('/') || moveTo.split('/').includes('..')) throw new CgroupError(`moveTo must be an absolute cgroup path without "..", got "${moveTo}"`);
    // On cgroup v2 a process goes back beside its parent process when that is outside our tree (home.ts).
    const ours = [`/${this.parent}`, `/${this.parent.split('/')[0]}`];
    for (let pass = 0; pass < 5; pass++) {
      let moved = 0;
      for (const dir of dirs) {
        const root = hierarchyRootOf(dir, this.parent);
        const target = join(root, moveTo, 'cgroup.procs');
        if (!existsSync(target)) throw new CgroupError(`cannot move the processes of ${tenant} to ${moveTo}: ${target} does not exist`);
        const unified = root === this.cgroup2Mount();
        for (const pid of readPids(join(dir, 'cgroup.procs'))) {
          const home = unified ? parentsCgroupProcs(this.procRoot, root, pid, ours) : undefined;
          try {
            try {
              movePid(home ?? target, pid);
            } catch (err) {
              // The parent's cgroup refused it (not a leaf any more, or gone): release_to then.
              if (home === undefined || err instanceof NoSuchProcessError) throw err;
              movePid(target, pid);
            }
            moved++;
          } catch (err) {
            if (!(err instanceof NoSuchProcessError)) throw err;
          }
        }
      }
      if (moved === 0) break;
    }
    this.log.info({ tenant, to: moveTo }, 'moved the remaining processes out of the tenant cgroup');
  }

  release(tenant: string): void {
    this.requireTenant(tenant);
    this.thawNow(tenant);
    const current = this.readLimits(tenant);
    const lift: Limits = {};
    for (const field of LIMIT_FIELDS) {
      if (current[field] === undefined) continue; // the host lacks that controller
      lift[field] = null;
    }
    this.setLimits(tenant, lift);
  }

  teardown(): void {
    const left = new Set<string>();
    for (const dir of this.parentPaths()) for (const t of listTenantDirs(dir)) left.add(t);
    if (left.size > 0) throw new CgroupBusyError(`cannot remove parent cgroup ${this.parent}: tenant cgroups ${[...left].sort().join(', ')} remain`);
    for (const dir of this.parentPaths()) rmdirCgroup(dir);
    this.closeFiles();
  }

  /** Close the descriptors the driver keeps (the kept cgroup.procs and PSI files); they reopen when used again. */
  closeFiles(): void {
    this.keptProcs?.closeAll();
    this.hostPsi?.close();
    this.hostPsi = undefined;
    this.servicesPsi?.close();
    this.servicesPsi = undefined;
  }

  procs(tenant: string): number[] {
    assertTenantName(tenant);
    return readPids(join(this.primaryDir(tenant), 'cgroup.procs'));
  }

  move(tenant: string, pid: number): void {
    assertPid(pid);
    assertTenantName(tenant);
    // The hot path: the tenant's cgroup.procs already open, one write each. Anything but ESRCH (e.g. the cgroup
    // was removed: ENODEV) closes them and the move goes the checked way below, which reports it as before.
    if (this.keptProcs?.write(tenant, pid)) return;
    this.requireTenant(tenant);
    const files = this.placementDirs(tenant).map((dir) => join(dir, 'cgroup.procs'));
    for (const file of files) movePid(file, pid);
    if (this.keptProcs === undefined) this.keptProcs = onCgroupFs(this.parentPaths()) ? new KeptProcsFiles() : null;
    this.keptProcs?.keep(tenant, files);
  }

  tenantOf(pid: number): string | null {
    assertPid(pid);
    const file = join(this.procRoot, String(pid), 'cgroup');
    const text = readControl(file);
    if (text === undefined) return null;
    const { line, mountRoot } = this.primaryLine(parseProcCgroup(text, file));
    if (!line) return null;
    // /proc/PID/cgroup paths are relative to the hierarchy root; our parent sits directly under the mount's root.
    const prefix = `${mountRoot === '/' ? '' : mountRoot}/${this.parent}/`;
    if (!line.path.startsWith(prefix)) return null;
    const rest = line.path.slice(prefix.length);
    return rest.length > 0 && !rest.includes('/') ? rest : null;
  }

  openStats(tenant: string): StatsReader {
    this.requireTenant(tenant);
    return new CgroupStatsReader(this.statsSources(tenant));
  }

  setLimits(tenant: string, limits: Limits): Limits {
    assertTenantName(tenant);
    validateLimits(limits);
    this.requireTenant(tenant);
    this.writeLimits(tenant, limits);
    const got = this.readLimits(tenant);
    verifyLimits(tenant, limits, got, (f) => this.limitFile(tenant, f));
    return got;
  }

  getLimits(tenant: string): Limits {
    this.requireTenant(tenant);
    return this.readLimits(tenant);
  }

  heldState(tenant: string): { limits: Limits; frozen: boolean } {
    this.requireTenant(tenant);
    return { limits: this.readLimits(tenant), frozen: this.frozenNow(tenant) };
  }

  freeze(tenant: string): void {
    this.requireTenant(tenant);
    this.freezeNow(tenant);
  }

  thaw(tenant: string): void {
    this.requireTenant(tenant);
    this.thawNow(tenant);
  }

  isFrozen(tenant: string): boolean {
    this.requireTenant(tenant);
    return this.frozenNow(tenant);
  }

  kill(tenant: string): void {
    this.requireTenant(tenant);
    this.killNow(tenant);
  }

  hostPressure(): Pressure {
    this.hostPsi ??= new HostPressureReader(this.procRoot);
    return this.hostPsi.read();
  }

  servicesPressure(): Pressure {
    const mount = this.cgroup2Mount();
    if (mount === undefined) return {};
    // systemd's system services, all in one cgroup of the cgroup2 tree; hosts without systemd have none.
    this.servicesPsi ??= new HostPressureReader(this.procRoot, join(mount, SERVICES_CGROUP));
    return this.servicesPsi.read();
  }
}
