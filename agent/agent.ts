// The agent: its parts wired together, the state it keeps across restarts, and its life (init, the timers,
// stop). One tick (default every 5 s) is policy -> place -> collect -> manual -> evaluate -> enforce -> spool ->
// report, run step by step in tick.ts; placement also runs on its own short tick (default 1 s). The agent
// decides locally, so it keeps governing while the controller is down; the controller is the source of truth
// for tenants, plans and manual actions, pulled in the background (transport/policy-pull.ts).
import type { Logger } from 'pino';
import type { ActionAck, HostStats, IncidentEvent, ManualAction, Policy, TenantInfoWire, TopProcess } from '../shared/wire/agent.js';
import { type BandwidthCollector, networkCollectors, nftExec } from './collectors/bandwidth.js';
import { CgroupStatsSource, type StatsReads } from './collectors/cgroup-stats.js';
import { type CollectContext, type Collector, runCollectors } from './collectors/collector.js';
import { CpuCollector } from './collectors/cpu.js';
import { HostCollector, hostFacts } from './collectors/host.js';
import { InodesCollector } from './collectors/inodes.js';
import { gatherInWorker, type InventoryGatherer, InventorySource } from './collectors/inventory.js';
import { IoCollector } from './collectors/io.js';
import { MemoryCollector } from './collectors/memory.js';
import { PressureCollector } from './collectors/pressure.js';
import { ProcessesCollector } from './collectors/processes.js';
import type { AgentConfig } from './config.js';
import { Enforcer, verifyEveryTicks } from './enforce.js';
import { InodeCaps } from './inode-caps.js';
import { quotaTools } from './kernel/quota.js';
import { ScannerCgroup } from './malware/cgroup.js';
import { MalwareService } from './malware/service.js';
import type { CgroupDriver } from './kernel/cgroup/driver.js';
import { devicesOf } from './kernel/devices.js';
import { topProcesses } from './kernel/top-processes.js';
import { TenantMetrics } from './metrics/exposition.js';
import { MetricsServer } from './metrics/server.js';
import { Placement } from './placement.js';
import type { DesiredInput } from './policy/desired.js';
import { Shaper } from './shaping/shaper.js';
import { DesiredLimits, netExec, reconcileShaper, reconcileWebServer, releaseShaper } from './edge-limits.js';
import { keepLogins, UserSlices } from './systemd.js';
import { evaluate } from './policy/evaluate.js';
import { type TenantPolicy, tenantLevel } from './policy/types.js';
import { type AgentState, applyManualActions, emptyAgentState, loadAgentState, saveAgentState } from './state.js';
import { TenantRegistry } from './tenants.js';
import { AGENT_VERSION, type Collected, type TickAgent, type TickObservation, type TickOptions, type TickResult, Ticker } from './tick.js';
import { PolicyPull } from './transport/policy-pull.js';
import { ControllerClient } from './transport/reporter.js';
import { Spool } from './transport/spool.js';
import { WEBLOGS_META_KEY, WebLogs } from './weblogs/weblogs.js';
import { WebServerLimits } from './webserver/apply.js';
import { WebSaturationCollector } from './webserver/saturation.js';

export { AGENT_VERSION, type StepStatus, type TickResult } from './tick.js';

export interface AgentOptions {
  config: AgentConfig;
  driver: CgroupDriver;
  log: Logger;
  dryRun?: boolean;
  /** Wall clock in milliseconds (tests may inject). */
  now?: () => number;
  /** The policy's decision function (default: policy/evaluate.ts; tests may inject one, e.g. one that fails). */
  evaluate?: typeof evaluate;
  /** How the host inventory is gathered (default: systeminformation in a worker thread; tests may inject one). */
  inventory?: InventoryGatherer;
  /** A driver for the scanner's own cgroup (parent `<cgroup.parent>-scanner`); absent: the engine runs uncapped. */
  scannerDriver?: CgroupDriver | undefined;
  /** How quotas are read and set (default: Debian's quota tools). */
  quotaTools?: typeof quotaTools;
  /** systemd host (agent/systemd.ts): logins stay in their session scopes, their user slices get the limits. */
  systemd?: boolean;
}

