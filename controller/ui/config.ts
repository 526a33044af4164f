// The `ui:` section of controller.yaml: the admin dashboard's sessions, the tenants' links and the optional
// listener of the tenant pages. Every key has a default; bad values are ConfigErrors naming the key.
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Section } from '../../shared/config.js';
import { MAX_SECONDS } from '../../shared/wire/bounds.js';

export interface UiConfig {
  /** How long a login lasts (the cookie's Max-Age and the session's expiry in the store). */
  sessionTtlMs: number;
  /** How long a tenant link stays valid (links in notices and those an admin makes). */
  tenantLinkTtlMs: number;
  /** A listener serving only the tenant pages (/t/...); undefined: none (they are on `listen`). */
  tenantListen: { host: string; port: number } | undefined;
  /** The built UI (vite's output): index.html, tenant.html, assets/. */
  dir: string;
}

/**
 * The package's root: the parent of the `dist` directory this module was compiled into (the .deb installs
 * /usr/lib/hostwarden/dist/...), or, run from the sources, the nearest directory above with a package.json.
 */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (basename(dir) === 'dist') return dirname(dir);
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return resolve(from, '../..');
    dir = up;
  }
}

export const DEFAULT_UI_DIR = join(packageRoot(), 'dist', 'ui');

export const UI_CONFIG_REFERENCE = `ui:
  session_ttl: 12h                           # how long a dashboard login lasts (cookie hw_session; 5m to 30d)
  tenant_link_ttl: 30d                       # how long a tenant's link /t/... stays valid (1h to 3650d)
  # tenant_listen: 0.0.0.0:8641              # a listener serving only the tenant pages (/t/...), not /v1 or /ui
  # dir: /usr/share/hostwarden/ui            # the built dashboard; default <package>/dist/ui
`;

export function parseUiConfig(s: Section, parseListen: (text: string, key: string) => { host: string; port: number }): UiConfig {
  const sessionTtlMs = s.duration('session_ttl', '12h', { min: 300_000 });
  if (sessionTtlMs > 30 * 86_400_000) s.fail('session_ttl', 'must be at most 30d');
  const tenantLinkTtlMs = s.duration('tenant_link_ttl', '30d', { min: 3_600_000 });
  if (tenantLinkTtlMs > Math.min(3650 * 86_400_000, MAX_SECONDS * 1000)) s.fail('tenant_link_ttl', 'must be at most 3650d');
  const listen = s.string('tenant_listen');
  const tenantListen = listen === undefined || listen === '' ? undefined : parseListen(listen, 'ui.tenant_listen');
  const dir = s.string('dir') || DEFAULT_UI_DIR;
  if (!dir.startsWith('/')) s.fail('dir', `must be an absolute path, got "${dir}"`);
  s.done();
  return { sessionTtlMs, tenantLinkTtlMs, tenantListen, dir };
}
