// What the kernel should hold for a tenant: the plan caps (always in force) tightened by its throttle
// levels, and frozen while quarantined. Pure; the enforcer writes it through the cgroup driver.
import type { Plan } from '../../shared/wire/agent.js';
import type { IoDeviceLimit, Limits } from '../limits.js';
import type { PolicyConfig } from './policy-config.js';
import { apiTarget } from './api-cap.js';
import { levelFraction, throttleTarget } from './evaluate.js';
import { type Governed, type LadderState, type ManualState, QUARANTINE_LEVEL } from './types.js';

/** memory.high (v1: the soft limit) sits at this fraction of the plan's memory: reclaim starts before OOM. */
export const MEMORY_HIGH_FRACTION = 0.9;
/** The smallest throttled memory.high; below it a tenant cannot even start a shell. */
const MIN_MEMORY_HIGH = 16 * 1024 * 1024;

export interface Desired {
  limits: Required<Limits>;
  frozen: boolean;
}

export interface DesiredInput {
  plan: Plan | undefined;
  ladders: Partial<Record<Governed, LadderState>> | undefined;
  manual: ManualState | undefined;
  config: PolicyConfig;
  /** Block devices (whole disks) holding the tenant's homes. */
  devices: ReadonlyArray<{ major: number; minor: number }>;
  /** Host CPU capacity in percent of one core (cores x 100). */
  cpuCapacity: number;
}

