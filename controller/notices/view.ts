// What a notice says, as data for the templates: pure functions from an incident event (and its
// explanation) to a view. Field names are snake_case like the rest of what admins see; every field is always
// present (null or an empty list when there is nothing), so templates can test any of them.
//
// Which events are worth telling, and how (classify):
//   opened at level 0 (step notice)       warning     informational (a tenant's opt-out applies), rate-limited
//   opened/escalated at level 1-2         throttle    rate-limited
//   relaxed (quarantine over, level 2)    throttle    rate-limited: processes run again, still throttled
//   quarantine (level 3)                  quarantine  never held back
//   released                              release     never held back; informational when the incident never
//                                                     limited anything (a warning that ended)
//   manual (an administrator's action)    by step     never held back, never opted out (except the end of a
//                                                     manual notice, informational like any warning's end)
import { formatBytes, formatDuration } from '../../shared/units.js';
import type { Resource } from '../../shared/resources.js';
import type { Explanation } from '../../shared/wire/agent.js';
import type { IncidentSummary, StoredEvent } from '../../shared/wire/api.js';
import { INFECTED_HINTS, MANUAL_HINTS, REMEDIATION_HINTS } from './hints.js';

/** The rule of inode caps (agent/policy/inodes.ts INODE_RULE; the controller does not import the agent). */
export const INODE_CAP_RULE = 'inode_cap';

export type Category = 'warning' | 'throttle' | 'quarantine' | 'release';

export interface Classification {
  category: Category;
  /** A tenant's opt-out (notices: false) suppresses informational notices only. */
  informational: boolean;
  /** Subject to the rate limit; the others are never held back. */
  limited: boolean;
}

/**
 * How an event is told. `maxLevel`: the highest level of its incident before this event (-1 when none). An
 * inode cap's warning is about the plan's own limit, which the tenant must act on (no opt-out).
 */
export function classify(ev: Pick<StoredEvent, 'type' | 'step' | 'level' | 'manual'> & { rule?: string }, maxLevel: number): Classification {
  const manual = ev.manual !== undefined;
  if (ev.type === 'released' || ev.step === 'release') return { category: 'release', informational: maxLevel < 1, limited: false };
  if (ev.rule === INODE_CAP_RULE && (ev.level <= 0 || ev.step === 'notice')) return { category: 'warning', informational: false, limited: true };
  if (ev.step === 'quarantine' || ev.level >= 3) return { category: 'quarantine', informational: false, limited: false };
  if (ev.level <= 0 || ev.step === 'notice') return { category: 'warning', informational: !manual, limited: !manual };
  return { category: 'throttle', informational: false, limited: !manual };
}

export interface ViewContext {
  /** Overrides the host name of the incident. */
  serverName?: string | undefined;
  support: { email?: string | undefined; url?: string | undefined };
  usageUrl?: string | undefined;
  /**
   * The tenant's own signed usage page link (/t/{token}, controller/ui/tenant-link.ts), made fresh for each
   * notice when public_url is set; it takes the place of usage_url.
   */
  tenantLink?: ((tenant: string) => string) | undefined;
  usageCommand: string;
  intervalMs: number;
}

export interface TopProcessView {
  pid: number;
  user: string;
  cpu: string;
  memory: string;
  command: string;
  /** A fixed-width row for plain text. */
  line: string;
}

export interface NoticeView {
  server: string;
  tenant: string;
  resource: string;
  /** "cpu", or "all resources" for an administrator's action on the whole account. */
  resource_label: string;
  category: Category;
  is_warning: boolean;
  is_throttle: boolean;
  is_quarantine: boolean;
  is_release: boolean;
  relaxed: boolean;
  level: number;
  headline: string;
  intro: string;
  at: string;
  summary: string;
  manual: { reason: string } | null;
  measured: {
    value: string;
    window: string;
    threshold: string;
    threshold_kind: string;
    share: { yours: string; fair: string; allowed: string } | null;
    contended: boolean;
    contention: string;
  } | null;
  action: string;
  /** What the action alone does not say: for the end of an administrator's action, its explanation (the release's reason). */
  detail: string | null;
  until: string | null;
  until_note: string | null;
  has_top_processes: boolean;
  top_processes: TopProcessView[];
  avoid: string;
  hints: string[];
  usage_url: string | null;
  usage_command: string | null;
  support_email: string | null;
  support_url: string | null;
  incident_ref: string;
  interval: string;
}

