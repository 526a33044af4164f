// The running controller: store, tokens, report parser, the app on its listener, and the scheduled jobs
// (retention and the expiry of unmanaged tenants on its cron schedule, the remediation cases' overdue job on
// remediation.schedule, a periodic rollup flush for hosts that went silent). There is one rollup
// Flusher: the app kicks it after each report, the periodic job passes over every host and clears a failure,
// so one failed flush between requests is retried and the kicks resume after it.
import { mkdirSync } from 'node:fs';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { ConfigError } from '../shared/errors.js';
import { buildApp, type App } from './http/app.js';
import { readAgentsDir } from './agents-dir.js';
import { ensureAdminToken, hashToken, readTokenFile, TokenRegistry } from './auth.js';
import type { ControllerConfig } from './config.js';
import { safeDatabaseUrl } from './store/postgres/config.js';
import { Flusher } from './ingest/flusher.js';
import { createReportParser, type ReportParser } from './ingest/parser.js';
import { controllerMetrics } from './metrics.js';
import { startNotices, type Notices } from './notices/service.js';
import { RemediationService } from './remediation/service.js';
import { PgStore } from './store/postgres/pg-store.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/store.js';
import { describePair, readTlsPair, registerTlsMetrics, TlsReloader, type SecureContextTarget } from './tls.js';
import { TenantLinkService } from './ui/links.js';

/** How often hosts that stopped reporting get their open minutes written. */
export const PERIODIC_FLUSH_MS = 30_000;

export interface RunningController {
  app: App;
  /** The embedded SQLite store, or the PostgreSQL one with database.url. */
  store: Store;
  /** Tenants' notices: the outbox, its sender (controller/notices). */
  notices: Notices;
  /** Remediation cases (controller/remediation); its overdue job runs on remediation.schedule. */
  remediation: RemediationService;
  /** The one rollup flusher (kicked after reports; its periodic pass runs every PERIODIC_FLUSH_MS). */
  flusher: Flusher;
  /** http(s)://address:port actually bound (port 0 in the config picks a free one). */
  url: string;
  /** The tenant pages' own listener (ui.tenant_listen), as `url`; undefined when not configured. */
  tenantUrl: string | undefined;
  /** With `tls` configured: the certificate in use; reload() reads the files again (SIGHUP). */
  tls: TlsReloader | undefined;
  close(): Promise<void>;
}

/** Tokens from the config: the admin token file (generated when missing), named admins, agents. */
export function loadTokens(config: ControllerConfig, log?: Logger): TokenRegistry {
  const tokens = new TokenRegistry();
  const admin = ensureAdminToken(config.adminTokenFile);
  if (admin.generated) log?.info({ file: config.adminTokenFile }, 'generated a new admin token (mode 0600); use it as "Authorization: Bearer <token>"');
  tokens.addToken(admin.token, { kind: 'admin', name: 'admin' });
  const add = (key: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(key, (err as Error).message, { cause: err });
    }
  };
  for (const a of config.admins) {
    add(a.key, () => {
      if (a.tokenFile !== undefined) tokens.addToken(readTokenFile(a.tokenFile, `${a.key}.token_file`), { kind: 'admin', name: a.name, role: a.role });
      else tokens.addHash(a.tokenSha256!, { kind: 'admin', name: a.name, role: a.role });
    });
  }
  const hashes = new Map<string, string>(); // host -> sha256 hex of its agents: token
  for (const u of config.usageApiTokens) {
    add(u.key, () => {
      if (u.tokenFile !== undefined) tokens.addToken(readTokenFile(u.tokenFile, `${u.key}.token_file`), { kind: 'usage', name: u.name });
      else tokens.addHash(u.tokenSha256!, { kind: 'usage', name: u.name });
    });
  }
  for (const a of config.agents) {
    const principal = { kind: 'agent' as const, name: `agent:${a.host}`, host: a.host };
    add(a.key, () => {
      const hex = a.tokenFile !== undefined ? hashToken(readTokenFile(a.tokenFile, `${a.key}.token_file`)).toString('hex') : a.tokenSha256!.toLowerCase();
      tokens.addHash(hex, principal);
      hashes.set(a.host, hex);
    });
  }
  if (config.agentsDir !== undefined) {
    const dir = readAgentsDir(config.agentsDir);
    if (dir.skipped.length > 0) log?.warn({ agents_dir: config.agentsDir, skipped: dir.skipped }, 'agents_dir: files not named HOST.token are skipped');
    for (const a of dir.agents) {
      const hex = hashToken(a.token).toString('hex');
      const listed = hashes.get(a.host);
      if (listed !== undefined && listed !== hex) throw new ConfigError('agents_dir', `${a.file}: host ${a.host} is also in agents: with another token (remove one of them)`);
      add('agents_dir', () => tokens.addHash(hex, { kind: 'agent', name: `agent:${a.host}`, host: a.host }));
      hashes.set(a.host, hex);
    }
  }
  return tokens;
}

