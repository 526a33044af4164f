// Worker thread entry of the host inventory (inventory.ts runs it): asks systeminformation about the host and
// posts back only the fields the inventory keeps. Never an address, a MAC or a serial number: they are not
// ours to collect, so they do not even leave this thread.
//
// Why a thread of its own: systeminformation runs commands (lsblk, df, hostname -f, lscpu, one shell per
// network interface) and waits for several of them with execSync, which stops the event loop of whoever calls
// it: about a second on a small VM, and as long as a slow DNS (`hostname -f`) or a hung NFS mount (`df`) takes
// elsewhere. Here it stops only this thread, which the agent ends when it answers or after a timeout.
//
// Self-contained (no relative imports, erasable TypeScript only), so Node runs it from the sources as well as
// from dist/ (the unit tests start it from the sources: Node 24 strips the types).
import { parentPort, threadId, workerData } from 'node:worker_threads';
import si from 'systeminformation';

/** The workerData that makes this module gather: imported anywhere else it does nothing. */
export const INVENTORY_WORKER_DATA = 'hostwarden-inventory';
/** Entries of each list passed back at most (the agent keeps far fewer; mounts are matched to homes first). */
export const RAW_LIST_MAX = 4096;

/** What systeminformation said, field by field; every value is checked and bounded by the agent (inventory.ts). */
export interface RawInventory {
  os?: { distro?: unknown; release?: unknown; codename?: unknown; kernel?: unknown; arch?: unknown };
  cpu?: { manufacturer?: unknown; brand?: unknown; physicalCores?: unknown; cores?: unknown };
  memory?: { total?: unknown };
  disks?: Array<{ device?: unknown; type?: unknown; name?: unknown; size?: unknown }>;
  filesystems?: Array<{ mount?: unknown; type?: unknown; size?: unknown }>;
  nics?: Array<{ iface?: unknown; internal?: unknown; virtual?: unknown; speed?: unknown }>;
  /** Sections that could not be gathered, each "disks: <why>". */
  errors: string[];
  /** The thread that gathered it (node:worker_threads threadId; 0 is a process's main thread). */
  thread?: number;
}

export async function gatherRawInventory(): Promise<RawInventory> {
  const [os, cpu, memory, disks, filesystems, nics] = await Promise.allSettled([
    si.osInfo(),
    si.cpu(),
    si.mem(),
    si.diskLayout(),
    si.fsSize(),
    si.networkInterfaces(),
  ]);
  const out: RawInventory = { errors: [], thread: threadId };
  const failed = (section: string, r: PromiseRejectedResult) => out.errors.push(`${section}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`);
  if (os.status === 'fulfilled') {
    const o = os.value;
    out.os = { distro: o.distro, release: o.release, codename: o.codename, kernel: o.kernel, arch: o.arch };
  } else failed('os', os);
  if (cpu.status === 'fulfilled') {
    const c = cpu.value;
    out.cpu = { manufacturer: c.manufacturer, brand: c.brand, physicalCores: c.physicalCores, cores: c.cores };
  } else failed('cpu', cpu);
  if (memory.status === 'fulfilled') out.memory = { total: memory.value.total };
  else failed('memory', memory);
  if (disks.status === 'fulfilled') out.disks = list(disks.value).map((d) => ({ device: d.device, type: d.type, name: d.name, size: d.size }));
  else failed('disks', disks);
  if (filesystems.status === 'fulfilled') out.filesystems = list(filesystems.value).map((f) => ({ mount: f.mount, type: f.type, size: f.size }));
  else failed('filesystems', filesystems);
  if (nics.status === 'fulfilled') out.nics = list(nics.value).map((n) => ({ iface: n.iface, internal: n.internal, virtual: n.virtual, speed: n.speed }));
  else failed('nics', nics);
  return out;
}

function list<T>(value: T[] | T): T[] {
  return (Array.isArray(value) ? value : [value]).slice(0, RAW_LIST_MAX);
}

if (parentPort && workerData === INVENTORY_WORKER_DATA) {
  const port = parentPort;
  gatherRawInventory().then(
    (raw) => port.postMessage(raw),
    (err: unknown) => port.postMessage({ errors: [`systeminformation: ${err instanceof Error ? err.message : String(err)}`] } satisfies RawInventory),
  );
}
