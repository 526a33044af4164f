// One agent tick: policy -> place -> collect -> manual -> evaluate -> enforce -> spool -> report (DESIGN 2's
// six steps, with the pulled policy taken first and manual actions apart from the automatic ladder). Every step
// runs under one runner that times it and isolates it, as collectors/collector.ts does for collectors
// (node_exporter's collector.execute): a step that throws is logged under its name and reported in the tick's
// step statuses, and the tick goes on with what the earlier steps left (no samples after a failed collect, no
// decisions after a failed evaluate); spool and report run whatever happened before them.
//
// The policy pull never holds a tick up: it runs in the background (transport/policy-pull.ts) and the policy
// step takes the answer that arrived since the last tick, so a hung controller costs nothing but freshness.
// Only a tick asked to include a pull (--once) waits for one, bounded by the controller timeout.
import type { Logger } from 'pino';
import { VERSION } from '../shared/version.js';
import type { ActionAck, CollectorStatus, HostStats, IncidentEvent, Policy, Pressure, TenantInfoWire, TenantSample, TopProcess } from '../shared/wire/agent.js';
import { WIRE_VERSION } from '../shared/wire/agent.js';
import type { StatsReads } from './collectors/cgroup-stats.js';
import type { InventorySource } from './collectors/inventory.js';
import type { CgroupStats } from './kernel/cgroup/driver.js';
import type { MalwareService } from './malware/service.js';
import type { AgentConfig } from './config.js';
import type { evaluate } from './policy/evaluate.js';
import { expireManual } from './policy/manual.js';
import { type Decision, FIRST_THROTTLE_LEVEL, LAST_THROTTLE_LEVEL, type Observation, QUARANTINE_LEVEL, type TenantPolicy, tenantLevel, type WebSaturation } from './policy/types.js';
import { type AgentState, stateMeta } from './state.js';
import type { PolicyPull } from './transport/policy-pull.js';
import type { ControllerClient } from './transport/reporter.js';
import type { Spool } from './transport/spool.js';
import type { WebLogs } from './weblogs/weblogs.js';

export const AGENT_VERSION = VERSION;
/** The tenant directory goes out with a report when it changed, and at least this often. */
const TENANT_DIRECTORY_EVERY_MS = 3_600_000;
/** The shortest interval a report states (seconds): two ticks in the same millisecond are still apart. */
const MIN_INTERVAL_S = 0.001;

export const TICK_STEPS = ['policy', 'place', 'collect', 'manual', 'evaluate', 'enforce', 'spool', 'report'] as const;
export type TickStepName = (typeof TICK_STEPS)[number];

export interface StepStatus {
  name: TickStepName;
  ok: boolean;
  duration_ms: number;
  /** CPU time of the whole process while the step ran (user + system, ms): where the agent's own cost goes. */
  cpu_ms?: number;
  /** Why the step failed (its exception's message). */
  error?: string;
}

export interface TickStep {
  readonly name: TickStepName;
  run(): void | Promise<void>;
}

/** Run the steps in order, each timed and isolated: a step that throws is logged and reported, the next runs. */
export async function runSteps(steps: readonly TickStep[], log: Logger): Promise<StepStatus[]> {
  const out: StepStatus[] = [];
  for (const step of steps) {
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    const cpuMs = (): number => {
      const c = process.cpuUsage(cpu0);
      return round3((c.user + c.system) / 1000);
    };
    try {
      await step.run();
      out.push({ name: step.name, ok: true, duration_ms: round3(performance.now() - start), cpu_ms: cpuMs() });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log.error({ step: step.name, err: message, stack: err instanceof Error ? err.stack : undefined }, 'tick step failed; the tick goes on');
      out.push({ name: step.name, ok: false, error: message, duration_ms: round3(performance.now() - start), cpu_ms: cpuMs() });
    }
  }
  return out;
}

