// metrics_listen / metrics_token_file: the agent's Prometheus endpoint (metrics/server.ts), off unless
// metrics_listen is set. An address without a host part (":9640" or "9640") binds loopback only: tenants'
// usage is not published to the network unless the administrator names an address.
import type { Section } from '../../shared/config.js';

export interface MetricsConfig {
  host: string;
  /** 0: the kernel picks a free port (tests); the bound address is logged ("metrics listening"). */
  port: number;
  /** A file whose content (trimmed) a scrape must send as `Authorization: Bearer <token>`. */
  tokenFile?: string;
}

const LISTEN_RE = /^(?:(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]*)):)?(\d{1,5})$/;

export function readMetricsConfig(root: Section): MetricsConfig | undefined {
  const listen = root.string('metrics_listen');
  const tokenFile = root.string('metrics_token_file');
  if (listen === undefined || listen.trim() === '') {
    if (tokenFile !== undefined) root.fail('metrics_token_file', 'is set but metrics_listen is not (the metrics endpoint is off)');
    return undefined;
  }
  const m = LISTEN_RE.exec(listen.trim());
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || !(port >= 0 && port <= 65535)) root.fail('metrics_listen', `must be address:port (127.0.0.1:9640, [::1]:9640) or a port (loopback), got "${listen}"`);
  if (tokenFile !== undefined && !tokenFile.startsWith('/')) root.fail('metrics_token_file', `must be an absolute path, got "${tokenFile}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port, ...(tokenFile !== undefined ? { tokenFile } : {}) };
}
