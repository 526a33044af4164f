// agent.yaml `bandwidth:`: the nftables counters (collectors/bandwidth.ts) and the egress shaper (shaper.ts).
import type { Section } from '../../shared/config.js';
import { NAME_RE } from '../../shared/names.js';
import { ctMarkMaskProblem, DEFAULT_CT_MARK_MASK } from '../collectors/ct-mark.js';
import { IFACE_RE } from './tc.js';

export interface BandwidthConfig {
  enabled: boolean;
  /** The counters' nft table (inet family); the shaper's is `<table>_shape`. */
  table: string;
  /** v1/hybrid hosts: the conntrack mark bits received bytes are attributed by (0: received bytes not counted). */
  ctMarkMask: number;
  /** Shape tenants' egress with a `bandwidth` cap (plan, or a throttle of it). */
  shaping: boolean;
  /** Interfaces shaped and judged for saturation; undefined: the devices of the default routes. */
  interfaces: string[] | undefined;
  /** The egress link's speed in bytes/s for saturation; undefined: /sys/class/net/<dev>/speed where the driver tells. */
  linkSpeed: number | undefined;
}

export function readBandwidthConfig(bw: Section): BandwidthConfig {
  const table = bw.string('table', 'hostwarden');
  if (!NAME_RE.test(table) || table.length > 58) bw.fail('table', `"${table}" is not a valid nftables table name (letters, digits, ".", "_", "-"; at most 58)`);
  const rawMask = bw.string('ct_mark_mask', `0x${DEFAULT_CT_MARK_MASK.toString(16).padStart(8, '0')}`);
  const mask = /^(0x[0-9a-f]{1,8}|\d{1,10})$/i.test(rawMask.trim()) ? Number(rawMask.trim()) : Number.NaN;
  if (Number.isNaN(mask)) bw.fail('ct_mark_mask', `must be a 32-bit mask such as 0x0fff0000 (or 0 to not count received bytes on v1/hybrid hosts), got "${rawMask}"`);
  if (mask !== 0) {
    const problem = ctMarkMaskProblem(mask);
    if (problem) bw.fail('ct_mark_mask', `${problem}, got "${rawMask}"`);
  }
  // Absent or empty: the default routes' devices (to shape nothing, set `shaping: false`).
  const listed = bw.scalars('interfaces').map(String);
  const ifaces = listed.length > 0 ? listed : undefined;
  if (ifaces) {
    if (ifaces.length > 64) bw.fail('interfaces', `at most 64 interfaces, got ${ifaces.length}`);
    for (const i of ifaces) if (!IFACE_RE.test(i)) bw.fail('interfaces', `"${i.slice(0, 40)}" is not an interface name`);
  }
  const config: BandwidthConfig = {
    enabled: bw.boolean('enabled', true),
    table,
    ctMarkMask: mask,
    shaping: bw.boolean('shaping', true),
    interfaces: ifaces,
    linkSpeed: bw.rate('link_speed'),
  };
  bw.done();
  return config;
}