export interface TickResult {
  /** The spooled report's sequence number; -1 when the spool step failed (nothing was spooled this tick). */
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
  /** Every step of the tick, in order, with its time and, when it failed, why. */
  steps: StepStatus[];
}

export interface TickOptions {
  /** Start a policy pull if none is in flight and wait for it, so this tick uses it (--once). */
  awaitPolicy?: boolean;
}

/** One pass of the collectors. */
export interface Collected {
  samples: Map<string, TenantSample>;
  host: HostStats;
  collectors: CollectorStatus[];
  /** For the policy only: each tenant's throttled percent, and the system services' PSI. */
  throttled?: Map<string, number>;
  services?: Pressure;
  web?: WebSaturation;
  /** The cgroup stats the collectors read, and the nftables counters: what the metrics endpoint serves. */
  stats?: ReadonlyMap<string, CgroupStats>;
  network?: ReadonlyMap<string, { tx: number; rx?: number }>;
}

/** What a tick's collect step observed, handed to the metrics endpoint (Agent.observed) after the tick. */
export interface TickObservation {
  at: number;
  samples: ReadonlyMap<string, TenantSample>;
  stats: ReadonlyMap<string, CgroupStats>;
  network: ReadonlyMap<string, { tx: number; rx?: number }> | undefined;
  strays: ReadonlyMap<string, number>;
}

/** What a tick works with: the agent's parts and state (implemented by Agent). */
export interface TickAgent {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly dryRun: boolean;
  /** Wall clock in milliseconds. */
  readonly now: () => number;
  readonly spool: Spool;
  readonly client: ControllerClient | undefined;
  readonly pull: PolicyPull | undefined;
  /** The host inventory: a report carries it once after each gathering. */
  readonly inventory: InventorySource | undefined;
  /** Infected-file scanning: its events, manifest entries and answers go out with the next report. */
  readonly malware?: Pick<MalwareService, 'take' | 'restore'> | undefined;
  readonly hostBase: HostStats;
  /** The access logs: their batch and cursors are spooled together with the report. */
  readonly weblogs?: WebLogs | undefined;
  readonly evaluate: typeof evaluate;
  /** The state persisted with each report; its fields are updated in place. */
  readonly state: AgentState;
  /** The last policy the agent has (pulled or stored), whose manual actions each tick applies once. */
  policy: Policy | undefined;
  applyPolicy(policy: Policy): void;
  /**
   * Refresh the tenant set and place every tenant process (throws on failure). `periodicFull: false`: not the
   * periodic full pass of every process, which the placement timer's rounds run (Placement.run).
   */
  placeTenants(opts?: { periodicFull?: boolean }): void;
  takeStrays(): Map<string, number>;
  /** CPU ms the placement timer's rounds used since the last call (optional: test doubles need not count). */
  takePlacementCpuMs?(): number;
  /** How the last collection read the tenants' stats files (optional: test doubles need not count). */
  statsReads?(): StatsReads;
  collect(): Collected;
  applyManualActions(actions: Policy['actions'], now: number): IncidentEvent[];
  describeManual(events: IncidentEvent[]): Promise<void>;
  tenantPolicies(): Map<string, TenantPolicy>;
  /** Inode caps: their incident events this tick (optional: test doubles need not have inodes). */
  evaluateInodes?(now: number): IncidentEvent[];
  topProcessesOf(tenants: readonly string[]): Promise<Map<string, TopProcess[]>>;
  enforce(): void;
  tenantDirectory(): TenantInfoWire[];
  /** After a tick whose collect step ran (the metrics endpoint's view; optional: absent when it is off). */
  observed?(o: TickObservation): void;
}

