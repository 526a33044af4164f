// inventory: what the host is (distribution, kernel, cpu, memory, disks, the filesystems of the tenants' homes,
// network interfaces), gathered with systeminformation at start and then every `inventory.interval` (default
// 24 h), and sent with the next report after each gathering: never on the tick's path, never every tick.
//
// - Off the critical path: a gathering runs in a worker thread (inventory-worker.ts says why) started in the
//   background; the tick never waits for it. What it found goes out with the first report spooled after it.
// - Bounded: the worker passes back at most RAW_LIST_MAX entries per list; here every string is cut to the
//   wire's bound (INVENTORY_BOUNDS of shared/wire/agent.ts, in UTF-8 bytes, so never more characters), control
//   characters are dropped, lists keep INVENTORY_BOUNDS.items, numbers outside their range are left out. A
//   gathering that takes longer than GATHER_TIMEOUT_MS is stopped.
// - Never fatal: a gathering that fails is logged and reported as the collector status `inventory` (in every
//   report until the next gathering), and is tried again after RETRY_AFTER_MS.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { type CollectorStatus, type HostInventory, INVENTORY_BOUNDS } from '../../shared/wire/agent.js';
import { truncateUtf8 } from '../bounds.js';
import { mountPointOf } from './inodes.js';
import { INVENTORY_WORKER_DATA, type RawInventory } from './inventory-worker.js';

export type { RawInventory } from './inventory-worker.js';

export const INVENTORY_COLLECTOR = 'inventory';
/** A failed gathering is tried again this much later (a successful one after the configured interval). */
export const RETRY_AFTER_MS = 3_600_000;
/** A gathering still running after this is stopped (a hung `df` on a dead NFS mount, a DNS that never answers). */
export const GATHER_TIMEOUT_MS = 120_000;
/** How long `--once` waits past its interval for the gathering its start began, so its one report carries it. */
export const ONCE_WAIT_MS = 15_000;
/** The worker's heap, MiB: systeminformation and a few hundred entries need a fraction of it. */
const WORKER_HEAP_MIB = 64;
/** The wire's bound on a collector's error text (CollectorStatusSchema). */
const ERROR_MAX = 2000;

/**
 * Asks the host what it is; may throw or reject. `signal` aborts when the agent stops. The default
 * (`gatherInWorker`) runs inventory-worker.ts in a worker thread.
 */
export type InventoryGatherer = (signal: AbortSignal) => Promise<RawInventory>;

/** The worker script beside this module: .js when compiled, else the .ts source (Node 24 strips its types). */
export function inventoryWorkerFile(): URL {
  const js = new URL('./inventory-worker.js', import.meta.url);
  return existsSync(js) ? js : new URL('./inventory-worker.ts', import.meta.url);
}

/** Run the worker once: its answer, or a rejection when it fails, exits without answering or times out. */
export function gatherInWorker(signal?: AbortSignal, file: URL | string = inventoryWorkerFile(), timeoutMs = GATHER_TIMEOUT_MS): Promise<RawInventory> {
  return new Promise<RawInventory>((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('stopped: the agent is stopping'));
    const worker = new Worker(file, { workerData: INVENTORY_WORKER_DATA, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MIB } });
    worker.unref(); // never what keeps the agent's process alive (--once exits after its tick)
    const end = (settle: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      worker.removeAllListeners();
      worker.on('error', () => {}); // an error while terminating has nobody left to tell
      void worker.terminate();
      settle();
    };
    const abort = () => end(() => reject(new Error('stopped: the agent is stopping')));
    const timer = setTimeout(() => end(() => reject(new Error(`took longer than ${timeoutMs / 1000}s: stopped`))), timeoutMs);
    timer.unref();
    signal?.addEventListener('abort', abort, { once: true });
    worker.once('message', (raw: RawInventory) => end(() => resolve(raw)));
    worker.once('error', (err) => end(() => reject(err)));
    worker.once('exit', (code) => end(() => reject(new Error(`the inventory worker exited with code ${code} before it answered`))));
  });
}

