// What the contention tests share (test/system/contention.test.ts on this machine's cgroup v1, test/vm/contention.test.ts
// on the guest's cgroup v2): real tenants running Debian's stress-ng under an agent ticked by the test, and CPU
// and io measured from the kernel's own counters as shares between tenants, which load from outside the
// tenants (other work on the machine) scales alike.
import type { Agent } from '../../agent/agent.js';
import type { CgroupDriver } from '../../agent/kernel/cgroup/driver.js';
import type { IncidentEvent } from '../../shared/wire/agent.js';
import { hostIdleSeconds, waitFor } from './system.js';
import type { ChildProcess } from 'node:child_process';

export const WINDOW_S = 30;
export const COOLDOWN_S = 8;

/**
 * Short windows for a test: window 30 s (long enough for the others' avg10 to climb while the offender's
 * window still holds its burst), cool-down 8 s; min_share and active_share low, since other work on the
 * machine may leave the tenants little CPU (the shares among them still decide).
 */
export const POLICY = {
  window: `${WINDOW_S}s`,
  stale: '10s',
  escalate_after: '2s',
  cooldown: `${COOLDOWN_S}s`,
  factor: 1.5,
  min_share: 0.001,
  active_share: 0.0001,
  min_io: '256K',
  contention: { cpu: 15, io: 10 },
  throttle: { level1: 0.3, level2: 0.2 },
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Use {
  /** Percent of one core per tenant. */
  cpu: Map<string, number>;
  /** Bytes/s read + written per tenant. */
  io: Map<string, number>;
  /** Percent of one core the host left idle. */
  idle: number;
}

/** Each tenant's cpu and io over `ms` from its cgroup's counters; `during` runs meanwhile (e.g. agent ticks). */
export async function useOver(driver: CgroupDriver, tenants: readonly string[], ms: number, during?: () => Promise<void>): Promise<Use> {
  const readers = tenants.map((t) => [t, driver.openStats(t)] as const);
  try {
    const first = readers.map(([t, r]) => [t, r.read()] as const);
    const idle0 = hostIdleSeconds();
    const t0 = performance.now();
    await Promise.all([sleep(ms), during?.()]);
    const seconds = (performance.now() - t0) / 1000;
    const idle = ((hostIdleSeconds() - idle0) / seconds) * 100;
    const cpu = new Map<string, number>();
    const io = new Map<string, number>();
    readers.forEach(([t, r], i) => {
      const a = first[i]![1];
      const b = r.read();
      cpu.set(t, (((b.cpuUsageUsec ?? 0) - (a.cpuUsageUsec ?? 0)) / (seconds * 1e6)) * 100);
      const bytes = (s: typeof a) => (s.io ? s.io.rbytes + s.io.wbytes : 0);
      io.set(t, (bytes(b) - bytes(a)) / seconds);
    });
    return { cpu, io, idle };
  } finally {
    for (const [, r] of readers) r.close();
  }
}

/** The share of `of` in the sum over `all` (0 when nothing was used). */
export function shareOf(m: Map<string, number>, of: readonly string[], all: readonly string[]): number {
  const sum = (names: readonly string[]) => names.reduce((s, n) => s + (m.get(n) ?? 0), 0);
  const total = sum(all);
  return total > 0 ? sum(of) / total : 0;
}

/** Tick the agent every second for `seconds`; every event of the ticks, with the second it came at. */
export async function tickFor(agent: Agent, seconds: number, until?: (e: IncidentEvent) => boolean): Promise<Array<{ at: number; event: IncidentEvent }>> {
  const out: Array<{ at: number; event: IncidentEvent }> = [];
  const t0 = performance.now();
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    const t = await agent.tick();
    for (const event of t.events) out.push({ at: (performance.now() - t0) / 1000, event });
    if (until && t.events.some(until)) break;
  }
  return out;
}

export function describeEvents(events: ReadonlyArray<{ at: number; event: IncidentEvent }>): string {
  return JSON.stringify(events.map(({ at, event: e }) => `${at.toFixed(0)}s ${e.tenant}:${e.resource}:${e.type}:${e.level} (${e.explanation.share?.tenant ?? '-'} of the use; ${e.explanation.contention.detail ?? ''})`));
}

export interface Scenario {
  agent: Agent;
  driver: CgroupDriver;
  resource: 'cpu' | 'io';
  offender: string;
  others: readonly string[];
  windowS: number;
  cooldownS: number;
  /** Start the offender's load (placed by the caller's agent.place()). */
  startOffender: () => void;
  startOthers: () => void;
  stopOthers: () => void;
  /** Wait until every started process is in its tenant's cgroup. */
  placed: () => Promise<void>;
}

export interface ScenarioResult {
  lone: number;
  before: number;
  after: number;
  target: number;
  releasedAfterS: number;
  again: number;
  events: Array<{ at: number; event: IncidentEvent }>;
}

/**
 * The acceptance of contention judged by others, on real tenants: a lone burster is never throttled; when the
 * others start, the offender (disproportionate over its window, which still holds its burst) is throttled, the
 * others' share rises and the throttle holds while they run; once they stop, the offender is released within
 * cooldown + one window and runs unthrottled again. Returns the figures for the caller's assertions.
 */
