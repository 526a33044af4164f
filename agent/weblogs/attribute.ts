// Which tenant a request belongs to (its virtual host among the tenants' `domains`: exact names and
// `*.example.com` wildcards, which match any name below example.com but not example.com itself, as nginx's
// server_name does), and whether it is an API call (its path starts with one of the tenant's `api_paths`).
import type { ParsedLine } from './parse.js';

export const DEFAULT_API_PATHS: readonly string[] = ['/api/', '/wp-json/', '/xmlrpc.php', '/graphql'];

/** Hosts looked up are remembered up to this many (a flood of random Host headers cannot grow it without end). */
const HOST_CACHE_MAX = 10_000;

export interface DomainOwner {
  name: string;
  domains: readonly string[];
}

export class DomainMap {
  private readonly exact = new Map<string, string>();
  /** `example.com` for `*.example.com`. */
  private readonly wild = new Map<string, string>();
  private readonly cache = new Map<string, string | null>();

  constructor(owners: readonly DomainOwner[]) {
    for (const o of owners) {
      for (const raw of o.domains) {
        const d = raw.trim().toLowerCase().replace(/\.$/, '');
        if (d.startsWith('*.')) {
          if (!this.wild.has(d.slice(2))) this.wild.set(d.slice(2), o.name);
        } else if (d !== '' && !this.exact.has(d)) {
          this.exact.set(d, o.name);
        }
      }
    }
  }

  /** The tenant whose domains hold `host` (lower case, no port), or undefined. */
  tenantOf(host: string): string | undefined {
    const hit = this.cache.get(host);
    if (hit !== undefined) return hit ?? undefined;
    let owner = this.exact.get(host);
    if (owner === undefined && this.wild.size > 0) {
      for (let dot = host.indexOf('.'); dot >= 0 && owner === undefined; dot = host.indexOf('.', dot + 1)) owner = this.wild.get(host.slice(dot + 1));
    }
    if (this.cache.size >= HOST_CACHE_MAX) this.cache.clear();
    this.cache.set(host, owner ?? null);
    return owner;
  }
}

/** Compiled API path prefixes. A prefix not ending in `/` matches the path itself or below it (`/graphql`, `/graphql/x`, `/graphql?q`). */
export class ApiPaths {
  private readonly prefixes: string[];
  private readonly open: boolean[];

  constructor(prefixes: readonly string[]) {
    this.prefixes = [...prefixes];
    this.open = this.prefixes.map((p) => p.endsWith('/'));
  }

  matches(line: ParsedLine): boolean {
    const s = line.uriText;
    const at = line.uriStart;
    const end = line.uriEnd;
    for (let i = 0; i < this.prefixes.length; i++) {
      const p = this.prefixes[i]!;
      if (at + p.length > end || !s.startsWith(p, at)) continue;
      if (this.open[i]) return true;
      const next = at + p.length;
      if (next === end) return true;
      const c = s.charCodeAt(next);
      if (c === 0x2f || c === 0x3f || c === 0x23) return true;
    }
    return false;
  }
}