export function desiredLimits(input: DesiredInput): Desired {
  const { plan, config } = input;
  const ladders = input.ladders ?? {};
  const manual = input.manual;
  const manualFraction = manual?.action === 'throttle' ? levelFraction(manual.level, config) : undefined;

  let cpuPercent: number | null = plan?.cpu ?? null;
  let weightFactor = 1;
  const cpuLadder = ladders.cpu;
  const cpuTarget = cpuLadder ? throttleTarget(cpuLadder, config) : undefined;
  if (cpuTarget !== undefined) {
    cpuPercent = Math.min(cpuPercent ?? Infinity, Math.max(1, cpuTarget));
    weightFactor = levelFraction(cpuLadder!.level, config)!;
  }
  if (manualFraction !== undefined) {
    cpuPercent = Math.min(cpuPercent ?? Infinity, Math.max(1, manualFraction * (plan?.cpu ?? input.cpuCapacity)));
    weightFactor = Math.min(weightFactor, manualFraction);
  }
  const cpuWeight = clamp(Math.round(100 * (plan?.weight ?? 1) * weightFactor), 1, 10000);

  const memoryMax = plan?.memory ?? null;
  let memoryHigh: number | null = plan?.memory ? Math.round(plan.memory * MEMORY_HIGH_FRACTION) : null;
  const memTarget = ladders.memory ? throttleTarget(ladders.memory, config) : undefined;
  if (memTarget !== undefined) memoryHigh = Math.round(Math.max(MIN_MEMORY_HIGH, Math.min(memoryHigh ?? Infinity, memTarget)));

  let rbps = plan?.io_read;
  let wbps = plan?.io_write;
  const ioLadder = ladders.io;
  const ioFraction = ioLadder ? levelFraction(ioLadder.level, config) : undefined;
  if (ioFraction !== undefined && ioLadder?.base) {
    rbps = Math.round(Math.min(rbps ?? Infinity, Math.max(config.minIoBps, ioFraction * (ioLadder.base.read ?? 0))));
    wbps = Math.round(Math.min(wbps ?? Infinity, Math.max(config.minIoBps, ioFraction * (ioLadder.base.write ?? 0))));
  }
  if (manualFraction !== undefined) {
    if (plan?.io_read) rbps = Math.round(Math.min(rbps ?? Infinity, Math.max(config.minIoBps, manualFraction * plan.io_read)));
    if (plan?.io_write) wbps = Math.round(Math.min(wbps ?? Infinity, Math.max(config.minIoBps, manualFraction * plan.io_write)));
  }
  const iops = plan?.iops;
  let io: IoDeviceLimit[] = [];
  if (rbps !== undefined || wbps !== undefined || iops !== undefined) {
    io = input.devices.map((d) => {
      const l: IoDeviceLimit = { major: d.major, minor: d.minor };
      if (rbps !== undefined) l.rbps = rbps;
      if (wbps !== undefined) l.wbps = wbps;
      if (iops !== undefined) {
        l.riops = iops;
        l.wiops = iops;
      }
      return l;
    });
  }

  const frozen = manual?.action === 'quarantine' || Object.values(ladders).some((l) => l?.level === QUARANTINE_LEVEL);
  return {
    limits: {
      cpuPercent: cpuPercent === null ? null : round2(cpuPercent),
      cpuWeight,
      memoryHigh,
      memoryMax,
      io,
      pidsMax: plan?.processes ?? null,
    },
    frozen,
  };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/**
 * The API calls per minute the web server should hold a tenant to (the generated include, agent/webserver/),
 * or undefined for none: the plan's `api` cap (always held while the plan has one), lowered by the `api`
 * ladder's throttle level (api-cap.ts) or a manual throttle to policy.throttle.levelN of it (at least
 * 1/minute), whichever is lower. Without a plan `api` there is no base to lower, so a tenant without one is
 * never held at the web server for API calls.
 */
export function desiredApiRate(plan: Plan | undefined, manual: ManualState | undefined, config: PolicyConfig, ladder?: LadderState): number | undefined {
  const base = plan?.api;
  if (base === undefined) return undefined;
  let rate = base;
  const fraction = manual?.action === 'throttle' ? levelFraction(manual.level, config) : undefined;
  if (fraction !== undefined) rate = Math.min(rate, Math.max(1, Math.round(fraction * base)));
  const target = ladder ? apiTarget({ ...ladder, base: { value: base } }, config) : undefined;
  if (target !== undefined) rate = Math.min(rate, target);
  return rate;
}

/**
 * The bytes per second each response of a tenant's sites is held to at the web server (nginx `limit_rate`),
 * or undefined for none: the plan's `bandwidth` cap, lowered by a manual throttle to policy.throttle.levelN
 * of it (at least 1 KiB/s), as the tenant's own egress is.
 */
export function desiredWebRate(plan: Plan | undefined, manual: ManualState | undefined, config: PolicyConfig): number | undefined {
  const base = plan?.bandwidth;
  if (base === undefined) return undefined;
  const fraction = manual?.action === 'throttle' ? levelFraction(manual.level, config) : undefined;
  return fraction === undefined ? base : Math.max(Math.min(base, 1024), Math.min(base, Math.round(fraction * base)));
}

/** The lowest rate the shaper is given (the plan rule's minimum): below it TCP barely works. */
const MIN_BANDWIDTH_BPS = 1000;

/**
 * The bytes per second a tenant's own sockets may send (the egress shaper, agent/shaping/), or undefined for
 * none: the plan's `bandwidth` cap, tightened by the bandwidth ladder's throttle target (a fraction of the
 * lower of the cap and the use measured at the first throttle) and by a manual throttle to
 * policy.throttle.levelN of the cap, as the other caps are; at least 1,000 bytes/s. Quarantine freezes the
 * processes, so it needs no rate. Web bytes are the web server's to hold (its generated include), not this class's.
 */
export function desiredBandwidthRate(plan: Plan | undefined, ladder: LadderState | undefined, manual: ManualState | undefined, config: PolicyConfig): number | undefined {
  let rate = plan?.bandwidth;
  const target = ladder ? throttleTarget(ladder, config) : undefined;
  if (target !== undefined) rate = Math.min(rate ?? Infinity, target);
  const fraction = manual?.action === 'throttle' ? levelFraction(manual.level, config) : undefined;
  if (fraction !== undefined && plan?.bandwidth !== undefined) rate = Math.min(rate ?? Infinity, fraction * plan.bandwidth);
  return rate === undefined ? undefined : Math.max(MIN_BANDWIDTH_BPS, Math.round(rate));
}