export async function runScenario(s: Scenario, check: (what: string, ok: boolean, detail: string) => void): Promise<ScenarioResult> {
  const all = [s.offender, ...s.others];
  const pick = (u: Use) => (s.resource === 'cpu' ? u.cpu : u.io);
  const events: Array<{ at: number; event: IncidentEvent }> = [];
  const mine = (e: IncidentEvent) => e.tenant === s.offender && e.resource === s.resource;
  // 1. The lone burst: a full window and more, ticked; nothing decided.
  s.startOffender();
  await s.placed();
  events.push(...(await tickFor(s.agent, s.windowS + 3)));
  const loneUse = await useOver(s.driver, all, 3000, () => tickFor(s.agent, 3).then((e) => void events.push(...e)));
  const lone = pick(loneUse).get(s.offender) ?? 0;
  check('a lone burster is never throttled', !events.some((e) => e.event.tenant === s.offender), describeEvents(events));
  check('the lone burster runs', lone > 0, `${lone}`);
  // 2. The others start: their share before any decision (no ticks for 3 s).
  s.startOthers();
  await s.placed();
  // Their load started (stress-ng forks its workers; on a loaded machine that takes a while): every other
  // tenant used some of the resource in a second. No tick meanwhile, so nothing is decided yet.
  // At most 8 s: the offender's window (30 s) must still hold its burst when the ticks resume.
  for (let i = 0; i < 8; i++) {
    const u = pick(await useOver(s.driver, all, 1000));
    if (s.others.every((o) => (u.get(o) ?? 0) > 0)) break;
  }
  const beforeUse = pick(await useOver(s.driver, all, 3000));
  const before = shareOf(beforeUse, s.others, all);
  const climbing = await tickFor(s.agent, 60, (e) => mine(e) && e.step === 'throttle' && e.level >= 1);
  events.push(...climbing);
  const throttle = climbing.find((e) => mine(e.event) && e.event.step === 'throttle');
  check('under contention the offender is throttled', throttle !== undefined, describeEvents(events));
  const ev = throttle!.event;
  const target = Number(ev.explanation.limits?.[s.resource === 'cpu' ? 'cpu_percent' : 'io_bytes_per_second']);
  check('the explanation says others were contended', ev.explanation.contention.contended, JSON.stringify(ev.explanation.contention));
  check('the explanation names the busiest other tenant for admins', s.others.some((o) => ev.explanation.contention.detail?.includes(`the busiest: ${o} `) ?? false), ev.explanation.contention.detail ?? '');
  check('what a tenant reads names no other tenant', !s.others.some((o) => `${ev.explanation.summary} ${ev.explanation.action} ${ev.explanation.avoid}`.includes(o)), ev.explanation.summary);
  // 3. Under the throttle the others' share rises, and it holds while they run.
  const afterUse = pick(await useOver(s.driver, all, 4000, () => tickFor(s.agent, 4).then((e) => void events.push(...e))));
  const after = shareOf(afterUse, s.others, all);
  const offBefore = beforeUse.get(s.offender) ?? 0;
  const offAfter = afterUse.get(s.offender) ?? 0;
  // The kernel holds the offender to its target (a level 2 throttle, if it escalated meanwhile, is lower still).
  check('the kernel holds the offender to its throttle', offAfter <= 1.15 * target, `${offAfter.toFixed(0)} against a target of ${target}`);
  // The others gain what the throttle took. For cpu always (a throttle also lowers the offender's cpu.shares,
  // so the others gain even where its quota is above what it gets). For io where the throttle bound, i.e.
  // where the offender used clearly more than its target before: on a machine loaded by other work the
  // contended offender may already use less, then the throttle takes nothing, by design, and there is
  // nothing to give (seen once in a full system run at load 30-50: 0.676 -> 0.714). "Clearly" is 1.5 times:
  // at 1.3 times, even with the others' bytes unchanged, their share rises by only about 0.05 (others at 72 %
  // of the bytes: 0.716 -> 0.768), the margin asked for, so a disk a little slower in the second measurement
  // fails it (seen once in the VM tier under emulation: offender 1.31 times its target, 0.716 -> 0.756).
  if (s.resource === 'cpu' || offBefore > 1.5 * target) check("the others' share rises", after > before + 0.05, `before ${before.toFixed(3)}, after ${after.toFixed(3)} (offender ${offBefore.toFixed(0)} -> ${offAfter.toFixed(0)}, target ${target})`);
  else console.log(`the throttle did not bind (offender ${offBefore.toFixed(0)} before, target ${target}): the others' share is not required to rise (${before.toFixed(3)} -> ${after.toFixed(3)})`);
  const holding = await tickFor(s.agent, s.cooldownS + 4);
  events.push(...holding);
  check('the throttle holds while the others run', !holding.some((e) => mine(e.event) && e.event.type === 'released'), describeEvents(events));
  // 4. The others stop: released within cooldown + one window (+ a tick), and unthrottled again.
  s.stopOthers();
  const t0 = performance.now();
  const releasing = await tickFor(s.agent, s.cooldownS + s.windowS + 10, (e) => mine(e) && e.type === 'released');
  events.push(...releasing);
  const releasedAfterS = (performance.now() - t0) / 1000;
  check('released after the others stopped', releasing.some((e) => mine(e.event) && e.event.type === 'released'), describeEvents(events));
  check('within cooldown + one window', releasedAfterS <= s.cooldownS + s.windowS + 3, `${releasedAfterS.toFixed(1)} s`);
  const again = pick(await useOver(s.driver, all, 3000)).get(s.offender) ?? 0;
  return { lone, before, after, target, releasedAfterS, again, events };
}

export async function placedAll(agent: Agent, driver: CgroupDriver, procs: ReadonlyArray<[string, ChildProcess]>): Promise<void> {
  await waitFor('processes placed', () => (agent.place(), procs.every(([t, p]) => p.exitCode !== null || driver.procs(t).includes(p.pid!))), 15_000);
}
