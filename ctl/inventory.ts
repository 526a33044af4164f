// A host's inventory in words, as `host HOST` shows it under the host's facts: one "label: value" line per fact,
// one line per disk, filesystem and network interface. The strings are the agent's (distribution, models,
// mount points, interface names): they reach this renderer only through shape.ts `checked` (made printable).
import type { HostInventoryInfo } from '../shared/wire/api.js';
import type { View } from './command.js';
import { formatNumber, formatSize, formatWhen, plural } from './format.js';
import { renderFields } from './table.js';

/** Link speed: "10 Gbit/s", "100 Mbit/s", "speed unknown". */
export function formatLinkSpeed(mbps: number | undefined): string {
  if (mbps === undefined) return 'speed unknown';
  return mbps >= 1000 ? `${formatNumber(mbps / 1000)} Gbit/s` : `${formatNumber(mbps)} Mbit/s`;
}

const joined = (...parts: Array<string | undefined>) => parts.filter((p): p is string => Boolean(p)).join(', ') || undefined;

/** "Debian GNU/Linux 12 (bookworm)". */
function osWords(os: NonNullable<HostInventoryInfo['os']>): string | undefined {
  const name = [os.distro, os.release].filter(Boolean).join(' ');
  if (!name) return os.codename;
  return os.codename ? `${name} (${os.codename})` : name;
}

/** The inventory's fields ("inventory: not reported yet" when the agent has sent none). */
export function renderInventory(inv: HostInventoryInfo | null, view: View): string {
  if (!inv) return `\n${renderFields([['inventory', 'not reported yet (the agent sends it at start and daily)']])}`;
  const os = inv.os;
  const cpu = inv.cpu;
  const fields: Array<[string, string | undefined]> = [
    ['gathered', formatWhen(inv.gathered_at, view.now)],
    ['reported', formatWhen(inv.reported_at, view.now)],
    ['os', os ? osWords(os) : undefined],
    ['kernel', os ? joined(os.kernel, os.arch) : undefined],
    ['cpu model', cpu?.model],
    ['cpu', cpu ? joined(cpu.cores !== undefined ? plural(cpu.cores, 'core') : undefined, cpu.threads !== undefined ? plural(cpu.threads, 'thread') : undefined) : undefined],
    ['memory total', inv.memory_bytes !== undefined ? formatSize(inv.memory_bytes) : undefined],
  ];
  for (const d of inv.disks ?? []) fields.push(['disk', joined(d.device, formatSize(d.size_bytes), d.type, d.model)]);
  if (inv.disks?.length === 0) fields.push(['disk', 'none found']);
  for (const f of inv.filesystems ?? []) fields.push(['home filesystem', joined(f.mount, f.fs_type, formatSize(f.size_bytes))]);
  for (const n of inv.nics ?? []) fields.push(['network', joined(n.name, formatLinkSpeed(n.speed_mbps), n.virtual ? 'virtual' : undefined)]);
  return `\ninventory:\n${renderFields(fields, '  ')}`;
}