export class Agent implements TickAgent {
  readonly config: AgentConfig;
  readonly driver: CgroupDriver;
  readonly tenants: TenantRegistry;
  readonly spool: Spool;
  readonly log: Logger;
  readonly dryRun: boolean;
  readonly now: () => number;
  readonly evaluate: typeof evaluate;
  readonly client: ControllerClient | undefined;
  readonly pull: PolicyPull | undefined;
  /** The host inventory, gathered in the background (absent when `inventory.enabled` is false). */
  readonly inventory: InventorySource | undefined;
  /** Infected-file scanning and the file quarantine (absent when `malware.enabled` is false). */
  readonly malware: MalwareService | undefined;
  private readonly scannerCgroup: ScannerCgroup | undefined;
  /** Static facts of the host (cores, memory), read once. */
  readonly hostBase: HostStats;
  /** The access logs (absent when none are configured). */
  readonly weblogs: WebLogs | undefined;
  /** The web server's generated include of API limits (absent unless `web_server` is configured). */
  readonly webServer: WebServerLimits | undefined;
  /** What the Prometheus endpoint serves (absent unless `metrics_listen` is set: then a tick keeps nothing for it). */
  readonly metrics: TenantMetrics | undefined;
  private metricsServer: MetricsServer | undefined;
  /** Inode counts (absent when `inodes.enabled` is false). */
  readonly inodes: InodesCollector | undefined;
  /** Plans' inode caps: quotas and incidents (absent without inode counts, or with `enforce: false`). */
  readonly inodeCaps: InodeCaps | undefined;
  policy: Policy | undefined;
  private currentState: AgentState;
  private readonly placement: Placement;
  private readonly stats: CgroupStatsSource;
  private readonly collectors: Collector[];
  private readonly bandwidth: BandwidthCollector | undefined;
  /** Tenants' egress caps (plan `bandwidth`), absent when `bandwidth.shaping` is off. */
  private readonly shaper: Shaper | undefined;
  private readonly enforcer: Enforcer;
  private readonly ticker: Ticker;
  private devices = new Map<string, Array<{ major: number; minor: number }>>();
  private placementTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> | undefined;
  private stopped = false;
  private placementCpuUs = 0;
  private directory: { of: readonly unknown[]; list: TenantInfoWire[] } | undefined;
  private readonly desired = new DesiredLimits();
  /** systemd hosts: the tenants' user slices (logins), under the tenant's limits. */
  private readonly userSlices: UserSlices | undefined;