export interface DigestItem {
  host: string | null;
  resource: string | null;
  category: string;
  event_type: string | null;
  level: number | null;
  at: number;
  summary: string;
}

export interface DigestView {
  server: string;
  tenant: string;
  count: number;
  since: string;
  until: string;
  interval: string;
  headline: string;
  groups: Array<{ resource: string; what: string; count: number; first: string; last: string; summary: string; line: string }>;
  usage_url: string | null;
  usage_command: string | null;
  support_email: string | null;
  support_url: string | null;
}

/** "2026-11-29 12:35:00 UTC" */
export function humanTime(t: number | string): string {
  const d = typeof t === 'number' ? new Date(t) : new Date(t);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** Control characters (a command line may hold any) become "?"; text stays one line where it must. */
export function clean(s: string, oneLine = false): string {
  // eslint-disable-next-line no-control-regex
  const out = s.replace(oneLine ? /[\u0000-\u001f\u007f-\u009f]/g : /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?');
  return out;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** A measured value with its unit, in the words of the vocabulary (DESIGN 3). */
export function formatValue(value: number, unit: string): string {
  if (unit === 'bytes') return formatBytes(value);
  if (unit === 'bytes/s') return `${formatBytes(value)}/s`;
  if (unit === '% of one core' || unit === '%') {
    const cores = value / 100;
    return `${round(value, 1)}% of one core${value >= 150 ? ` (${round(cores, 1)} cores)` : ''}`;
  }
  return `${round(value, 2)} ${unit}`;
}

const pct = (f: number): string => `${round(f * 100, 1)}%`;

function thresholdKind(e: Explanation): string {
  switch (e.threshold.kind) {
    case 'plan_cap':
      return "your plan's limit";
    case 'fair_share':
      return e.share?.factor !== undefined ? `your fair share of the server, x${e.share.factor} allowed while it is busy` : 'your fair share of the server';
    case 'manual':
      return 'a limit set by an administrator';
    default:
      return 'the configured limit';
  }
}

function contentionText(e: Explanation): string {
  // The signals only: contention.detail names other tenants and is for administrators, never for a tenant.
  const signals = e.contention.signals.map((s) => {
    if (s.metric === 'listen_queue') return `connections waiting to be accepted by the web server: ${round(s.value, 0)} (saturated from ${round(s.threshold, 0)})`;
    if (s.metric === 'saturation') return `${s.resource} saturation ${pct(s.value)} (threshold ${pct(s.threshold)})`;
    if (s.metric === 'others_psi_some_avg10') return `other customers waited for ${s.resource} ${round(s.value, 1)}% of the time (threshold ${round(s.threshold, 1)}%)`;
    if (s.metric === 'services_psi_some_avg10') return `the server's own services waited for ${s.resource} ${round(s.value, 1)}% of the time (threshold ${round(s.threshold, 1)}%)`;
    return `${s.resource} pressure ${round(s.value, 1)}% (${s.metric}, threshold ${round(s.threshold, 1)}%)`;
  });
  const list = signals.length ? `: ${signals.join(', ')}` : '';
  return e.contention.contended ? `yes, other customers were waiting${list}` : `no${list}`;
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s} ` : s + ' '.repeat(n - s.length);
}

function topProcesses(e: Explanation): TopProcessView[] {
  return e.top_processes.slice(0, 10).map((p) => {
    const cpu = `${round(p.cpu_percent, 1)}%`;
    const memory = formatBytes(p.rss_bytes);
    const user = clean(p.user ?? '', true);
    const command = clean(p.command, true).slice(0, 300);
    return { pid: p.pid, user, cpu, memory, command, line: `${pad(String(p.pid), 8)}${pad(user || '-', 12)}${pad(cpu, 8)}${pad(memory, 11)}${command}` };
  });
}

function infectedHeadline(ev: StoredEvent, cls: Classification): string {
  if (cls.category === 'release') return 'infected files dealt with';
  return ev.explanation.files?.some((f) => f.action === 'quarantined') ? 'infected files moved aside' : 'infected files found';
}

/** Inode caps: a count against the plan's limit, held by the filesystem's quota or by notices only. */
function inodeText(ev: StoredEvent, cls: Classification, server: string): { headline: string; intro: string } {
  const t = ev.tenant;
  const e = ev.explanation;
  const acct = `Your account ${t} on ${server}`;
  const atCap = e.measured.value >= e.threshold.value;
  if (cls.category === 'release') return { headline: `${t}: inodes back below the plan's limit`, intro: `${acct} holds fewer files and directories (inodes) again: this incident is closed.` };
  if (ev.type === 'relaxed') return { headline: `${t}: inodes below the plan's limit again`, intro: `${acct} is below its plan's limit of files and directories (inodes) again: new files can be created, but it is still near the limit.` };
  if (cls.category === 'throttle') return { headline: `${t}: inodes at the plan's limit, new files refused`, intro: `${acct} holds as many files and directories (inodes) as its plan allows: the filesystem refuses new ones ("Disk quota exceeded") until some are removed.` };
  if (atCap) return { headline: `${t}: inodes over the plan's limit`, intro: `${acct} holds more files and directories (inodes) than its plan allows. This server cannot hold you at the limit; please remove files.` };
  return { headline: `${t}: inodes near the plan's limit (warning, nothing limited yet)`, intro: `${acct} holds nearly as many files and directories (inodes) as its plan allows. Nothing is limited yet.` };
}

function headlineOf(ev: StoredEvent, cls: Classification, label: string, noLimit: boolean): string {
  const t = ev.tenant;
  const byAdmin = ev.manual ? ' by an administrator' : '';
  switch (cls.category) {
    case 'warning':
      if (ev.rule === API_RULE) return `${t}: more API calls than the plan allows (warning, nothing more limited yet)`;
      return ev.manual ? `${t}: notice from an administrator` : `${t}: ${label} use above its fair share (warning, nothing limited yet)`;
    case 'throttle':
      return ev.type === 'relaxed' ? `${t}: quarantine over, ${label} still throttled (level ${ev.level})` : `${t}: ${label} throttled${byAdmin} (level ${ev.level})`;
    case 'quarantine':
      return `${t}: quarantined${byAdmin}, processes frozen (${label})`;
    case 'release':
      return noLimit ? `${t}: ${label} ${ev.manual ? 'notice' : 'warning'} ended` : `${t}: ${label} limits lifted`;
  }
}

function introOf(ev: StoredEvent, cls: Classification, server: string, label: string, noLimit: boolean): string {
  const where = `on ${server}`;
  const acct = `your account ${ev.tenant}`;
  const admin = ev.manual ? 'An administrator' : undefined;
  if (ev.rule === API_RULE && !admin) return apiIntro(ev, cls, acct, where, noLimit);
  switch (cls.category) {
    case 'warning':
      return admin
        ? `${admin} sends you this notice about ${acct} ${where}. Nothing has been limited.`
        : `${acct[0]!.toUpperCase()}${acct.slice(1)} used more ${label} ${where} than its fair share while other customers were waiting for it. Nothing has been limited yet; if it goes on, ${label} will be throttled.`;
    case 'throttle':
      if (ev.type === 'relaxed') return `The quarantine of ${acct} ${where} is over: its processes run again, but ${label} stays throttled (level ${ev.level} of 2) until its use calms down.`;
      return `${admin ?? 'hostwarden'} has throttled ${label} of ${acct} ${where} (level ${ev.level} of 2): it gets less ${ev.rule === 'manual' ? 'of the server' : label} than before${admin ? '' : ', because it took more than its fair share while other customers were waiting'}.`;
    case 'quarantine':
      return `${admin ?? 'hostwarden'} has quarantined ${acct} ${where}: all of its processes are frozen (they keep their memory and resume when released)${admin ? '' : `, because its ${label} use hurt other customers even when throttled`}.`;
    case 'release':
      if (noLimit) return `The ${ev.manual ? "administrator's notice" : `warning about ${label}`} of ${acct} ${where} has ended. No limit was applied.`;
      return `The limits on ${label} of ${acct} ${where} have been lifted: it is back to its plan.`;
  }
}

/** The rule api_cap: API calls over the plan's cap (agent/policy/api-cap.ts), told without fair shares. */
const API_RULE = 'api_cap';

function apiIntro(ev: StoredEvent, cls: Classification, acct: string, where: string, noLimit: boolean): string {
  const cap = ev.explanation.threshold.value;
  const busy = ev.explanation.contention.contended ? 'while the web server was busy' : "(the web server's load could not be told apart, so the plan's cap alone counts)";
  switch (cls.category) {
    case 'warning':
      return `The web sites of ${acct} ${where} received more API calls than its plan allows (${cap} per minute). The web server answers the calls above that with 429 (Too Many Requests); nothing more has been limited yet.`;
    case 'release':
      if (noLimit) return `The warning about API calls to the web sites of ${acct} ${where} has ended: they stayed within the plan's ${cap} per minute.`;
      return `The throttle on API calls to the web sites of ${acct} ${where} has been lifted: the web server accepts up to the plan's ${cap} per minute again.`;
    default:
      return `hostwarden has throttled API calls to the web sites of ${acct} ${where} (level ${ev.level} of 2): the web server now accepts fewer of them than the plan's ${cap} per minute, because the sites kept receiving more than the plan allows ${busy}.`;
  }
}

function usage(ctx: ViewContext, tenant: string): { usage_url: string | null; usage_command: string | null } {
  const url = ctx.tenantLink ? ctx.tenantLink(tenant) : ctx.usageUrl ? ctx.usageUrl.replaceAll('{tenant}', encodeURIComponent(tenant)) : null;
  return { usage_url: url, usage_command: url ? null : ctx.usageCommand.replaceAll('{tenant}', tenant) };
}

/** The view of one incident event. `maxLevel`: the highest level of the incident before this event. */
export function noticeView(ev: StoredEvent, incident: Pick<IncidentSummary, 'agent_incident' | 'host'>, cls: Classification, ctx: ViewContext, maxLevel = -1): NoticeView {
  const e = ev.explanation;
  const server = ctx.serverName ?? ev.host;
  const wholeAccount = ev.rule === 'manual';
  // Infected files (rule infected): the summary lists the files; there is no measured use to show.
  const infected = ev.rule === 'infected';
  // Inode caps (rule inode_cap): a count, not a use averaged over a window; the summary says it.
  const inodeCap = ev.rule === INODE_CAP_RULE;
  const inodeWords = inodeCap ? inodeText(ev, cls, clean(server, true)) : undefined;
  const label = wholeAccount ? 'all resources' : infected ? 'infected files' : ev.resource === 'api' ? 'API calls' : ev.resource;
  const noLimit = cls.category === 'release' && maxLevel < 1;
  const hasMeasure = e.measured.unit !== 'manual' && e.threshold.kind !== 'manual' && !infected && !inodeCap;
  const until = ev.until && cls.category !== 'release' ? humanTime(ev.until) : null;
  let untilNote: string | null = null;
  if (!until) {
    if (inodeCap && cls.category === 'throttle') untilNote = 'until the account holds fewer files and directories than its limit; you will get an email when it does';
    else if (cls.category === 'throttle' || cls.category === 'quarantine') untilNote = 'as long as the use stays too high while the server is busy; you will get an email when it is lifted';
  }
  const hints = wholeAccount ? [...MANUAL_HINTS] : infected ? [...INFECTED_HINTS] : [...(REMEDIATION_HINTS[ev.resource as Resource] ?? [])];
  return {
    server: clean(server, true),
    tenant: ev.tenant,
    resource: ev.resource,
    resource_label: label,
    category: cls.category,
    is_warning: cls.category === 'warning',
    is_throttle: cls.category === 'throttle',
    is_quarantine: cls.category === 'quarantine',
    is_release: cls.category === 'release',
    relaxed: ev.type === 'relaxed',
    level: ev.level,
    headline: inodeWords ? inodeWords.headline : infected ? infectedHeadline(ev, cls) : headlineOf(ev, cls, label, noLimit),
    intro: inodeWords
      ? inodeWords.intro
      : infected
      ? cls.category === 'release'
        ? `The infected files the malware scanner found in the home of your account ${ev.tenant} on ${clean(server, true)} are all dealt with: this incident is closed.`
        : `The malware scanner found infected files in the home of your account ${ev.tenant} on ${clean(server, true)}.`
      : introOf(ev, cls, clean(server, true), label, noLimit),
    at: humanTime(ev.at),
    summary: clean(e.summary),
    manual: ev.manual ? { reason: clean(ev.manual.reason) } : null,
    measured: hasMeasure
      ? {
          value: formatValue(e.measured.value, e.measured.unit),
          window: formatDuration(e.window_seconds * 1000),
          threshold: formatValue(e.threshold.value, e.threshold.unit),
          threshold_kind: thresholdKind(e),
          share: e.share ? { yours: pct(e.share.tenant), fair: pct(e.share.fair), allowed: pct(e.share.fair * (e.share.factor ?? 1)) } : null,
          contended: e.contention.contended,
          contention: contentionText(e),
        }
      : null,
    action: clean(e.action),
    detail: (!hasMeasure && cls.category === 'release') || infected || inodeCap ? clean(e.summary) : null,
    until,
    until_note: untilNote,
    has_top_processes: e.top_processes.length > 0,
    top_processes: topProcesses(e),
    avoid: clean(e.avoid),
    hints,
    ...usage(ctx, ev.tenant),
    support_email: ctx.support.email ?? null,
    support_url: ctx.support.url ?? null,
    incident_ref: `${incident.host}/${incident.agent_incident}`,
    interval: formatDuration(ctx.intervalMs),
  };
}

const WHAT: Record<string, string> = { warning: 'warnings', throttle: 'throttles', quarantine: 'quarantines', release: 'releases' };

/** The view of a digest of held-back notices (oldest first). */
export function digestView(tenant: string, items: readonly DigestItem[], now: number, ctx: ViewContext): DigestView {
  const hosts = [...new Set(items.map((i) => i.host).filter((h): h is string => h !== null))];
  const groups = new Map<string, { resource: string; what: string; count: number; first: number; last: number; summary: string }>();
  for (const it of items) {
    const what = it.event_type === 'relaxed' ? 'quarantine ended, still throttled' : it.category === 'throttle' && it.level ? `throttle level ${it.level}` : (WHAT[it.category] ?? it.category);
    const k = `${it.resource}\u0000${what}`;
    const g = groups.get(k);
    if (!g) groups.set(k, { resource: it.resource ?? '-', what, count: 1, first: it.at, last: it.at, summary: it.summary });
    else {
      g.count++;
      if (it.at < g.first) g.first = it.at;
      if (it.at >= g.last) {
        g.last = it.at;
        g.summary = it.summary;
      }
    }
  }
  const list = [...groups.values()].sort((a, b) => a.first - b.first);
  const since = items.length ? Math.min(...items.map((i) => i.at)) : now;
  const server = ctx.serverName ?? (hosts.join(', ') || 'the server');
  return {
    server: clean(server, true),
    tenant,
    count: items.length,
    since: humanTime(since),
    until: humanTime(now),
    interval: formatDuration(ctx.intervalMs),
    headline: `${tenant}: ${items.length} notice${items.length === 1 ? '' : 's'} held back since ${humanTime(since)}`,
    groups: list.map((g) => ({
      resource: g.resource,
      what: g.what,
      count: g.count,
      first: humanTime(g.first),
      last: humanTime(g.last),
      summary: clean(g.summary),
      line: `${pad(g.resource, 10)}${pad(g.what, 22)}x${pad(String(g.count), 5)}${humanTime(g.first)} .. ${humanTime(g.last)}`,
    })),
    ...usage(ctx, tenant),
    support_email: ctx.support.email ?? null,
    support_url: ctx.support.url ?? null,
  };
}
