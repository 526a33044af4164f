// The notices of a remediation case's lifecycle (opened, reminder, acknowledged, overdue, resolved): worded
// here, written into the outbox inside the transaction that moves the case (through TxContext.notices), under
// the per-host caps of notices.caps (category `remediation`) and never folded into a digest: a notice over its
// cap is held for a slot of its host's hour and then goes out as it is (controller/notices/caps.ts). They are
// not informational (a tenant's opt-out does not stop them) and not rate-limited: each moves a case once.
// No SQL here; the templates are the safe subset of Mustache of notices/template-engine.ts (HTML escaped).
import { randomUUID } from 'node:crypto';
import type { NewNotice } from '../store/notice-store.js';
import type { TxContext } from '../store/store.js';
import type { NoticesConfig } from '../notices/config.js';
import { CapBudget, capNote, type CapHold } from '../notices/caps.js';
import { NO_RECIPIENT_NOTE } from '../notices/outbox.js';
import { compileTemplate } from '../notices/template-engine.js';
import { clean, humanTime } from '../notices/view.js';
import { formatBytes } from '../../shared/units.js';
import type { RemediationCase } from '../../shared/wire/remediation.js';
import type { CaseNoticeKind } from './machine.js';

export const REMEDIATION_CATEGORY = 'remediation';

const HEADLINES: Record<CaseNoticeKind, string> = {
  opened: 'please fix an issue with your account by {{deadline}}',
  reminder: 'reminder: an issue with your account is due by {{deadline}}',
  acknowledged: 'thank you: your acknowledgement of case {{id}} is recorded',
  overdue: 'case {{id}} is overdue{{#step_short}}: your account is {{step_short}}{{/step_short}}',
  resolved: 'case {{id}} is resolved',
};

const SUBJECT = '[{{server}}] {{tenant}}: {{headline}}';

const TEXT = `Hello {{tenant}},

{{intro}}

WHAT TO FIX (case {{id}})
{{#what_lines}}
  {{.}}
{{/what_lines}}

  Deadline: {{deadline}}
  If it is not fixed by then: {{step}}
{{#resolution}}
  Resolution: {{resolution}}
{{/resolution}}

{{#has_incidents}}
WHAT WE RECORDED
{{#incidents}}
  #{{id}} {{opened}} on {{host}}, rule {{rule}}, {{resource}}: {{summary}}
{{/incidents}}

{{/has_incidents}}
{{#has_processes}}
PROCESSES THOSE INCIDENTS NAMED
  PID     CPU     MEMORY     COMMAND
{{#processes}}
  {{line}}
{{/processes}}

{{/has_processes}}
{{#link}}
TO ACKNOWLEDGE (tell us you are on it)
  Open {{link}}
  and press the button on that page (the link is valid until {{link_expires}}).

{{/link}}
{{#usage_url}}
YOUR USAGE PAGE (your usage, incidents and this request)
  {{usage_url}}

{{/usage_url}}
QUESTIONS
  Reply to this email{{#support_email}} or write to {{support_email}}{{/support_email}}{{#support_url}} (see also {{support_url}}){{/support_url}}
  and quote case {{id}}.
--
hostwarden on {{server}}
`;