  constructor(opts: AgentOptions) {
    this.config = opts.config;
    this.driver = opts.driver;
    this.log = opts.log;
    this.dryRun = opts.dryRun ?? false;
    this.now = opts.now ?? Date.now;
    this.evaluate = opts.evaluate ?? evaluate;
    this.tenants = new TenantRegistry(this.config, (p) => this.log.warn({ tenant: p.tenant }, p.message));
    this.spool = new Spool(this.config.stateDir);
    this.placement = new Placement(this.driver, this.config.procRoot, this.log.child({ component: 'placement' }), opts.systemd ? keepLogins(this.config.procRoot) : {});
    this.userSlices = opts.systemd && !this.dryRun ? new UserSlices(this.log.child({ component: 'systemd' })) : undefined;
    this.stats = new CgroupStatsSource(this.driver, this.log.child({ component: 'stats' }), () => this.placement.placedInto());
    this.enforcer = new Enforcer(this.driver, this.log.child({ component: 'enforce' }), this.dryRun, verifyEveryTicks(this.config.intervalMs));
    this.hostBase = hostFacts(this.config.procRoot);
    if (this.config.web.apiCapacity !== undefined) this.hostBase.api_capacity = this.config.web.apiCapacity;
    if (this.config.ioCapacity) this.hostBase.io_capacity = { ...this.config.ioCapacity };
    // cgroup_stats first: the per-tenant collectors after it read what it read.
    this.collectors = [
      this.stats,
      new HostCollector(this.config.procRoot),
      new CpuCollector(),
      new MemoryCollector(),
      new IoCollector(),
      new ProcessesCollector(),
      new PressureCollector(
        () => this.driver.hostPressure(),
        () => this.driver.servicesPressure(),
      ),
    ];
    this.inodes = this.config.inodes.enabled ? new InodesCollector(this.config.procRoot, this.config.inodes.refreshMs, undefined, this.log.child({ component: 'inodes' })) : undefined;
    if (this.inodes) this.collectors.push(this.inodes);
    if (this.config.bandwidth.enabled) {
      const log = this.log.child({ component: 'bandwidth' });
      const [link, bandwidth] = networkCollectors(this.config.bandwidth, this.driver.kind === 'v2' ? this.driver.parent : undefined, () => this.config.policy.contention, (m) => log.warn(m));
      this.bandwidth = bandwidth;
      this.collectors.push(link, bandwidth);
    }
    if (this.config.bandwidth.shaping) {
      const log = this.log.child({ component: 'shaper' });
      this.shaper = new Shaper(netExec, nftExec, {
        table: `${this.config.bandwidth.table}_shape`,
        ...(this.config.bandwidth.interfaces ? { interfaces: this.config.bandwidth.interfaces } : {}),
        warn: (f, m) => log.warn(f, m),
        info: (f, m) => log.info(f, m),
      });
    }
    // After bandwidth: web bytes join the tenants' sent bytes.
    this.weblogs = this.config.web.sources.length > 0 ? new WebLogs(this.config.web, this.spool.getMeta(WEBLOGS_META_KEY), this.log.child({ component: 'weblogs' }), this.now) : undefined;
    if (this.weblogs) this.collectors.push(this.weblogs);
    this.webServer = this.config.webServer ? new WebServerLimits(this.config.webServer, this.log.child({ component: 'webserver' }), this.dryRun, this.now) : undefined;
    if (this.config.webServer) this.collectors.push(new WebSaturationCollector(this.config.webServer.listenQueues, this.config.webServer.queueThreshold));
    const client = this.config.controller ? new ControllerClient(this.config.controller, this.config.host, this.spool, this.log.child({ component: 'reporter' })) : undefined;
    this.client = client;
    this.pull = client ? new PolicyPull((cancel) => client.pullPolicy(cancel)) : undefined;
    this.inventory = this.config.inventory.enabled
      ? new InventorySource({
          gather: opts.inventory ?? gatherInWorker,
          intervalMs: this.config.inventory.intervalMs,
          now: this.now,
          homes: () => this.tenants.list().flatMap((t) => t.homes),
          log: this.log.child({ component: 'inventory' }),
        })
      : undefined;
    const mw = this.config.malware;
    this.scannerCgroup = opts.scannerDriver ? new ScannerCgroup(opts.scannerDriver, { cpuPercent: mw.cpuPercent, ioReadBps: mw.ioReadBps, homes: () => this.tenants.list().flatMap((t) => t.homes) }) : undefined;
    this.malware = mw.enabled
      ? new MalwareService({
          // A dry run moves nothing: it reports what it finds.
          config: this.dryRun ? { ...mw, settings: { ...mw.settings, action: 'report' } } : mw,
          stateDir: this.config.stateDir,
          tenants: () => this.tenants.list().map((t) => ({ name: t.name, uids: t.uids, homes: t.homes })),
          log: this.log.child({ component: 'malware' }),
          now: this.now,
          enter: this.scannerCgroup ? (pid) => this.scannerCgroup!.enter(pid) : undefined,
          dryRun: this.dryRun,
        })
      : undefined;
    this.metrics = this.config.metrics ? new TenantMetrics({ version: AGENT_VERSION, host: this.config.host }) : undefined;
    this.currentState = loadAgentState(this.spool, this.log);
    this.inodeCaps = this.inodes && this.config.enforce ? new InodeCaps(this.inodes, this.config, this.spool, opts.quotaTools ?? quotaTools, this.dryRun, this.log.child({ component: 'inodes' })) : undefined;
    this.ticker = new Ticker(this);
  }