/** What the steps of one tick hand each other; the defaults stand when a step failed. */
interface TickFlow {
  now: number;
  interval: number;
  samples: Map<string, TenantSample>;
  host: HostStats;
  collectors: CollectorStatus[];
  throttled?: Map<string, number> | undefined;
  services?: Pressure | undefined;
  web?: WebSaturation | undefined;
  stats?: ReadonlyMap<string, CgroupStats> | undefined;
  network?: ReadonlyMap<string, { tx: number; rx?: number }> | undefined;
  strays?: Map<string, number> | undefined;
  events: IncidentEvent[];
  decisions: Decision[];
  acks: ActionAck[];
  /** Whether the collect step produced this tick's observation. */
  observed: boolean;
  seq: number;
  sent: number;
  pending: number | undefined;
  reportError?: string;
}

/** The agent's ticks: the steps, and what only they keep (the observation window, the time of the last tick). */
export class Ticker {
  private window: Observation[] = [];
  private lastMono = 0;
  private reportedTenants: { key: string; at: number; list?: TenantInfoWire[] } = { key: '', at: 0 };

  constructor(private readonly agent: TickAgent) {}

  /** Mark now as the time of the last reading (init's baseline: rates need two). */
  baseline(): void {
    this.lastMono = performance.now();
  }

  /** Monotonic time of the last collect (performance.now()). */
  get lastTickMono(): number {
    return this.lastMono;
  }

  /** The samples of the latest observation, if any. */
  latestSamples(): ReadonlyMap<string, TenantSample> | undefined {
    return this.window[this.window.length - 1]?.samples;
  }

  async run(opts: TickOptions = {}): Promise<TickResult> {
    const a = this.agent;
    const flow: TickFlow = {
      now: a.now(),
      interval: Math.max(MIN_INTERVAL_S, (performance.now() - this.lastMono) / 1000),
      samples: new Map(),
      host: { ...a.hostBase },
      collectors: [],
      // Events decided between ticks (manual actions applied directly) go out with this tick's report.
      events: a.state.events.splice(0),
      decisions: [],
      acks: [],
      observed: false,
      seq: -1,
      sent: 0,
      pending: undefined,
    };
    const steps: TickStep[] = [
      { name: 'policy', run: () => this.takePolicy(opts) },
      // The tick's round leaves the periodic full pass (about 100 ms at 5,000 processes) to the placement timer:
      // the tick's interval divides the pass's, so the tick would otherwise be the round that finds it due, every time.
      { name: 'place', run: () => a.placeTenants({ periodicFull: false }) },
      { name: 'collect', run: () => this.collect(flow) },
      { name: 'manual', run: () => this.manual(flow) },
      { name: 'evaluate', run: () => this.evaluate(flow) },
      { name: 'enforce', run: () => a.enforce() },
      { name: 'spool', run: () => this.spool(flow) },
      { name: 'report', run: () => this.report(flow) },
    ];
    const statuses = await runSteps(steps, a.log);
    if (flow.observed && a.observed) {
      try {
        a.observed({ at: flow.now, samples: flow.samples, stats: flow.stats ?? new Map(), network: flow.network, strays: flow.strays ?? new Map() });
      } catch (err) {
        a.log.error({ err: (err as Error).message }, 'metrics: cannot keep this tick for the endpoint');
      }
    }
    const list = [...flow.samples.values()];
    const pending = flow.pending ?? safeSize(a.spool) ?? 0;
    const failed = statuses.filter((s) => !s.ok).map((s) => s.name);
    // CPU per step, and of the placement rounds on their own timer since the last tick (ms): the agent's own cost.
    const cpu: Record<string, number> = { placement_timer: round3(a.takePlacementCpuMs?.() ?? 0) };
    for (const st of statuses) cpu[st.name] = st.cpu_ms ?? 0;
    const reads = a.statsReads?.();
    a.log.info({ seq: flow.seq, tenants: list.length, events: flow.events.length, sent: flow.sent, pending, cpu_ms: cpu, ...(reads ? { stats_reads: reads } : {}), ...(failed.length ? { failed_steps: failed } : {}) }, 'tick');
    const result: TickResult = {
      seq: flow.seq,
      tenants: list.length,
      samples: list,
      host: flow.host,
      decisions: flow.decisions,
      // A dry run reports measurements but no incidents: nothing was done, so nothing may be announced.
      events: a.dryRun ? [] : flow.events,
      acks: flow.acks,
      sent: flow.sent,
      pending,
      steps: statuses,
    };
    if (flow.reportError !== undefined) result.reportError = flow.reportError;
    return result;
  }