// --- bounding what was gathered ------------------------------------------------------------------------------
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** A string as the wire takes it: control characters dropped, trimmed, cut to `max` bytes of UTF-8; else undefined. */
function text(value: unknown, max: number = INVENTORY_BOUNDS.text): string | undefined {
  if (typeof value !== 'string') return undefined;
  const clean = value.replace(CONTROL, '').trim();
  return clean && clean.toLowerCase() !== 'unknown' ? truncateUtf8(clean, max) : undefined;
}

/** A whole number in [min, max], else undefined. */
function whole(value: unknown, min: number, max: number): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  const n = Math.round(value);
  return n >= min && n <= max ? n : undefined;
}

const bytes = (value: unknown) => whole(value, 0, Number.MAX_SAFE_INTEGER);

/** Drop the keys whose value is undefined (the wire's optional fields are absent, never undefined). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** The objects of a list (a list from anywhere but the worker, or holes in it, count as nothing). */
function entries<T extends object>(list: readonly T[] | undefined): T[] {
  return Array.isArray(list) ? list.filter((e): e is T => typeof e === 'object' && e !== null) : [];
}

/**
 * The inventory the wire takes, from what systeminformation said: fields checked and bounded (see the header),
 * loopback left out, filesystems only those holding one of `homes`. `at`: when it was gathered (ms).
 */
export function shapeInventory(raw: RawInventory, homes: Iterable<string>, at: number): HostInventory {
  const out: HostInventory = { gathered_at: new Date(at).toISOString() };
  if (raw.os) {
    const os = defined({ distro: text(raw.os.distro), release: text(raw.os.release), codename: text(raw.os.codename), kernel: text(raw.os.kernel), arch: text(raw.os.arch) });
    if (Object.keys(os).length) out.os = os;
  }
  if (raw.cpu) {
    const model = text([raw.cpu.manufacturer, raw.cpu.brand].filter((p) => typeof p === 'string' && p.trim()).join(' '));
    const cpu = defined({ model, cores: whole(raw.cpu.physicalCores, 1, INVENTORY_BOUNDS.cpus), threads: whole(raw.cpu.cores, 1, INVENTORY_BOUNDS.cpus) });
    if (Object.keys(cpu).length) out.cpu = cpu;
  }
  const memory = bytes(raw.memory?.total);
  if (memory !== undefined && memory > 0) out.memory_bytes = memory;
  if (raw.disks) {
    out.disks = [];
    for (const d of entries(raw.disks)) {
      const device = text(d.device);
      if (!device) continue;
      out.disks.push(defined({ device, size_bytes: bytes(d.size) ?? 0, type: text(d.type), model: text(d.name) }));
      if (out.disks.length === INVENTORY_BOUNDS.items) break;
    }
  }
  if (raw.filesystems) {
    const byMount = new Map<string, { type?: unknown; size?: unknown }>();
    for (const f of entries(raw.filesystems)) if (typeof f.mount === 'string' && f.mount.startsWith('/')) byMount.set(f.mount, f);
    const points = [...byMount.keys()];
    const held = new Set<string>();
    for (const home of new Set(homes)) {
      const mp = mountPointOf(home, points);
      if (byMount.has(mp)) held.add(mp);
    }
    out.filesystems = [];
    for (const mp of [...held].sort()) {
      const m = byMount.get(mp)!;
      const mount = text(mp, INVENTORY_BOUNDS.path);
      const fsType = text(m.type);
      if (!mount || !fsType) continue;
      out.filesystems.push({ mount, fs_type: fsType, size_bytes: bytes(m.size) ?? 0 });
      if (out.filesystems.length === INVENTORY_BOUNDS.items) break;
    }
  }
  if (raw.nics) {
    out.nics = [];
    for (const n of entries(raw.nics)) {
      const name = text(n.iface);
      if (!name || n.internal === true) continue;
      const speed = typeof n.speed === 'number' && Number.isFinite(n.speed) && n.speed >= 0 && n.speed <= INVENTORY_BOUNDS.speedMbps ? n.speed : undefined;
      out.nics.push(defined({ name, speed_mbps: speed, virtual: typeof n.virtual === 'boolean' ? n.virtual : undefined }));
      if (out.nics.length === INVENTORY_BOUNDS.items) break;
    }
  }
  return out;
}

