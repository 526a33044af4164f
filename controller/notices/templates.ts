// The built-in notice templates (TS strings, so they ship in dist/ with the code) and the admin's overrides:
// files <name>.subject, <name>.txt and <name>.html in notices.templates_dir replace the built-in part of the
// same name. Overrides are checked when loaded (every name must exist in the view): a bad one stops the
// controller with a configuration error naming the file and line.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../shared/errors.js';
import type { StoredEvent } from '../../shared/wire/api.js';
import { checkTemplate, compileTemplate, TemplateError, type Template, type TemplateMode } from './template-engine.js';
import { classify, digestView, noticeView, type DigestView, type NoticeView, type ViewContext } from './view.js';

/** Where a tenant sees its usage and whom it writes to: the same in notices and digests. */
const USAGE_AND_CONTACT_TEXT = `YOUR USAGE
{{#usage_url}}
  {{usage_url}}
{{/usage_url}}
{{#usage_command}}
  Ask support for your usage history (they can run: {{usage_command}}).
{{/usage_command}}

QUESTIONS OR AN APPEAL
  Reply to this email{{#support_email}} or write to {{support_email}}{{/support_email}}{{#support_url}} (see also {{support_url}}){{/support_url}}`;

export const NOTICE_SUBJECT = '[{{server}}] {{headline}}\n';

export const NOTICE_TEXT = `Hello {{tenant}},

{{intro}}

{{#manual}}
The administrator gave this reason:
    "{{reason}}"

{{/manual}}
{{#measured}}
WHAT WAS MEASURED ({{at}})
  measured use:          {{value}} of {{resource}}, averaged over {{window}}
  held against:          {{threshold}}, {{threshold_kind}}
{{#share}}
  share of the server:   {{yours}} of what all accounts used (fair share {{fair}}, allowed {{allowed}})
{{/share}}
  server contended:      {{contention}}
  in short:              {{summary}}

{{/measured}}
WHAT WAS DONE
  {{action}}
{{#detail}}
  {{detail}}
{{/detail}}
{{#until}}
  How long: until {{until}}
{{/until}}
{{#until_note}}
  How long: {{until_note}}
{{/until_note}}

{{#has_top_processes}}
TOP PROCESSES OF {{tenant}} AT THAT MOMENT
  PID     USER        CPU     MEMORY     COMMAND
{{#top_processes}}
  {{line}}
{{/top_processes}}

{{/has_top_processes}}
WHAT TO CHANGE
  {{avoid}}
{{#hints}}
  - {{.}}
{{/hints}}

${USAGE_AND_CONTACT_TEXT}
  and quote {{incident_ref}}. If you think this is a mistake, say so: an administrator will look at it.

You get at most one email per resource and step every {{interval}} (the rest are collected into a digest);
quarantines and releases are always sent.
--
hostwarden on {{server}}
`;

const STYLE_TABLE = 'border-collapse:collapse;margin:4px 0 12px 0';
const STYLE_TH = 'text-align:left;padding:2px 12px 2px 0;color:#555;font-weight:normal;vertical-align:top';
const STYLE_TD = 'padding:2px 12px 2px 0;vertical-align:top';

const USAGE_AND_CONTACT_HTML = `<h3 style="margin:16px 0 4px 0">Your usage</h3>
{{#usage_url}}
<p><a href="{{usage_url}}">{{usage_url}}</a></p>
{{/usage_url}}
{{#usage_command}}
<p>Ask support for your usage history (they can run: <code>{{usage_command}}</code>).</p>
{{/usage_command}}
<h3 style="margin:16px 0 4px 0">Questions or an appeal</h3>
<p>Reply to this email{{#support_email}} or write to <a href="mailto:{{support_email}}">{{support_email}}</a>{{/support_email}}{{#support_url}} (see also <a href="{{support_url}}">{{support_url}}</a>){{/support_url}}`;