  /** policy: use the answer of a pull that arrived since the last tick, and start the next pull. */
  private async takePolicy(opts: TickOptions): Promise<void> {
    const a = this.agent;
    if (!a.pull) return;
    if (opts.awaitPolicy) {
      a.pull.start();
      await a.pull.settled();
    }
    const r = a.pull.take();
    if (!opts.awaitPolicy) a.pull.start();
    if (!r) return;
    if (r.error) a.log.warn({ err: r.error }, 'controller unreachable or refused: using the last known policy');
    if (r.changed && r.policy) a.applyPolicy(r.policy);
    if (r.policy) a.policy = r.policy;
  }

  /** collect: every collector, and the strays placement moved since the last tick. */
  private collect(flow: TickFlow): void {
    const a = this.agent;
    const mono = performance.now();
    flow.now = a.now();
    flow.interval = Math.max(MIN_INTERVAL_S, (mono - this.lastMono) / 1000);
    this.lastMono = mono;
    const c = a.collect();
    flow.samples = c.samples;
    flow.host = c.host;
    flow.collectors = c.collectors;
    flow.observed = true;
    flow.throttled = c.throttled;
    flow.services = c.services;
    flow.web = c.web;
    flow.stats = c.stats;
    flow.network = c.network;
    flow.strays = a.takeStrays();
    for (const [tenant, n] of flow.strays) {
      const s = flow.samples.get(tenant);
      if (s) s.strays = n;
    }
  }

  /** manual: the policy's manual actions (each applied once), then the manual actions whose time is up. */
  private async manual(flow: TickFlow): Promise<void> {
    const a = this.agent;
    if (a.policy) {
      const applied = a.applyManualActions(a.policy.actions, flow.now);
      await a.describeManual(applied);
      flow.events.push(...applied);
    }
    const expired = expireManual(a.state.policy, flow.now);
    a.state.policy = expired.state;
    flow.events.push(...expired.events);
  }

  /** evaluate: this tick's observation into the window, then the automatic ladder with the top processes. */
  private async evaluate(flow: TickFlow): Promise<void> {
    const a = this.agent;
    if (flow.observed) {
      const o: Observation = { at: flow.now, host: flow.host, samples: flow.samples };
      if (flow.throttled) o.throttled = flow.throttled;
      if (flow.services) o.services = flow.services;
      if (flow.web) o.web = flow.web;
      this.window.push(o);
    }
    const keepFrom = flow.now - a.config.policy.windowMs - a.config.intervalMs * 2;
    while (this.window.length > 0 && this.window[0]!.at < keepFrom) this.window.shift();
    if (!a.config.enforce) return;
    if (flow.observed) flow.events.push(...(a.evaluateInodes?.(flow.now) ?? []));
    const out = a.evaluate({ config: a.config.policy, tenants: a.tenantPolicies(), window: this.window, state: a.state.policy, now: flow.now });
    a.state.policy = out.state;
    flow.decisions = out.decisions;
    if (out.decisions.length === 0) return;
    const tops = await a.topProcessesOf(out.decisions.map((d) => d.tenant));
    for (const d of out.decisions) {
      d.event.explanation.top_processes = tops.get(d.tenant) ?? [];
      a.log.info({ tenant: d.tenant, resource: d.resource, decision: d.kind, level: d.level, explanation: d.event.explanation, dryRun: a.dryRun }, d.event.explanation.summary);
    }
    flow.events.push(...out.decisions.map((d) => d.event));
  }

