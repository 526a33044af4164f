// The agent: one tick (default every 5 s) is place -> collect -> evaluate -> enforce -> spool -> report;
// placement also runs on its own short tick (default 1 s). The agent decides locally, so it keeps governing
// while the controller is down; the controller is the source of truth for tenants, plans and manual actions.
import type { Logger } from 'pino';
import type { ActionAck, HostStats, IncidentEvent, ManualAction, Policy, TenantInfoWire, TenantSample } from '../shared/wire/agent.js';
import { VERSION } from '../shared/version.js';
import { WIRE_VERSION } from '../shared/wire/agent.js';
import type { CgroupDriver } from './cgroup/driver.js';
import { BandwidthCollector } from './collectors/bandwidth.js';
import { CgroupStatsSource } from './collectors/cgroup-stats.js';
import { type CollectContext, type Collector, runCollectors } from './collectors/collector.js';
import { CpuCollector } from './collectors/cpu.js';
import { HostCollector, hostFacts } from './collectors/host.js';
import { InodesCollector } from './collectors/inodes.js';
import { IoCollector } from './collectors/io.js';
import { MemoryCollector } from './collectors/memory.js';
import { PressureCollector } from './collectors/pressure.js';
import { ProcessesCollector } from './collectors/processes.js';
import type { AgentConfig } from './config.js';
import { devicesOf } from './devices.js';
import { Enforcer } from './enforce.js';
import { Placement } from './placement.js';
import { evaluate } from './policy/evaluate.js';
import { type Desired, desiredLimits } from './policy/limits.js';
import { applyManual, expireManual } from './policy/manual.js';
import { type Decision, emptyState, type Observation, type PolicyState, type TenantPolicy } from './policy/types.js';
import { ControllerClient } from './reporter.js';
import { Spool } from './spool.js';
import { TenantRegistry } from './tenants.js';
import { topProcesses } from './top.js';

export const AGENT_VERSION = VERSION;
/** Manual action ids are remembered this long, so an action served again is not applied twice. */
const SEEN_ACTION_TTL_MS = 7 * 86_400_000;

export interface AgentOptions {
  config: AgentConfig;
  driver: CgroupDriver;
  log: Logger;
  dryRun?: boolean;
  /** Wall clock in milliseconds (tests may inject). */
  now?: () => number;
}

export interface TickResult {
  seq: number;
  tenants: number;
  samples: TenantSample[];
  host: HostStats;
  decisions: Decision[];
  events: IncidentEvent[];
  acks: ActionAck[];
  sent: number;
  pending: number;
  reportError?: string;
}

/** What the agent keeps across restarts (in the spool database, written with each tick's report). */
interface AgentState {
  policy: PolicyState;
  /** Manual action id -> when it was applied. */
  seenActions: Record<string, number>;
  /** Acknowledgements not yet delivered in a report. */
  acks: ActionAck[];
  /** Incident events decided between ticks (manual actions applied directly), for the next report. */
  events: IncidentEvent[];
}

export class Agent {
  readonly config: AgentConfig;
  readonly driver: CgroupDriver;
  readonly tenants: TenantRegistry;
  readonly spool: Spool;
  private readonly log: Logger;
  private readonly dryRun: boolean;
  private readonly placement: Placement;
  private readonly stats: CgroupStatsSource;
  private readonly collectors: Collector[];
  private readonly bandwidth: BandwidthCollector | undefined;
  private readonly enforcer: Enforcer;
  private readonly client: ControllerClient | undefined;
  private readonly now: () => number;
  private readonly hostBase: HostStats;
  private state: AgentState;
  private window: Observation[] = [];
  private devices = new Map<string, Array<{ major: number; minor: number }>>();
  private placementTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private ticking: Promise<unknown> | undefined;
  private lastTickMono = 0;
  private stopped = false;
  /** The tenant directory last reported, and when. */
  private reportedTenants = { key: '', at: 0 };

