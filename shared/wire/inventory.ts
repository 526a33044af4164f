// The host inventory on the wire (what the agent gathers at start and daily), apart from the report's schemas;
// shared/wire/agent.ts re-exports it.
import { Type, type Static } from 'typebox';
import { IntegerIn, MAX_SAFE, NumberIn } from './bounds.js';

// ---- host inventory --------------------------------------------------------------------------------------
/**
 * The bounds of the host inventory, one catalog: the schemas below and the agent that cuts what it gathers to
 * fit them (agent/collectors/inventory.ts) both read it, so an inventory is never refused for a long model name.
 */
export const INVENTORY_BOUNDS = {
  /** A name or a model (distro, kernel release, cpu or disk model), characters. */
  text: 128,
  /** A mount point, characters. */
  path: 1024,
  /** Disks, filesystems, network interfaces: at most this many of each. */
  items: 64,
  /** Cores or threads (far above any server). */
  cpus: 65_536,
  /** Link speed in Mbit/s (10 Tbit/s). */
  speedMbps: 10_000_000,
} as const;

const InventoryText = (description: string, maxLength: number = INVENTORY_BOUNDS.text) => Type.String({ minLength: 1, maxLength, description });
const InventoryBytes = (description: string) => IntegerIn(0, MAX_SAFE, description);
const InventoryCpus = (description: string) => IntegerIn(1, INVENTORY_BOUNDS.cpus, description);

export const InventoryOsSchema = Type.Object(
  {
    distro: Type.Optional(InventoryText('distribution, e.g. Debian GNU/Linux')),
    release: Type.Optional(InventoryText('release, e.g. 12')),
    codename: Type.Optional(InventoryText('release codename, e.g. bookworm')),
    kernel: Type.Optional(InventoryText('kernel release (uname -r)')),
    arch: Type.Optional(InventoryText('architecture, e.g. x64, arm64')),
  },
  { additionalProperties: false },
);
export const InventoryCpuSchema = Type.Object(
  {
    model: Type.Optional(InventoryText('manufacturer and model')),
    cores: Type.Optional(InventoryCpus('physical cores')),
    threads: Type.Optional(InventoryCpus('logical CPUs (hardware threads)')),
  },
  { additionalProperties: false },
);
export const InventoryDiskSchema = Type.Object(
  {
    device: InventoryText('block device, e.g. /dev/nvme0n1'),
    size_bytes: InventoryBytes('capacity'),
    type: Type.Optional(InventoryText('HD, SSD or NVMe')),
    model: Type.Optional(InventoryText('model')),
  },
  { additionalProperties: false },
);
export const InventoryFilesystemSchema = Type.Object(
  {
    mount: InventoryText('mount point', INVENTORY_BOUNDS.path),
    fs_type: InventoryText('filesystem type, e.g. ext4, xfs'),
    size_bytes: InventoryBytes('capacity'),
  },
  { additionalProperties: false, description: 'a filesystem that holds tenants\' homes' },
);
export const InventoryNicSchema = Type.Object(
  {
    name: InventoryText('interface name'),
    speed_mbps: Type.Optional(NumberIn(0, INVENTORY_BOUNDS.speedMbps, 'link speed, Mbit/s; absent when unknown')),
    virtual: Type.Optional(Type.Boolean({ description: 'a virtual interface (bridge, veth, tunnel, ...)' })),
  },
  { additionalProperties: false, description: 'a network interface (loopback left out; no addresses)' },
);

/** What the host is: hardware and system, gathered by the agent at start and daily (no addresses, no serials). */
export const HostInventorySchema = Type.Object(
  {
    gathered_at: Type.String({ format: 'date-time', description: 'ISO-8601 UTC timestamp' }),
    os: Type.Optional(InventoryOsSchema),
    cpu: Type.Optional(InventoryCpuSchema),
    memory_bytes: Type.Optional(InventoryBytes('total memory')),
    disks: Type.Optional(Type.Array(InventoryDiskSchema, { maxItems: INVENTORY_BOUNDS.items })),
    filesystems: Type.Optional(Type.Array(InventoryFilesystemSchema, { maxItems: INVENTORY_BOUNDS.items, description: "the filesystems of the tenants' homes" })),
    nics: Type.Optional(Type.Array(InventoryNicSchema, { maxItems: INVENTORY_BOUNDS.items })),
  },
  { additionalProperties: false, description: 'absent sections: not known (their gathering failed)' },
);
export type HostInventory = Static<typeof HostInventorySchema>;