  /** The state persisted with each report (enforcement, manual actions seen, acknowledgements and events to send). */
  get state(): AgentState {
    return this.currentState;
  }

  /** Prepare the cgroup parent and tenant cgroups, place processes, take the counters' baseline, re-apply limits. */
  init(): void {
    this.driver.setup();
    const stored = this.client?.storedPolicy();
    if (stored) {
      this.applyPolicy(stored);
      this.policy = stored;
    }
    this.refreshTenants();
    this.place();
    this.collect(); // baseline: rates need two readings
    this.ticker.baseline();
    const open = Object.keys(this.state.policy.ladders).length + Object.keys(this.state.policy.manual).length;
    if (open > 0) this.log.info({ open }, 'resuming enforcement state from before the restart');
    this.enforce();
    this.pull?.start(); // the first tick takes its answer
  }

  applyPolicy(policy: Policy): void {
    this.tenants.setManaged(policy.tenants.length > 0 ? policy.tenants : undefined, policy.plans);
  }

  private refreshTenants(): void {
    if (!this.tenants.refresh()) return;
    this.placement.invalidate(); // UIDs may belong to other tenants now: verify every process again
    this.placement.ensureCgroups(this.tenants.list());
    this.devices.clear();
    this.retireGone();
  }

  /** Tenants no longer defined (config or controller): thawed, limits lifted, processes to `release_to`, cgroup removed, incidents forgotten. */
  private retireGone(): void {
    const live = new Set(this.tenants.list().map((t) => t.name));
    for (const name of this.driver.list()) {
      if (live.has(name)) continue;
      if (this.dryRun) {
        this.log.info({ tenant: name }, 'dry-run: would release a tenant that is no longer defined and remove its cgroup');
        continue;
      }
      try {
        this.stats.close(name);
        this.driver.release(name);
        this.driver.remove(name, { moveTo: this.config.cgroup.releaseTo });
        this.placement.forget(name);
        this.enforcer.forget(name);
        delete this.state.policy.ladders[name];
        delete this.state.policy.manual[name];
        if (this.state.inodes) delete this.state.inodes[name];
        this.log.info({ tenant: name }, 'tenant no longer defined: released and its cgroup removed');
      } catch (err) {
        this.log.error({ tenant: name, err: (err as Error).message }, 'cannot retire a tenant that is no longer defined');
      }
    }
  }

  /** Refresh the tenant set and place every tenant process; throws what went wrong (the tick's place step). */
  placeTenants(opts: { periodicFull?: boolean } = {}): void {
    this.refreshTenants();
    const r = this.placement.run((uid) => this.tenants.byUid(uid), opts);
    if (r.moved > 0) this.log.debug(r, 'placement');
  }