  constructor(opts: AgentOptions) {
    this.config = opts.config;
    this.driver = opts.driver;
    this.log = opts.log;
    this.dryRun = opts.dryRun ?? false;
    this.now = opts.now ?? Date.now;
    this.tenants = new TenantRegistry(this.config, (p) => this.log.warn({ tenant: p.tenant }, p.message));
    this.spool = new Spool(this.config.stateDir);
    this.placement = new Placement(this.driver, this.config.procRoot, this.log.child({ component: 'placement' }));
    this.stats = new CgroupStatsSource(this.driver, this.log.child({ component: 'stats' }));
    this.enforcer = new Enforcer(this.driver, this.log.child({ component: 'enforce' }), this.dryRun);
    this.hostBase = hostFacts(this.config.procRoot);
    this.collectors = [
      new HostCollector(this.config.procRoot),
      new CpuCollector(),
      new MemoryCollector(),
      new IoCollector(),
      new ProcessesCollector(),
      new PressureCollector(() => this.driver.hostPressure()),
    ];
    if (this.config.inodes.enabled) this.collectors.push(new InodesCollector(this.config.procRoot, this.config.inodes.refreshMs, undefined, this.log.child({ component: 'inodes' })));
    if (this.config.bandwidth.enabled) {
      this.bandwidth = new BandwidthCollector(undefined, this.config.bandwidth.table, this.driver.kind === 'v2' ? this.driver.parent : undefined);
      this.collectors.push(this.bandwidth);
    }
    this.client = this.config.controller ? new ControllerClient(this.config.controller, this.config.host, this.spool, this.log.child({ component: 'reporter' })) : undefined;
    this.state = this.loadState();
  }

  private loadState(): AgentState {
    const text = this.spool.getMeta('agent_state');
    if (text) {
      try {
        const s = JSON.parse(text) as AgentState;
        if (s.policy?.ladders && s.policy.manual && s.seenActions && Array.isArray(s.acks)) return { ...s, events: s.events ?? [] };
      } catch {
        /* fall through */
      }
      this.log.error('stored enforcement state is unreadable; starting from an empty state');
    }
    return { policy: emptyState(), seenActions: {}, acks: [], events: [] };
  }

  /** Prepare the cgroup parent and tenant cgroups, place processes, take the counters' baseline, re-apply limits. */
  init(): void {
    this.driver.setup();
    const stored = this.client?.storedPolicy();
    if (stored) this.applyPolicy(stored);
    this.refreshTenants();
    this.place();
    this.collect(); // baseline: rates need two readings
    this.lastTickMono = performance.now();
    const open = Object.keys(this.state.policy.ladders).length + Object.keys(this.state.policy.manual).length;
    if (open > 0) this.log.info({ open }, 'resuming enforcement state from before the restart');
    this.enforce();
  }

  private applyPolicy(policy: Policy): void {
    this.tenants.setManaged(policy.tenants.length > 0 ? policy.tenants : undefined, policy.plans);
  }

  private refreshTenants(): void {
    if (!this.tenants.refresh()) return;
    this.placement.ensureCgroups(this.tenants.list());
    this.devices.clear();
    this.retireGone();
  }