// --- the source the agent polls ------------------------------------------------------------------------------
export interface InventoryOptions {
  gather: InventoryGatherer;
  /** Between two successful gatherings, ms (agent.yaml inventory.interval). */
  intervalMs: number;
  /** Wall clock, ms (the agent's, which tests inject). */
  now: () => number;
  /** The tenants' homes now: their filesystems are the ones kept. */
  homes: () => Iterable<string>;
  log: Logger;
}

/**
 * Gatherings in the background, one at a time: `poll` starts one when due (at start, then after the interval,
 * or RETRY_AFTER_MS after a failure); the spool step `take`s its result once.
 */
export class InventorySource {
  private running: Promise<void> | undefined;
  private startedAt: number | undefined;
  private lastOk = false;
  private pending: HostInventory | undefined;
  private status: CollectorStatus | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly opts: InventoryOptions) {}

  /** Start a gathering when one is due; never waits for it. */
  poll(now: number): void {
    if (this.running || this.stopping.signal.aborted) return;
    const wait = this.lastOk ? this.opts.intervalMs : RETRY_AFTER_MS;
    // A clock set back (now before the last start) makes a gathering due rather than silent for a long time.
    if (this.startedAt !== undefined && now - this.startedAt < wait && now >= this.startedAt) return;
    this.startedAt = now;
    this.running = this.gather().finally(() => {
      this.running = undefined;
    });
  }

  /** One gathering; it never rejects: a failure becomes the status. */
  private async gather(): Promise<void> {
    const start = performance.now();
    const ms = () => Math.round((performance.now() - start) * 1000) / 1000;
    const { log } = this.opts;
    try {
      const raw = await this.opts.gather(this.stopping.signal);
      if (this.stopping.signal.aborted) return;
      const inventory = shapeInventory(raw, this.opts.homes(), this.opts.now());
      const errors = Array.isArray(raw.errors) ? raw.errors.map(String) : [];
      this.pending = inventory;
      this.lastOk = true;
      this.status = { name: INVENTORY_COLLECTOR, ok: errors.length === 0, duration_ms: ms() };
      if (errors.length) {
        this.status.error = `incomplete: ${errors.join('; ')}`.slice(0, ERROR_MAX);
        log.warn({ collector: INVENTORY_COLLECTOR, err: this.status.error }, 'host inventory incomplete');
      } else log.debug({ collector: INVENTORY_COLLECTOR, duration_ms: this.status.duration_ms }, 'host inventory gathered');
    } catch (err) {
      if (this.stopping.signal.aborted) return;
      const message = err instanceof Error ? err.message : String(err);
      this.lastOk = false;
      this.status = { name: INVENTORY_COLLECTOR, ok: false, error: message.slice(0, ERROR_MAX), duration_ms: ms() };
      log.error({ collector: INVENTORY_COLLECTOR, err: message, retry_in_ms: RETRY_AFTER_MS }, 'host inventory failed; tried again later');
    }
  }

  /** The inventory gathered since the last report that carried one, once. */
  take(): HostInventory | undefined {
    const inv = this.pending;
    this.pending = undefined;
    return inv;
  }

  /** Give back what `take` gave when no report could carry it (the spool failed), unless a newer one is there. */
  restore(inventory: HostInventory): void {
    this.pending ??= inventory;
  }

  /** The latest gathering's status, for every report's collectors (none before the first gathering ends). */
  statuses(): CollectorStatus[] {
    return this.status ? [{ ...this.status }] : [];
  }

  /** Resolves when no gathering is running, or after `maxMs` at most. */
  async settled(maxMs = Number.POSITIVE_INFINITY): Promise<void> {
    if (!this.running || !Number.isFinite(maxMs)) return this.running;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((resolve) => (timer = setTimeout(resolve, maxMs)))]);
    clearTimeout(timer);
  }

  /** No new gathering; the running one is abandoned (its signal aborts: the default gatherer ends its worker). */
  stop(): void {
    this.stopping.abort();
  }
}