export interface StartOptions {
  log: Logger;
  now?: () => number;
  /** Worker script of the report parser (tests of the source tree point it at dist/). */
  parserWorkerFile?: string;
  /**
   * Called with the open store before the API listens, so what it registers (store.onIncidentEvents,
   * store.onActionQueued: the notices) sees every event from the first report on.
   */
  beforeListen?: (store: Store, config: ControllerConfig) => void | Promise<void>;
  /** Period of the rollup flush pass over all hosts (default PERIODIC_FLUSH_MS). */
  periodicFlushMs?: number;
}

export async function startController(config: ControllerConfig, opts: StartOptions): Promise<RunningController> {
  const { log } = opts;
  mkdirSync(config.stateDir, { recursive: true, mode: 0o750 });
  const tokens = loadTokens(config, log);
  const tlsPair = config.tls ? readTlsPair(config.tls) : undefined; // ConfigError naming the key, before anything opens
  const agents = tokens.agentHosts().size;
  if (agents === 0) log.warn({ agents_dir: config.agentsDir }, 'no agents configured: no host can post reports (add agents: [{ host, token_file }], or HOST.token files in agents_dir)');
  const storeOptions = {
    now: opts.now,
    retention: config.retention,
    fairness: config.fairness,
    flushIntervalMs: config.rollup.flushIntervalMs,
    tenants: config.tenants,
    log: log.child({ component: 'store' }),
  };
  // database.url: the PostgreSQL store, which several controllers may share (store/postgres/pg-store.ts);
  // else the embedded SQLite file, one controller's.
  const store: Store = config.postgres ? await PgStore.open(config.postgres, storeOptions) : new SqliteStore({ file: config.database, ...storeOptions });
  let parser: ReportParser | undefined;
  let app: App | undefined;
  let tenantApp: App | undefined;
  let tenantTls: TlsReloader | undefined;
  let retentionTask: ScheduledTask | undefined;
  let remediationTask: ScheduledTask | undefined;
  let timer: NodeJS.Timeout | undefined;
  let notices: Notices | undefined;
  let tls: TlsReloader | undefined;
  try {
    await opts.beforeListen?.(store, config);
    parser = createReportParser(config.ingest.parserThreads, opts.parserWorkerFile);
    const metrics = controllerMetrics(opts.now);
    const flusher = new Flusher(store, { log: log.child({ component: 'rollup' }), onFlushed: (n) => metrics.flushes.inc(n) });
    // Registered before the API listens, so every incident event from the first report on makes its notices.
    // With public_url, every notice carries the tenant's signed usage page link (controller/ui/tenant-link.ts);
    // the key is read once here so the outbox can sign inside its transaction.
    const linkService = new TenantLinkService(store.ui, config.ui.tenantLinkTtlMs, opts.now);
    const tenantLinks = config.publicUrl !== undefined ? await linkService.links(config.publicUrl) : undefined;
    notices = startNotices(store, config, { log, now: opts.now, registry: metrics.registry, tenantLink: tenantLinks ? (tenant) => tenantLinks.url(tenant) : undefined });
    const n0 = notices;
    const remediation = new RemediationService({
      store,
      config: config.remediation,
      notices: config.notices,
      publicUrl: config.publicUrl,
      tenantLink: tenantLinks ? (tenant) => tenantLinks.url(tenant) : undefined,
      domain: n0.domain,
      log: log.child({ component: 'remediation' }),
      now: opts.now,
      onQueued: () => n0.kick(),
      onHeld: (holds, at) => n0.recordHolds(holds, at),
    });
    app = await buildApp({
      store,
      tokens,
      log,
      parser,
      metrics,
      flusher,
      outbox: notices.outbox,
      remediation,
      now: opts.now,
      reportBodyLimit: config.ingest.maxReportSize,
      halfLifeMs: config.fairness.halfLifeMs,
      https: tlsPair,
      ui: { sessionTtlMs: config.ui.sessionTtlMs, tenantLinkTtlMs: config.ui.tenantLinkTtlMs, dir: config.ui.dir, publicUrl: config.publicUrl, support: config.notices.support },
    });
    const address = await app.listen({ host: config.listen.host, port: config.listen.port });
    let tenantUrl: string | undefined;
    if (config.ui.tenantListen) {
      // The tenant pages alone (/t/...), so that /v1 and /ui need not face the internet.
      tenantApp = await buildApp({
        store,
        tokens,
        log,
        parser,
        metrics,
        flusher,
        remediation,
        now: opts.now,
        https: tlsPair,
        surface: 'tenant',
        ui: { tenantLinkTtlMs: config.ui.tenantLinkTtlMs, dir: config.ui.dir, publicUrl: config.publicUrl, support: config.notices.support },
      });
      const tenantAddress = await tenantApp.listen({ host: config.ui.tenantListen.host, port: config.ui.tenantListen.port });
      tenantUrl = tenantAddress.replace('[::]', '[::1]').replace('0.0.0.0', '127.0.0.1');
      if (config.tls && tlsPair) {
        tenantTls = new TlsReloader(tenantApp.server as unknown as SecureContextTarget, config.tls, tlsPair, { log: log.child({ component: 'tls' }), now: opts.now });
        tenantTls.watch();
      }
      log.info({ url: tenantUrl }, 'tenant pages listening (ui.tenant_listen)');
    }
    const url = address.replace('[::]', '[::1]').replace('0.0.0.0', '127.0.0.1');
    if (config.tls && tlsPair) {
      tls = new TlsReloader(app.server as unknown as SecureContextTarget, config.tls, tlsPair, { log: log.child({ component: 'tls' }), now: opts.now });
      tls.watch();
      registerTlsMetrics(metrics.registry, tls);
    }
    log.info({ url, database: config.postgres ? safeDatabaseUrl(config.postgres.url) : config.database, parser_threads: parser.threads, agents, ...(tlsPair ? { tls: describePair(tlsPair) } : {}) }, 'controller listening');

    const rlog = log.child({ component: 'retention' });
    retentionTask = cron.schedule(
      config.retention.schedule,
      async () => {
        const started = performance.now();
        try {
          const r = await store.applyRetention();
          metrics.retentionRuns.inc({ result: 'ok' });
          for (const tier of ['raw', 'minute', 'hour', 'records'] as const) metrics.retentionDeleted.inc({ tier }, r[tier]);
          rlog.info({ ...r, ms: Math.round(performance.now() - started) }, 'retention run');
        } catch (err) {
          metrics.retentionRuns.inc({ result: 'failed' });
          rlog.error({ err }, 'retention run failed');
        }
        try {
          const x = await store.expireTenants();
          metrics.tenantsExpired.inc(x.expired);
          if (x.expired) rlog.info({ expired: x.expired, tenants: x.names }, `deleted ${x.expired} unmanaged tenants unseen for tenants.unmanaged_ttl`);
        } catch (err) {
          rlog.error({ err }, 'expiring unmanaged tenants failed');
        }
        try {
          const u = await store.ui.purge((opts.now ?? Date.now)());
          if (u.sessions || u.links) rlog.info(u, 'dropped expired dashboard sessions and tenant links');
        } catch (err) {
          rlog.error({ err }, 'dropping expired dashboard sessions failed');
        }
      },
      { name: 'hostwarden-retention', noOverlap: true },
    );
    // The overdue job: automatic cases, reminders, overdue cases and their steps (controller/remediation).
    const mlog = log.child({ component: 'remediation' });
    remediationTask = cron.schedule(
      config.remediation.schedule,
      async () => {
        try {
          const r = await remediation.tick();
          if (r.opened || r.reminded || r.overdue || r.stepsApplied || r.stepsLifted) mlog.info({ ...r }, 'remediation run');
        } catch (err) {
          mlog.error({ err }, 'remediation run failed');
        }
      },
      { name: 'hostwarden-remediation', noOverlap: true },
    );
    let flushing = false;
    timer = setInterval(() => {
      if (flushing) return;
      flushing = true;
      flusher
        .periodic()
        .catch((err: unknown) => log.error({ err }, 'periodic rollup flush failed'))
        .finally(() => (flushing = false));
    }, opts.periodicFlushMs ?? PERIODIC_FLUSH_MS);
    timer.unref();

    const running = app;
    const p = parser;
    const n = notices;
    const t = tls;
    const tt = tenantTls;
    const ta = tenantApp;
    let closing: Promise<void> | undefined;
    return {
      app: running,
      store,
      notices: n,
      remediation,
      flusher,
      url,
      tenantUrl,
      tls: t,
      close: () =>
        (closing ??= (async () => {
          t?.close();
          tt?.close();
          clearInterval(timer);
          await retentionTask?.destroy();
          await remediationTask?.destroy();
          await ta?.close();
          await running.close();
          await n.close();
          await p.close();
          await store.close();
          log.info('controller stopped');
        })()),
    };
  } catch (err) {
    tls?.close();
    tenantTls?.close();
    clearInterval(timer);
    await tenantApp?.close().catch(() => {});
    await retentionTask?.destroy();
    await remediationTask?.destroy();
    await app?.close().catch(() => {});
    await notices?.close().catch(() => {});
    await parser?.close().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }
}
