// The explanation attached to every decision of evaluate(). What a tenant may see (summary, action, avoid,
// the signals) says "other customers" and names no one; whose pressure was seen, by name, goes to
// contention.detail, which only administrators see.
import { RESOURCE_UNITS } from '../../shared/resources.js';
import { formatBytes, formatDuration } from '../../shared/units.js';
import type { Explanation } from '../../shared/wire/agent.js';
import type { Contention } from './contention.js';
import type { PolicyConfig } from './policy-config.js';
import { cooldownOf, type Decision, type Governed, type LadderState, MAX_COOLDOWN_DOUBLINGS, NOTICE_LEVEL, QUARANTINE_LEVEL, type TenantPolicy } from './types.js';

export interface ExplainInput {
  tenant: string;
  r: Governed;
  /** The tenant's average over the window, in the resource's unit (memory: without page cache). */
  avg: number;
  /** What all tenants used together over the window (the denominator of shares). */
  hostUse: number;
  fair: number;
  share: number;
  contention: Contention;
  config: PolicyConfig;
  ladder: LadderState;
  kind: Decision['kind'];
  policy: TenantPolicy | undefined;
  /** The limit the ladder's level holds the resource to (undefined below level 1 and in quarantine). */
  target: number | undefined;
}

export function fmt(r: Governed, v: number): string {
  if (r === 'cpu') return `${round(v, 1)}% of one core`;
  if (r === 'io' || r === 'bandwidth') return `${formatBytes(v)}/s`;
  return formatBytes(v);
}

/** What a repeat offence needs before its release, in words (the action of its opening event). */
export function backoffText(ladder: Pick<LadderState, 'repeat'>, cooldownMs: number): string {
  return `It is released after ${formatDuration(cooldownOf(ladder, cooldownMs))} without the problem (the cool-down doubles with each repeat offence in a row, up to ${2 ** MAX_COOLDOWN_DOUBLINGS} times).`;
}

export function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function explain(x: ExplainInput): Explanation {
  const { tenant, r, avg, config, ladder, kind, contention: c } = x;
  const allowed = config.factor * x.fair;
  const weight = x.policy?.plan?.weight ?? 1;
  const window = formatDuration(config.windowMs);
  const cache = r === 'memory' ? ' (page cache not counted)' : '';
  const contendedText = c.contended ? `while other customers were kept waiting: ${c.plain}` : `the server is no longer contended for others (${c.plain})`;
  const avoidAt = allowed * x.hostUse;
  let action: string;
  const limits: Record<string, string | number> = {};
  if (kind === 'release') action = 'Released: limits are back to the plan.';
  else if (ladder.level === NOTICE_LEVEL) action = `Notice only: no limit changed yet. If this continues for ${formatDuration(config.escalateAfterMs)}, ${r} will be throttled.`;
  else if (ladder.level === QUARANTINE_LEVEL) action = `Quarantined: all processes of ${tenant} are frozen until ${new Date(ladder.quarantineUntil ?? 0).toISOString()} unless an administrator releases them earlier.`;
  else {
    const target = x.target ?? 0;
    const how = r === 'memory' ? ' (memory.high; above it the kernel reclaims)' : r === 'bandwidth' ? ' sent by your own programs (web pages served by the web server are not in it)' : ', and its scheduling weight lowered';
    action = `Throttled (level ${ladder.level}): ${r} limited to ${fmt(r, target)}${how}.`;
    limits[r === 'cpu' ? 'cpu_percent' : r === 'io' ? 'io_bytes_per_second' : r === 'bandwidth' ? 'bandwidth_bytes_per_second' : 'memory_high_bytes'] = round(target, 2);
  }
  if (kind === 'thaw') action = `Quarantine time is over: thawed, held at throttle level 2 (${fmt(r, x.target ?? 0)}).`;
  if (kind === 'open' && ladder.repeat) {
    const ago = formatDuration(Math.max(0, ladder.openedAt - ladder.repeat.releasedAt));
    action = `Repeat offence: the previous ${r} incident was released ${ago} ago at level ${ladder.repeat.level}, within ${formatDuration(config.repeatWithinMs)}, so this one starts at the level it left. ${action} ${backoffText(ladder, config.cooldownMs)}`;
  }
  const summary =
    kind === 'release'
      ? `${tenant}'s ${r} use (${fmt(r, avg)}${cache} over the last ${window}) has stayed below its fair share, or other customers have not been kept waiting for ${r}, for ${formatDuration(cooldownOf(ladder, config.cooldownMs))}: released (${c.plain}).`
      : `${tenant} used ${fmt(r, avg)}${cache} over the last ${window}, ${round(x.share * 100, 1)}% of the server's ${r} use, against a fair share of ${round(x.fair * 100, 1)}% (x${config.factor} allowed = ${round(allowed * 100, 1)}%), ${contendedText}.`;
  const out: Explanation = {
    summary,
    rule: ladder.rule,
    resource: r,
    measured: { value: round(avg, 2), unit: RESOURCE_UNITS[r] },
    threshold: { value: round(avoidAt, 2), unit: RESOURCE_UNITS[r], kind: 'fair_share' },
    share: { tenant: round(x.share, 4), fair: round(x.fair, 4), dominant: round(x.share / weight, 4), weight, factor: config.factor },
    window_seconds: config.windowMs / 1000,
    contention: { contended: c.contended, signals: c.signals, detail: c.detail },
    top_processes: [],
    action,
    avoid:
      kind === 'release'
        ? `Keep ${r} use below ${fmt(r, avoidAt)} while the server is busy to avoid new limits.`
        : `Keeping ${r} use below about ${fmt(r, avoidAt)} (your fair share x${config.factor}) while the server is busy would have avoided this.`,
  };
  if (Object.keys(limits).length > 0) out.limits = limits;
  return out;
}