export const NOTICE_HTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{headline}}</title></head>
<body style="font-family:sans-serif;font-size:14px;line-height:1.4;color:#222">
<p>Hello {{tenant}},</p>
<p><strong>{{intro}}</strong></p>
{{#manual}}
<p>The administrator gave this reason:</p>
<blockquote style="border-left:3px solid #999;margin:0 0 12px 0;padding:4px 12px">{{reason}}</blockquote>
{{/manual}}
{{#measured}}
<h3 style="margin:16px 0 4px 0">What was measured <span style="font-weight:normal;color:#555">({{at}})</span></h3>
<table style="${STYLE_TABLE}">
<tr><th style="${STYLE_TH}">measured use</th><td style="${STYLE_TD}">{{value}} of {{resource}}, averaged over {{window}}</td></tr>
<tr><th style="${STYLE_TH}">held against</th><td style="${STYLE_TD}">{{threshold}}, {{threshold_kind}}</td></tr>
{{#share}}
<tr><th style="${STYLE_TH}">share of the server</th><td style="${STYLE_TD}">{{yours}} of what all accounts used (fair share {{fair}}, allowed {{allowed}})</td></tr>
{{/share}}
<tr><th style="${STYLE_TH}">server contended</th><td style="${STYLE_TD}">{{contention}}</td></tr>
<tr><th style="${STYLE_TH}">in short</th><td style="${STYLE_TD}">{{summary}}</td></tr>
</table>
{{/measured}}
<h3 style="margin:16px 0 4px 0">What was done</h3>
<p>{{action}}{{#detail}}<br>{{detail}}{{/detail}}{{#until}}<br>How long: until <strong>{{until}}</strong>{{/until}}{{#until_note}}<br>How long: {{until_note}}{{/until_note}}</p>
{{#has_top_processes}}
<h3 style="margin:16px 0 4px 0">Top processes of {{tenant}} at that moment</h3>
<table style="${STYLE_TABLE}">
<tr><th style="${STYLE_TH}">PID</th><th style="${STYLE_TH}">user</th><th style="${STYLE_TH}">CPU</th><th style="${STYLE_TH}">memory</th><th style="${STYLE_TH}">command</th></tr>
{{#top_processes}}
<tr><td style="${STYLE_TD}">{{pid}}</td><td style="${STYLE_TD}">{{user}}</td><td style="${STYLE_TD}">{{cpu}}</td><td style="${STYLE_TD}">{{memory}}</td><td style="${STYLE_TD}"><code>{{command}}</code></td></tr>
{{/top_processes}}
</table>
{{/has_top_processes}}
<h3 style="margin:16px 0 4px 0">What to change</h3>
<p>{{avoid}}</p>
<ul>
{{#hints}}
<li>{{.}}</li>
{{/hints}}
</ul>
${USAGE_AND_CONTACT_HTML}
and quote <code>{{incident_ref}}</code>. If you think this is a mistake, say so: an administrator will look at it.</p>
<p style="color:#777;font-size:12px">You get at most one email per resource and step every {{interval}} (the rest are collected into a digest);
quarantines and releases are always sent.<br>hostwarden on {{server}}</p>
</body></html>
`;

export const DIGEST_SUBJECT = '[{{server}}] {{headline}}\n';

export const DIGEST_TEXT = `Hello {{tenant}},

To keep your inbox readable, hostwarden sends at most one email per resource and step every {{interval}}.
These {{count}} notices about your account {{tenant}} on {{server}} were held back between {{since}} and {{until}}:

  RESOURCE  WHAT                  COUNT FIRST .. LAST
{{#groups}}
  {{line}}
            latest: {{summary}}
{{/groups}}

Quarantines and releases are never held back: you received those as they happened.

${USAGE_AND_CONTACT_TEXT}.
--
hostwarden on {{server}}
`;

export const DIGEST_HTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{headline}}</title></head>
<body style="font-family:sans-serif;font-size:14px;line-height:1.4;color:#222">
<p>Hello {{tenant}},</p>
<p>To keep your inbox readable, hostwarden sends at most one email per resource and step every {{interval}}.
These <strong>{{count}}</strong> notices about your account {{tenant}} on {{server}} were held back between {{since}} and {{until}}:</p>
<table style="${STYLE_TABLE}">
<tr><th style="${STYLE_TH}">resource</th><th style="${STYLE_TH}">what</th><th style="${STYLE_TH}">count</th><th style="${STYLE_TH}">first</th><th style="${STYLE_TH}">last</th><th style="${STYLE_TH}">latest</th></tr>
{{#groups}}
<tr><td style="${STYLE_TD}">{{resource}}</td><td style="${STYLE_TD}">{{what}}</td><td style="${STYLE_TD}">{{count}}</td><td style="${STYLE_TD}">{{first}}</td><td style="${STYLE_TD}">{{last}}</td><td style="${STYLE_TD}">{{summary}}</td></tr>
{{/groups}}
</table>
<p>Quarantines and releases are never held back: you received those as they happened.</p>
${USAGE_AND_CONTACT_HTML}.</p>
<p style="color:#777;font-size:12px">hostwarden on {{server}}</p>
</body></html>
`;

export const TEMPLATE_KINDS = ['notice', 'digest'] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];
export const TEMPLATE_PARTS = [
  { part: 'subject', ext: 'subject', mode: 'text' },
  { part: 'text', ext: 'txt', mode: 'text' },
  { part: 'html', ext: 'html', mode: 'html' },
] as const satisfies ReadonlyArray<{ part: string; ext: string; mode: TemplateMode }>;

export interface TemplateTriple {
  subject: Template;
  text: Template;
  html: Template;
  /** Where each part came from: "built-in" or the override file. */
  sources: { subject: string; text: string; html: string };
}
export type TemplateSet = Record<TemplateKind, TemplateTriple>;

const BUILT_IN: Record<TemplateKind, { subject: string; text: string; html: string }> = {
  notice: { subject: NOTICE_SUBJECT, text: NOTICE_TEXT, html: NOTICE_HTML },
  digest: { subject: DIGEST_SUBJECT, text: DIGEST_TEXT, html: DIGEST_HTML },
};

const SAMPLE_CTX: ViewContext = { serverName: undefined, support: { email: 'support@example.com', url: 'https://example.com/support' }, usageUrl: 'https://panel.example.com/usage/{tenant}', usageCommand: 'hostwardenctl usage {tenant}', intervalMs: 43_200_000 };

function sampleEvent(extra: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: 'e1',
    incident: 'alice-cpu-1',
    tenant: 'alice',
    resource: 'cpu',
    rule: 'contention_disproportion',
    type: 'escalated',
    step: 'throttle',
    level: 1,
    at: '2026-01-01T00:00:00.000Z',
    until: '2026-01-01T01:00:00.000Z',
    explanation: {
      summary: 'alice used 380% of one core',
      rule: 'contention_disproportion',
      resource: 'cpu',
      measured: { value: 380, unit: '% of one core' },
      threshold: { value: 200, unit: '% of one core', kind: 'fair_share' },
      share: { tenant: 0.5, fair: 0.25, dominant: 0.5, weight: 1, factor: 2 },
      window_seconds: 30,
      contention: { contended: true, signals: [{ resource: 'cpu', metric: 'psi_some_avg10', value: 40, threshold: 20 }] },
      top_processes: [{ pid: 1, command: 'php-fpm', cpu_percent: 100, rss_bytes: 1, user: 'alice' }],
      action: 'Throttled',
      avoid: 'Use less',
    },
    host: 'web01',
    received_at: '2026-01-01T00:00:01.000Z',
    ...extra,
  };
}

/** A view with every field set (lists with an item, groups filled): what template names are checked against. */
export function sampleNoticeView(): NoticeView {
  const auto = sampleEvent();
  const view = noticeView(auto, { host: 'web01', agent_incident: auto.incident }, classify(auto, 0), SAMPLE_CTX);
  return { ...view, manual: { reason: 'abuse report 42' }, usage_command: 'hostwardenctl usage alice', until_note: 'until calm' };
}

export function sampleDigestView(): DigestView {
  const view = digestView('alice', [{ host: 'web01', resource: 'cpu', category: 'throttle', event_type: 'escalated', level: 1, at: 0, summary: 'alice used 380% of one core' }], 1, SAMPLE_CTX);
  return { ...view, usage_command: 'hostwardenctl usage alice' };
}

function compilePart(kind: TemplateKind, source: string, name: string, mode: TemplateMode): Template {
  checkTemplate(source, { name, sample: kind === 'notice' ? sampleNoticeView() : sampleDigestView() });
  return compileTemplate(source, { name, mode });
}

/**
 * The built-in templates, each part replaced by <dir>/<kind>.<ext> when that file exists. A bad override is a
 * ConfigError of `notices.templates_dir` naming the file and line.
 */
export function loadTemplates(dir?: string): TemplateSet {
  if (dir !== undefined) {
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (err) {
      throw new ConfigError('notices.templates_dir', `cannot read ${dir}: ${(err as Error).message}`, { cause: err });
    }
    if (!isDir) throw new ConfigError('notices.templates_dir', `${dir} is not a directory`);
  }
  const out = {} as TemplateSet;
  for (const kind of TEMPLATE_KINDS) {
    const triple = { sources: {} } as TemplateTriple;
    for (const { part, ext, mode } of TEMPLATE_PARTS) {
      const file = dir === undefined ? undefined : join(dir, `${kind}.${ext}`);
      let source = BUILT_IN[kind][part];
      let name = `built-in ${kind}.${ext}`;
      if (file !== undefined && existsSync(file)) {
        try {
          source = readFileSync(file, 'utf8');
        } catch (err) {
          throw new ConfigError('notices.templates_dir', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
        }
        name = file;
      }
      try {
        triple[part] = compilePart(kind, source, name, mode);
      } catch (err) {
        if (err instanceof TemplateError) throw new ConfigError('notices.templates_dir', err.message, { cause: err });
        throw err;
      }
      triple.sources[part] = name;
    }
    out[kind] = triple;
  }
  return out;
}

/** A rendered message: one-line subject, plain text and HTML. */
export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

/** The subject: one line, at most 250 characters. */
export function renderSubject(t: TemplateTriple, view: object): string {
  return t.subject.render(view).replace(/\s+/g, ' ').trim().slice(0, 250);
}

export function renderWith(t: TemplateTriple, view: object): Rendered {
  return { subject: renderSubject(t, view), text: t.text.render(view), html: t.html.render(view) };
}