  /** placeTenants() for the placement timer and init: a failure is logged, and the next round tries again. */
  place(): void {
    const cpu0 = process.cpuUsage();
    try {
      this.placeTenants();
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'placement failed');
    }
    const c = process.cpuUsage(cpu0);
    this.placementCpuUs += c.user + c.system;
  }

  takePlacementCpuMs(): number {
    const ms = this.placementCpuUs / 1000;
    this.placementCpuUs = 0;
    return ms;
  }

  takeStrays(): Map<string, number> {
    return this.placement.takeStrays();
  }

  statsReads(): StatsReads {
    return this.stats.lastReads;
  }

  collect(): Collected {
    const tenants = this.tenants.list();
    const ctx: CollectContext = {
      mono: performance.now(),
      tenants,
      stats: new Map(),
      samples: new Map(tenants.map((t) => [t.name, { tenant: t.name }])),
      host: { ...this.hostBase },
    };
    const collectors = runCollectors(this.collectors, ctx, this.log.child({ component: 'collect' }));
    // The inventory is gathered off the tick's path: started here when due, its status that of its latest gathering.
    this.inventory?.poll(this.now());
    if (this.inventory) collectors.push(...this.inventory.statuses());
    // Scans run in the background; the schedule, retention and the policy's file and scan requests are looked at here.
    this.malware?.poll(this.policy);
    const out: Collected = { samples: ctx.samples, host: ctx.host, collectors, stats: ctx.stats };
    if (ctx.network) out.network = ctx.network;
    if (ctx.throttled) out.throttled = ctx.throttled;
    if (ctx.services) out.services = ctx.services;
    if (ctx.web) out.web = ctx.web;
    return out;
  }

  tenantPolicies(): Map<string, TenantPolicy> {
    const out = new Map<string, TenantPolicy>();
    for (const t of this.tenants.list()) out.set(t.name, t.plan ? { plan: t.plan, ...(t.planName ? { planName: t.planName } : {}) } : {});
    return out;
  }

  private devicesOf(tenant: string, homes: string[]): Array<{ major: number; minor: number }> {
    let d = this.devices.get(tenant);
    if (!d) {
      d = devicesOf(homes);
      this.devices.set(tenant, d);
    }
    return d;
  }

  /** Write what the policy wants into the kernel (plan caps always; throttles; quarantine). */
  enforce(): void {
    if (!this.config.enforce) return;
    const cpuCapacity = this.hostBase.cores * 100;
    const inputs = new Map<string, DesiredInput>();
    for (const t of this.tenants.list()) {
      const devices = this.devicesOf(t.name, t.homes);
      inputs.set(t.name, { plan: t.plan, ladders: this.state.policy.ladders[t.name], manual: this.state.policy.manual[t.name], config: this.config.policy, devices, cpuCapacity });
    }
    const desired = this.desired.compute(inputs);
    this.enforcer.reconcile(desired);
    this.userSlices?.reconcileTenants(this.tenants.list(), desired);
    if (this.webServer) reconcileWebServer(this.webServer, this.tenants.list(), this.state, this.config);
    if (this.shaper) reconcileShaper(this.shaper, this.tenants.list(), this.state, this.config, this.dryRun, this.log);
  }

  /** Inode caps (inode-caps.ts): their incident events this tick (a failure costs them, not the cgroup ladder). */
  evaluateInodes(now: number): IncidentEvent[] {
    if (!this.inodeCaps) return [];
    try {
      const out = this.inodeCaps.evaluate(this.tenants.list(), this.state.inodes, now);
      this.state.inodes = out.state;
      return out.events;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'inode caps not evaluated this tick');
      return [];
    }
  }

  /** Manual actions, each applied once; their acknowledgements wait in the state for the next report. */
  applyManualActions(actions: readonly ManualAction[], now: number): IncidentEvent[] {
    return applyManualActions(this.state, actions, now, { config: this.config.policy, governs: (t) => this.tenants.get(t) !== undefined, log: this.log });
  }

  /** The top processes of some tenants, sampled over a short span (a tenant whose cgroup is gone has none). */
  topProcessesOf(tenants: readonly string[]): Promise<Map<string, TopProcess[]>> {
    return topProcesses(this.config.procRoot, new Map(tenants.map((t) => [t, () => safe(() => this.driver.procs(t), [])])));
  }

  /** What the tenant was doing when an administrator acted: its latest cpu, its top processes (sampled briefly). */
  async describeManual(events: IncidentEvent[]): Promise<void> {
    const opened = events.filter((e) => e.type === 'opened');
    if (opened.length === 0) return;
    const tops = await this.topProcessesOf(opened.map((e) => e.tenant));
    const latest = this.ticker.latestSamples();
    for (const e of opened) {
      e.explanation.top_processes = tops.get(e.tenant) ?? [];
      const cpu = latest?.get(e.tenant)?.cpu?.percent;
      if (cpu !== undefined) e.explanation.measured = { value: cpu, unit: '% of one core' };
    }
  }

  /** Apply one manual action directly (as the controller's come); events and ack go with the next report, state saved now. */
  async manual(action: ManualAction): Promise<{ events: IncidentEvent[]; ack: ActionAck }> {
    const before = this.state.acks.length;
    const events = this.applyManualActions([action], this.now());
    await this.describeManual(events);
    this.state.events.push(...events);
    this.enforce();
    if (!this.dryRun) saveAgentState(this.spool, this.state);
    return { events, ack: this.state.acks[before] ?? this.state.acks[this.state.acks.length - 1]! };
  }

  /** The tenants this agent governs, as the report's tenant directory lists them. */
  tenantDirectory(): TenantInfoWire[] {
    // The same array while the tenant set is the same (the tick compares it by identity before serialising it).
    const tenants = this.tenants.list();
    if (this.directory?.of === tenants) return this.directory.list;
    const list = tenants.map((t) => ({
      name: t.name,
      ...(t.email ? { email: t.email } : {}),
      ...(t.planName ? { plan: t.planName } : {}),
      uids: t.uids,
      source: t.source,
    }));
    this.directory = { of: tenants, list };
    return list;
  }

  /** A tick's measurements for the metrics endpoint (a reference kept; rendered only when scraped). */
  observed(o: TickObservation): void {
    if (!this.metrics) return;
    const tenants = this.tenants.list().map((t) => ({
      name: t.name,
      planName: t.planName,
      plan: t.plan,
      stats: o.stats.get(t.name),
      network: o.network?.get(t.name),
      sample: o.samples.get(t.name),
      level: tenantLevel(this.state.policy, t.name),
    }));
    this.metrics.update({ at: o.at, tenants }, o.strays);
  }

  /** Open the metrics endpoint (when `metrics_listen` is set); its URL, or undefined when it is off. */
  async listenMetrics(): Promise<string | undefined> {
    if (!this.config.metrics || !this.metrics) return undefined;
    this.metricsServer = new MetricsServer(this.config.metrics, this.metrics, this.log.child({ component: 'metrics' }));
    return this.metricsServer.listen();
  }

  /** One full tick (tick.ts); `awaitPolicy` makes it include a policy pull (--once). */
  tick(opts: TickOptions = {}): Promise<TickResult> {
    return this.ticker.run(opts);
  }

  /** Thaw and release every tenant, and remove every cgroup the agent made (the uninstall path). */
  releaseAll(): string[] {
    const released: string[] = [];
    for (const tenant of this.driver.list()) {
      this.driver.release(tenant);
      this.driver.remove(tenant, { moveTo: this.config.cgroup.releaseTo });
      released.push(tenant);
    }
    this.driver.teardown();
    this.bandwidth?.remove();
    this.inodeCaps?.restoreAll();
    if (this.shaper) releaseShaper(this.shaper, this.log);
    try {
      this.scannerCgroup?.remove();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not remove the scanner's cgroup");
    }
    if (this.malware) this.log.info({ store: this.malware.store.dir }, 'the file quarantine store stays where it is');
    this.currentState = emptyAgentState(this.state.seenActions);
    saveAgentState(this.spool, this.state);
    return released;
  }

  /** Run as a daemon until stop(). */
  start(): void {
    this.init();
    this.placementTimer = setInterval(() => this.place(), this.config.placementIntervalMs);
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick()
        .catch((err: unknown) => this.log.error({ err: (err as Error).message, stack: (err as Error).stack }, 'tick failed'))
        .finally(() => {
          this.ticking = undefined;
          if (!this.stopped) this.tickTimer = setTimeout(loop, Math.max(0, this.config.intervalMs - (performance.now() - this.ticker.lastTickMono)));
        });
    };
    this.tickTimer = setTimeout(loop, this.config.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.placementTimer);
    clearTimeout(this.tickTimer);
    await this.ticking;
    this.inventory?.stop();
    await this.malware?.stop();
    await this.pull?.stop();
    await this.metricsServer?.close();
    this.stats.closeAll();
    this.driver.closeFiles?.();
    this.weblogs?.close();
    this.bandwidth?.close();
    this.spool.close();
  }
}

function safe<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