const STYLE_TD = 'padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top';
const HTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{headline}}</title></head>
<body style="font-family:sans-serif;font-size:14px;line-height:1.4;color:#222">
<p>Hello {{tenant}},</p>
<p><strong>{{intro}}</strong></p>
<h3 style="margin:16px 0 4px 0">What to fix (case {{id}})</h3>
<blockquote style="border-left:3px solid #999;margin:0 0 12px 0;padding:4px 12px;white-space:pre-wrap">{{what}}</blockquote>
<p>Deadline: <strong>{{deadline}}</strong><br>If it is not fixed by then: {{step}}{{#resolution}}<br>Resolution: {{resolution}}{{/resolution}}</p>
{{#has_incidents}}
<h3 style="margin:16px 0 4px 0">What we recorded</h3>
<table style="border-collapse:collapse">
{{#incidents}}
<tr><td style="${STYLE_TD}">#{{id}}</td><td style="${STYLE_TD}">{{opened}}</td><td style="${STYLE_TD}">{{host}}</td><td style="${STYLE_TD}">{{rule}}, {{resource}}</td><td style="${STYLE_TD}">{{summary}}</td></tr>
{{/incidents}}
</table>
{{/has_incidents}}
{{#has_processes}}
<h3 style="margin:16px 0 4px 0">Processes those incidents named</h3>
<table style="border-collapse:collapse">
<tr><th style="${STYLE_TD}">PID</th><th style="${STYLE_TD}">CPU</th><th style="${STYLE_TD}">memory</th><th style="${STYLE_TD}">command</th></tr>
{{#processes}}
<tr><td style="${STYLE_TD}">{{pid}}</td><td style="${STYLE_TD}">{{cpu}}</td><td style="${STYLE_TD}">{{memory}}</td><td style="${STYLE_TD}"><code>{{command}}</code></td></tr>
{{/processes}}
</table>
{{/has_processes}}
{{#link}}
<p><a href="{{link}}">Acknowledge this case</a> (tell us you are on it; the link is valid until {{link_expires}}).</p>
{{/link}}
{{#usage_url}}
<p>Your usage page (your usage, incidents and this request): <a href="{{usage_url}}">{{usage_url}}</a></p>
{{/usage_url}}
<p>Questions: reply to this email{{#support_email}} or write to {{support_email}}{{/support_email}}{{#support_url}} (see also {{support_url}}){{/support_url}} and quote case {{id}}.</p>
<p style="color:#777;font-size:12px">hostwarden on {{server}}</p>
</body></html>
`;

const INTROS: Record<CaseNoticeKind, string> = {
  opened: 'We ask you to fix an issue with your account (our acceptable use policy, section 7, lets us require a remediation). What, why and by when is below.',
  reminder: 'This is a reminder: the issue below is due to be fixed by {{deadline}}.',
  acknowledged: 'You told us you are working on the issue below. Thank you: the deadline stays as it was.',
  overdue: 'The deadline of the issue below has passed without it being resolved.{{#step_short}} As announced, {{step}} until an administrator resolves the case.{{/step_short}}{{^step_short}} An administrator will contact you.{{/step_short}}',
  resolved: 'An administrator resolved the case below.{{#lifted}} What applied because it was overdue is lifted.{{/lifted}}',
};

const subject = compileTemplate(SUBJECT, { name: 'remediation.subject', mode: 'text' });
const text = compileTemplate(TEXT, { name: 'remediation.txt', mode: 'text' });
const html = compileTemplate(HTML, { name: 'remediation.html', mode: 'html' });
const headlines = Object.fromEntries(Object.entries(HEADLINES).map(([k, v]) => [k, compileTemplate(v, { name: `remediation.${k}`, mode: 'text' })]));
const intros = Object.fromEntries(Object.entries(INTROS).map(([k, v]) => [k, compileTemplate(v, { name: `remediation.${k}.intro`, mode: 'text' })]));

export function stepWords(c: Pick<RemediationCase, 'step'>): string {
  if (c.step.action === 'throttle') return `your account's resources are throttled (level ${c.step.level ?? 1})`;
  if (c.step.action === 'quarantine') return "your account's processes are frozen (quarantine)";
  return 'an administrator will contact you';
}

export interface CaseNoticeContext {
  config: NoticesConfig;
  /** The acknowledgement link and when it expires, for open cases (undefined: no public_url). */
  link?: { url: string; expiresAt: number } | undefined;
  /** The tenant's signed usage page link (controller/ui/tenant-link.ts; undefined: no public_url). */
  usageUrl?: string | undefined;
  /** Domain of the Message-ID. */
  domain: string;
}

/** The view a case's notice renders; every tenant-given or agent-given string cleaned of control characters. */
export function caseView(c: RemediationCase, kind: CaseNoticeKind, ctx: CaseNoticeContext): Record<string, unknown> {
  const stepShort = c.step.action === 'throttle' ? `throttled (level ${c.step.level ?? 1})` : c.step.action === 'quarantine' ? 'frozen (quarantine)' : null;
  const base = { id: c.id, deadline: humanTime(c.deadline), step: stepWords(c), step_short: stepShort, lifted: c.step_state === 'lift_due' || c.step_state === 'lifted' };
  const processes = c.evidence.top_processes.map((p) => {
    const cpu = `${Math.round(p.cpu_percent)}%`;
    const memory = formatBytes(p.rss_bytes);
    const command = clean(p.command, true).slice(0, 200);
    return { pid: p.pid, cpu, memory, command, line: `${String(p.pid).padEnd(7)} ${cpu.padEnd(7)} ${memory.padEnd(10)} ${command}` };
  });
  const link = ctx.link && (kind === 'opened' || kind === 'reminder') && c.state === 'open' ? ctx.link : undefined;
  return {
    ...base,
    tenant: c.tenant,
    server: ctx.config.serverName ?? c.host,
    headline: headlines[kind]!.render(base),
    intro: intros[kind]!.render(base),
    what: clean(c.what),
    what_lines: clean(c.what).split('\n').map((l) => l.trimEnd()),
    resolution: kind === 'resolved' && c.resolution ? clean(c.resolution, true) : null,
    has_incidents: c.evidence.incidents.length > 0,
    incidents: c.evidence.incidents.map((i) => ({ id: i.id, opened: humanTime(i.opened_at), host: i.host, rule: clean(i.rule, true), resource: i.resource, summary: clean(i.summary, true) })),
    has_processes: processes.length > 0,
    processes,
    link: link?.url ?? null,
    link_expires: link ? humanTime(link.expiresAt) : null,
    usage_url: ctx.usageUrl ?? null,
    support_email: ctx.config.support.email ?? null,
    support_url: ctx.config.support.url ?? null,
  };
}

/**
 * Write the notice of `kind` for case `c` inside the case's transaction: queued under its host's cap, or held
 * for a slot (never for a digest). Its source `remediation:<case>:<kind>:<n>` makes it once per change.
 */
export function enqueueCaseNotice(c: RemediationCase, kind: CaseNoticeKind, tx: TxContext, ctx: CaseNoticeContext): { id: number | undefined; hold: CapHold | undefined } {
  const view = caseView(c, kind, ctx);
  const to = tx.notices.contactOf(c.tenant);
  const row: NewNotice = {
    kind: 'event',
    source: `remediation:${c.id}:${kind}:${c.history.length}`,
    tenant: c.tenant,
    host: c.host,
    resource: null,
    incident_id: null,
    incident_key: `remediation-${c.id}`,
    event_type: `remediation_${kind}`,
    step: c.step.action === 'none' ? null : c.step.action,
    level: null,
    manual: 1,
    category: REMEDIATION_CATEGORY,
    event_at: tx.now,
    created_at: tx.now,
    state: 'queued',
    recipient: to.address,
    bcc: JSON.stringify(ctx.config.adminBcc),
    subject: subject.render(view).replace(/\s+/g, ' ').trim().slice(0, 250),
    summary: `case ${c.id}: ${kind}; deadline ${c.deadline}`,
    body_text: text.render(view),
    body_html: html.render(view),
    message_id: `<${randomUUID()}@${ctx.domain}>`,
    next_attempt_at: tx.now,
    error: null,
    digest_due: null,
  };
  let hold: CapHold | undefined;
  if (to.address === null && ctx.config.adminBcc.length === 0) {
    Object.assign(row, { state: 'no_recipient', next_attempt_at: null, error: NO_RECIPIENT_NOTE });
  } else {
    if (to.address === null) row.error = `${NO_RECIPIENT_NOTE}; only the admin copy goes out`;
    const budget = new CapBudget(ctx.config.caps, tx.notices, tx.now, false);
    const cap = budget.check(c.host, 'remediation');
    if (cap) {
      hold = { host: c.host, category: 'remediation', cap };
      Object.assign(row, { state: 'held', next_attempt_at: null, error: [capNote(hold, ctx.config.caps, false), row.error].filter(Boolean).join('; ') });
    }
    const id = tx.notices.enqueue(row);
    if (id !== undefined && !cap) budget.take(c.host, 'remediation', row.source);
    return { id, hold };
  }
  return { id: tx.notices.enqueue(row), hold };
}