  /**
   * Tenants that are no longer defined (removed from the config or the controller) stop being governed:
   * thawed, limits lifted, processes moved to `release_to`, cgroup removed, incidents forgotten.
   */
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
        this.log.info({ tenant: name }, 'tenant no longer defined: released and its cgroup removed');
      } catch (err) {
        this.log.error({ tenant: name, err: (err as Error).message }, 'cannot retire a tenant that is no longer defined');
      }
    }
  }

  place(): void {
    try {
      this.refreshTenants();
      const r = this.placement.run((uid) => this.tenants.byUid(uid));
      if (r.moved > 0) this.log.debug(r, 'placement');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'placement failed');
    }
  }

  private collect(): { samples: Map<string, TenantSample>; host: HostStats; collectors: ReturnType<typeof runCollectors> } {
    const tenants = this.tenants.list();
    const ctx: CollectContext = {
      mono: performance.now(),
      tenants,
      stats: this.stats.read(tenants),
      samples: new Map(tenants.map((t) => [t.name, { tenant: t.name }])),
      host: { ...this.hostBase },
    };
    const collectors = runCollectors(this.collectors, ctx, this.log.child({ component: 'collect' }));
    return { samples: ctx.samples, host: ctx.host, collectors };
  }

  private tenantPolicies(): Map<string, TenantPolicy> {
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
  private enforce(): void {
    if (!this.config.enforce) return;
    const desired = new Map<string, Desired>();
    const cpuCapacity = this.hostBase.cores * 100;
    for (const t of this.tenants.list()) {
      desired.set(
        t.name,
        desiredLimits({
          plan: t.plan,
          ladders: this.state.policy.ladders[t.name],
          manual: this.state.policy.manual[t.name],
          config: this.config.policy,
          devices: this.devicesOf(t.name, t.homes),
          cpuCapacity,
        }),
      );
    }
    this.enforcer.reconcile(desired);
  }

  /** Manual actions from the controller's policy, each applied once. */
  private applyManualActions(actions: readonly ManualAction[], now: number): IncidentEvent[] {
    const events: IncidentEvent[] = [];
    for (const action of actions) {
      if (this.state.seenActions[action.id] !== undefined) continue;
      this.state.seenActions[action.id] = now;
      if (!this.tenants.get(action.tenant)) {
        this.state.acks.push({ action_id: action.id, state: 'failed', at: new Date(now).toISOString(), message: `tenant "${action.tenant}" is not governed on this host` });
        continue;
      }
      const out = applyManual({ state: this.state.policy, action, now, config: this.config.policy });
      this.state.policy = out.state;
      this.state.acks.push(out.ack);
      events.push(...out.events);
      this.log.info({ tenant: action.tenant, action: action.action, id: action.id, reason: action.reason, ack: out.ack.state }, 'manual action');
    }
    for (const [id, at] of Object.entries(this.state.seenActions)) if (now - at > SEEN_ACTION_TTL_MS) delete this.state.seenActions[id];
    return events;
  }

  /**
   * What the tenant was doing when an administrator acted: its latest cpu and memory from the window, and its
   * top processes (a short sampling span, only when there are manual events).
   */
  private async describeManual(events: IncidentEvent[]): Promise<void> {
    const opened = events.filter((e) => e.type === 'opened');
    if (opened.length === 0) return;
    const tops = await topProcesses(this.config.procRoot, new Map(opened.map((e) => [e.tenant, () => safe(() => this.driver.procs(e.tenant), [])])));
    const latest = this.window[this.window.length - 1]?.samples;
    for (const e of opened) {
      e.explanation.top_processes = tops.get(e.tenant) ?? [];
      const cpu = latest?.get(e.tenant)?.cpu?.percent;
      if (cpu !== undefined) e.explanation.measured = { value: cpu, unit: '% of one core' };
    }
  }

  /**
   * Apply one manual action directly (the agent-side entry point; the controller's actions come the same way).
   * Its events and acknowledgement go out with the next report; the state is saved at once.
   */
  async manual(action: ManualAction): Promise<{ events: IncidentEvent[]; ack: ActionAck }> {
    const before = this.state.acks.length;
    const events = this.applyManualActions([action], this.now());
    await this.describeManual(events);
    this.state.events.push(...events);
    this.enforce();
    if (!this.dryRun) this.spool.setMeta('agent_state', JSON.stringify(this.state));
    return { events, ack: this.state.acks[before] ?? this.state.acks[this.state.acks.length - 1]! };
  }

  /** One full tick. */
  async tick(): Promise<TickResult> {
    let policy: Policy | undefined;
    if (this.client) {
      const p = await this.client.pullPolicy();
      if (p.error) this.log.warn({ err: p.error }, 'controller unreachable or refused: using the last known policy');
      if (p.changed && p.policy) this.applyPolicy(p.policy);
      policy = p.policy;
    }
    this.place();
    const mono = performance.now();
    const now = this.now();
    const { samples, host, collectors } = this.collect();
    const interval = Math.max(0.001, (mono - this.lastTickMono) / 1000);
    this.lastTickMono = mono;
    for (const [tenant, n] of this.placement.takeStrays()) {
      const s = samples.get(tenant);
      if (s) s.strays = n;
    }

    // evaluate: manual actions, expiries, then the automatic ladder.
    const events: IncidentEvent[] = this.state.events;
    this.state.events = [];
    let decisions: Decision[] = [];
    if (policy) {
      const manual = this.applyManualActions(policy.actions, now);
      await this.describeManual(manual);
      events.push(...manual);
    }
    const expired = expireManual(this.state.policy, now);
    this.state.policy = expired.state;
    events.push(...expired.events);
    this.window.push({ at: now, host, samples });
    const keepFrom = now - this.config.policy.windowMs - this.config.intervalMs * 2;
    while (this.window.length > 0 && this.window[0]!.at < keepFrom) this.window.shift();
    if (this.config.enforce) {
      const out = evaluate({ config: this.config.policy, tenants: this.tenantPolicies(), window: this.window, state: this.state.policy, now });
      this.state.policy = out.state;
      decisions = out.decisions;
      const tops = decisions.length === 0 ? new Map() : await topProcesses(this.config.procRoot, new Map(decisions.map((d) => [d.tenant, () => safe(() => this.driver.procs(d.tenant), [])])));
      for (const d of decisions) {
        d.event.explanation.top_processes = tops.get(d.tenant) ?? [];
        this.log.info({ tenant: d.tenant, resource: d.resource, decision: d.kind, level: d.level, explanation: d.event.explanation, dryRun: this.dryRun }, d.event.explanation.summary);
      }
      events.push(...decisions.map((d) => d.event));
    }
    for (const s of samples.values()) {
      const ladders = this.state.policy.ladders[s.tenant];
      const level = Math.max(0, ...Object.values(ladders ?? {}).map((l) => l?.level ?? 0), this.state.policy.manual[s.tenant]?.level ?? 0);
      if (level >= 1) s.throttle_level = Math.min(2, level);
      if (level === 3) s.frozen = true;
    }

    // enforce
    this.enforce();

    // spool: the report and the state that produced it, in one transaction (a crash repeats neither).
    const list = [...samples.values()];
    const at = new Date(now).toISOString();
    // A dry run reports measurements but no incidents: nothing was done, so nothing may be announced.
    const reported = this.dryRun ? [] : events;
    const acks = this.state.acks;
    this.state.acks = [];
    const tenants = this.tenantDirectory(now);
    const { report, dropped } = this.spool.enqueue(
      (seq) => ({
        version: WIRE_VERSION,
        host: this.config.host,
        seq,
        at,
        interval: Math.round(interval * 1000) / 1000,
        host_stats: host,
        samples: list,
        events: reported,
        acks,
        collectors,
        agent_version: AGENT_VERSION,
        ...(tenants ? { tenants } : {}),
      }),
      // A dry run keeps its decisions in memory only: a later real run must not resume a ladder it never announced.
      this.dryRun ? {} : { agent_state: JSON.stringify(this.state) },
    );
    if (dropped > 0) this.log.warn({ dropped }, 'spool full: dropped the oldest unsent reports');
    const result: TickResult = { seq: report.seq, tenants: list.length, samples: list, host, decisions, events: reported, acks, sent: 0, pending: this.spool.size() };

    // report
    if (this.client) {
      const r = await this.client.sendPending();
      result.sent = r.sent;
      result.pending = r.pending;
      if (r.error) {
        result.reportError = r.error;
        this.log.warn({ err: r.error, pending: r.pending }, 'report not delivered; kept in the spool');
      }
    }
    this.log.info({ seq: report.seq, tenants: list.length, events: events.length, sent: result.sent, pending: result.pending }, 'tick');
    return result;
  }

  /** The tenants this agent governs, when the set changed since the last report or an hour went by. */
  private tenantDirectory(now: number): TenantInfoWire[] | undefined {
    const list: TenantInfoWire[] = this.tenants.list().map((t) => ({
      name: t.name,
      ...(t.email ? { email: t.email } : {}),
      ...(t.planName ? { plan: t.planName } : {}),
      uids: t.uids,
      source: t.source,
    }));
    const key = JSON.stringify(list);
    if (key === this.reportedTenants.key && now - this.reportedTenants.at < 3_600_000) return undefined;
    this.reportedTenants = { key, at: now };
    return list;
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
    this.state = { policy: emptyState(), seenActions: this.state.seenActions, acks: [], events: [] };
    this.spool.setMeta('agent_state', JSON.stringify(this.state));
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
          if (!this.stopped) this.tickTimer = setTimeout(loop, Math.max(0, this.config.intervalMs - (performance.now() - this.lastTickMono)));
        });
    };
    this.tickTimer = setTimeout(loop, this.config.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.placementTimer);
    clearTimeout(this.tickTimer);
    await this.ticking;
    this.stats.closeAll();
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