  /** spool: the report and the state that produced it, in one transaction (a crash repeats neither). */
  private spool(flow: TickFlow): void {
    const a = this.agent;
    const list = [...flow.samples.values()];
    for (const s of list) markLevel(s, tenantLevel(a.state.policy, s.tenant));
    const reported = a.dryRun ? [] : flow.events;
    const acks = a.state.acks.splice(0);
    const tenants = this.tenantDirectory(flow.now);
    const inventory = a.inventory?.take();
    const malware = a.malware?.take();
    const web = a.weblogs?.pending();
    try {
      const { report, dropped } = a.spool.enqueue(
        (seq) => ({
          version: WIRE_VERSION,
          host: a.config.host,
          seq,
          at: new Date(flow.now).toISOString(),
          interval: Math.round(flow.interval * 1000) / 1000,
          host_stats: flow.host,
          samples: list,
          events: malware?.events.length && !a.dryRun ? [...reported, ...malware.events] : reported,
          acks,
          collectors: flow.collectors,
          agent_version: AGENT_VERSION,
          ...(tenants ? { tenants } : {}),
          ...(inventory ? { inventory } : {}),
          ...(malware?.files.length ? { files: malware.files } : {}),
          ...(malware?.acks.length ? { file_acks: malware.acks } : {}),
          ...(web ? { web: web.web, web_logs: web.stats } : {}),
        }),
        // A dry run keeps its decisions in memory only: a later real run must not resume a ladder it never announced.
        // The access logs' cursors go with the counts they produced, dry run or not (they are measurements).
        { ...(a.dryRun ? {} : stateMeta(a.state)), ...(web ? web.meta : {}) },
      );
      if (web) a.weblogs!.commit(web);
      if (dropped > 0) a.log.warn({ dropped }, 'spool full: dropped the oldest unsent reports');
      flow.seq = report.seq;
      flow.acks = acks;
    } catch (err) {
      // Nothing was spooled: the acknowledgements and events go out with the next report instead.
      a.state.acks.unshift(...acks);
      if (!a.dryRun) a.state.events.unshift(...flow.events);
      if (tenants) this.reportedTenants = { key: '', at: 0 };
      if (inventory) a.inventory?.restore(inventory);
      if (malware) a.malware?.restore(malware);
      a.weblogs?.rollback();
      throw err;
    }
  }

  /** report: send what the spool holds, oldest first. */
  private async report(flow: TickFlow): Promise<void> {
    const a = this.agent;
    if (!a.client) return;
    const r = await a.client.sendPending();
    flow.sent = r.sent;
    flow.pending = r.pending;
    if (r.error) {
      flow.reportError = r.error;
      a.log.warn({ err: r.error, pending: r.pending }, 'report not delivered; kept in the spool');
    }
  }

  /** The tenants this agent governs, when the set changed since the last report or an hour went by. */
  private tenantDirectory(now: number): TenantInfoWire[] | undefined {
    const list = this.agent.tenantDirectory();
    const recent = now - this.reportedTenants.at < TENANT_DIRECTORY_EVERY_MS;
    // The same array as last time is the same directory: no need to serialise a thousand entries to see it.
    if (recent && list === this.reportedTenants.list) return undefined;
    const key = JSON.stringify(list);
    if (key === this.reportedTenants.key && recent) {
      this.reportedTenants.list = list;
      return undefined;
    }
    this.reportedTenants = { key, at: now, list };
    return list;
  }
}

/** A sample says how its tenant is held: its throttle level (1 or 2; quarantine counts as 2) and whether it is frozen. */
export function markLevel(sample: TenantSample, level: number): void {
  if (level >= FIRST_THROTTLE_LEVEL) sample.throttle_level = Math.min(LAST_THROTTLE_LEVEL, level);
  if (level === QUARANTINE_LEVEL) sample.frozen = true;
}

function safeSize(spool: Spool): number | undefined {
  try {
    return spool.size();
  } catch {
    return undefined;
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
