// Tenant home directories, from agent.yaml, the controller's policy or the passwd file. The agent walks
// them as root (inode counts) and maps them to disks (io limits), so a home is an absolute, normalised
// path: no relative path, no ".." segment, never "/" itself; "//", "." segments and a trailing "/" are
// collapsed. A bad entry in agent.yaml is a config error naming its key; one from the controller or the
// passwd file is dropped with a problem naming the tenant.
import { ConfigError } from '../shared/errors.js';
import type { Section } from '../shared/config.js';

/** Longest home path taken (the wire's limit on TenantSpec.homes entries; Linux PATH_MAX). */
export const MAX_HOME_PATH = 4096;

export type HomeCheck = { ok: true; path: string } | { ok: false; reason: string };

/** Pure: the normal form of a home directory, or why it cannot be one. */
export function normaliseHome(raw: unknown): HomeCheck {
  if (typeof raw !== 'string') return { ok: false, reason: `must be a path, got ${typeof raw}` };
  const shown = JSON.stringify(raw.length > 200 ? `${raw.slice(0, 200)}…` : raw);
  if (raw.length > MAX_HOME_PATH) return { ok: false, reason: `${shown} is longer than ${MAX_HOME_PATH} characters` };
  if (raw.includes('\0')) return { ok: false, reason: `${shown} contains a NUL character` };
  if (!raw.startsWith('/')) return { ok: false, reason: `${shown} is not an absolute path` };
  const segments = raw.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { ok: false, reason: `${shown} contains a ".." segment` };
  if (segments.length === 0) return { ok: false, reason: `${shown} is the root directory, never a home` };
  return { ok: true, path: `/${segments.join('/')}` };
}

/**
 * Homes from the controller or the passwd file: bad entries are dropped, each with a message for the
 * tenant's problems; duplicates (after normalising) are kept once.
 */
export function cleanHomes(raw: readonly unknown[], onDropped: (message: string) => void): string[] {
  const out = new Set<string>();
  for (const h of raw) {
    const r = normaliseHome(h);
    if (r.ok) out.add(r.path);
    else onDropped(`home ${r.reason}: ignored`);
  }
  return [...out];
}

/** `homes` of a tenant in agent.yaml: a list of absolute paths; a bad one is a config error naming it. */
export function readConfigHomes(section: Section, key = 'homes'): string[] {
  const out = new Set<string>();
  section.scalars(key).forEach((h, i) => {
    const r = normaliseHome(h);
    if (!r.ok) throw new ConfigError(`${section.key(key)}[${i}]`, r.reason);
    out.add(r.path);
  });
  return [...out];
}
