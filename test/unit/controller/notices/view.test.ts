// What notices say, for every kind of event the agent makes (its own evaluate() and applyManual()), rendered
// with the built-in templates: subject with server, resource and action; what was measured, against what,
// over which window, contention, what was done and until when, top processes, hints, usage and whom to
// contact; administrators' actions quote their reason; HTML escapes what a tenant controls.
import { describe, expect, it } from 'vitest';
import { loadTemplates, renderWith } from '../../../../controller/notices/templates.js';
import { classify, digestView, formatValue, noticeView, type ViewContext } from '../../../../controller/notices/view.js';
import type { StoredEvent } from '../../../../shared/wire/api.js';
import { ladderEvents, manualEvents, SCRIPT_COMMAND, stored } from './events.js';

const templates = loadTemplates();
const ctx: ViewContext = { support: { email: 'support@example.com', url: 'https://example.com/help' }, usageUrl: undefined, usageCommand: 'hostwardenctl usage {tenant} --since 24h', intervalMs: 12 * 3_600_000 };
const ladder = ladderEvents().map((e) => stored(e));
const byType = (type: string, level?: number) => ladder.find((e) => e.type === type && (level === undefined || e.level === level))!;

function render(ev: StoredEvent, maxLevel = ev.level, c: ViewContext = ctx) {
  const cls = classify(ev, maxLevel);
  return { cls, ...renderWith(templates.notice, noticeView(ev, { host: ev.host, agent_incident: ev.incident }, cls, c, maxLevel)) };
}

describe('which events are told, and how', () => {
  it('the agent ladder is notice, throttle 1, throttle 2, quarantine, thawed, released', () => {
    expect(ladder.map((e) => [e.type, e.step, e.level])).toEqual([
      ['opened', 'notice', 0],
      ['escalated', 'throttle', 1],
      ['escalated', 'throttle', 2],
      ['escalated', 'quarantine', 3],
      ['relaxed', 'throttle', 2],
      ['released', 'release', 0],
    ]);
  });

  it.each([
    ['a notice-level opening is an informational, rate-limited warning', byType('opened'), -1, { category: 'warning', informational: true, limited: true }],
    ['a throttle is rate-limited but not opt-out-able', byType('escalated', 1), 0, { category: 'throttle', informational: false, limited: true }],
    ['a quarantine is never held back', byType('escalated', 3), 2, { category: 'quarantine', informational: false, limited: false }],
    ['the thaw after a quarantine (relaxed) is told like a throttle', byType('relaxed'), 3, { category: 'throttle', informational: false, limited: true }],
    ['a release after limits is never held back', byType('released'), 3, { category: 'release', informational: false, limited: false }],
    ['the release of a warning that limited nothing is informational', byType('released'), 0, { category: 'release', informational: true, limited: false }],
    ["an administrator's notice is never held back nor opted out", stored(manualEvents('notice')[0]!), -1, { category: 'warning', informational: false, limited: false }],
    ["an administrator's throttle is never held back", stored(manualEvents('throttle', { level: 2 })[0]!), -1, { category: 'throttle', informational: false, limited: false }],
  ])('%s', (_name, ev, maxLevel, expected) => {
    expect(classify(ev, maxLevel)).toEqual(expected);
  });
});

describe('notices of the automatic ladder', () => {
  it('a throttle says what was measured, against what, over which window, under which contention, and what was done', () => {
    const ev = byType('escalated', 1);
    const m = render(ev, 0);
    expect(m.subject).toBe('[web01] alice: cpu throttled (level 1)');
    const measured = formatValue(ev.explanation.measured.value, ev.explanation.measured.unit);
    expect(measured).toMatch(/^\d+(\.\d)?% of one core/);
    for (const body of [m.text, m.html]) {
      expect(body).toContain(measured);
      expect(body).toContain('averaged over 30s');
      expect(body).toContain(formatValue(ev.explanation.threshold.value, ev.explanation.threshold.unit));
      expect(body).toContain('your fair share of the server, x2 allowed while it is busy');
      expect(body).toContain('other customers waited for cpu 42% of the time (threshold 20%)');
      expect(body).toContain('Throttled (level 1): cpu limited to 75% of one core');
      expect(body).toContain('/usr/bin/php /home/alice/cron/import.php --all');
      expect(body).toContain('Heavy cron jobs');
      expect(body).toContain('Runaway PHP workers');
      expect(body).toContain('hostwardenctl usage alice --since 24h');
      expect(body).toContain('support@example.com');
      expect(body).toContain('web01/alice-cpu-');
    }
    expect(m.text).toContain(ev.explanation.summary);
    expect(m.text).toContain(`share of the server:   ${(ev.explanation.share!.tenant * 100).toFixed(1).replace(/\.0$/, '')}%`);
    expect(m.text).toMatch(/How long: as long as the use stays too high/);
    expect(m.text).not.toMatch(/\n\n\n/);
  });

  it("never names another tenant: the others' pressure is 'other customers', whoever the busiest was", () => {
    // The agent's explanation names the busiest other tenant for administrators (contention.detail) ...
    const ev = byType('escalated', 1);
    expect(ev.explanation.contention.detail).toMatch(/^3 other tenants stalled 42% of the time on cpu .*; the busiest: other\d 42%$/);
    // ... and no notice of the ladder, in either part, nor the digest of them, names one of them.
    const others = ['other1', 'other2', 'other3'];
    for (const e of ladder) {
      for (const maxLevel of [-1, 0, 1, 2, 3]) {
        const m = render(e, maxLevel);
        for (const text of [m.subject, m.text, m.html]) for (const name of others) expect(text, `${e.type} ${e.level}`).not.toContain(name);
        expect(m.text).toContain('other customers');
      }
    }
    const items = ladder.map((e) => ({ host: e.host, resource: e.resource, category: classify(e, 0).category, event_type: e.type, level: e.level, at: Date.parse(e.at), summary: e.explanation.summary }));
    const digest = renderWith(templates.digest, digestView('alice', items, Date.parse(ladder.at(-1)!.at), ctx));
    for (const text of [digest.subject, digest.text, digest.html]) for (const name of others) expect(text).not.toContain(name);
  });

  it('escapes the command line in HTML and keeps it as it is in plain text', () => {
    const m = render(byType('escalated', 1), 0);
    expect(m.html).not.toContain('<script>');
    expect(m.html).toContain('php-fpm: pool alice &lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;');
    expect(m.text).toContain(SCRIPT_COMMAND);
  });

  it('turns control characters of a command line into "?" so they cannot forge lines of the message', () => {
    const ev = byType('escalated', 1);
    const forged = { ...ev, explanation: { ...ev.explanation, top_processes: [{ pid: 7, command: 'evil\nFrom: boss\u001b[2J', cpu_percent: 1, rss_bytes: 1 }] } };
    const m = render(forged, 0);
    expect(m.text).toContain('evil?From: boss?[2J');
    expect(m.text).not.toContain('\nFrom: boss');
  });

  it.each([
    ['opened', undefined, -1, '[web01] alice: cpu use above its fair share (warning, nothing limited yet)', /Nothing has been limited yet/],
    ['escalated', 2, 1, '[web01] alice: cpu throttled (level 2)', /level 2 of 2/],
    ['escalated', 3, 2, '[web01] alice: quarantined, processes frozen (cpu)', /How long: until 2026-11-29 12:02:15 UTC/],
    ['relaxed', 2, 3, '[web01] alice: quarantine over, cpu still throttled (level 2)', /processes run again/],
    ['released', undefined, 3, '[web01] alice: cpu limits lifted', /back to its plan/],
    ['released', undefined, 0, '[web01] alice: cpu warning ended', /No limit was applied/],
  ])('%s (level %s) after level %s: %s', (type, level, maxLevel, subject, body) => {
    const m = render(byType(type, level), maxLevel);
    expect(m.subject).toBe(subject);
    expect(m.text).toMatch(body);
    expect(m.html).toContain('<!DOCTYPE html>');
    expect(m.text).toContain('Reply to this email or write to support@example.com (see also https://example.com/help)');
  });

  it('uses the configured server name and usage link', () => {
    const m = render(byType('escalated', 1), 0, { ...ctx, serverName: 'shared-7.example.net', usageUrl: 'https://panel.example.com/usage/{tenant}' });
    expect(m.subject).toBe('[shared-7.example.net] alice: cpu throttled (level 1)');
    expect(m.text).toContain('https://panel.example.com/usage/alice');
    expect(m.text).not.toContain('hostwardenctl');
    expect(m.html).toContain('<a href="https://panel.example.com/usage/alice">');
  });
});

describe("notices of an administrator's actions", () => {
  it.each([
    ['notice', '[web01] alice: notice from an administrator', /An administrator sends you this notice/],
    ['throttle', '[web01] alice: all resources throttled by an administrator (level 1)', /An administrator has throttled all resources/],
    ['quarantine', '[web01] alice: quarantined by an administrator, processes frozen (all resources)', /How long: until 2026-11-29 13:15:00 UTC/],
  ] as const)('%s says an administrator did it and quotes the reason', (action, subject, body) => {
    const ev = stored(manualEvents(action)[0]!);
    const m = render(ev, -1);
    expect(m.subject).toBe(subject);
    expect(m.text).toMatch(body);
    for (const b of [m.text, m.html]) expect(b).toContain('abuse report #42: spam sent from your account');
    expect(m.text).not.toContain('WHAT WAS MEASURED');
    expect(m.text).toContain('Read the reason above');
  });

  it('a release by an administrator lifts the limits and quotes the reason', () => {
    const [ev] = manualEvents('release');
    const m = render(stored(ev!), 2);
    expect(m.subject).toBe('[web01] alice: all resources limits lifted');
    // The release event carries the releasing action and its reason.
    expect(ev!.manual).toMatchObject({ action_id: 'm-release', reason: 'the spam has stopped' });
    for (const b of [m.text, m.html]) {
      expect(b).toContain('release of the manual throttle');
      expect(b).toContain('the spam has stopped');
    }
  });
});

describe('digest', () => {
  it('groups what was held back by resource and step, with counts and times', () => {
    const t0 = Date.UTC(2026, 10, 29, 12, 0, 0);
    const items = [
      ...Array.from({ length: 24 }, (_, i) => ({ host: 'web01', resource: 'cpu', category: 'warning', event_type: 'opened', level: 0, at: t0 + i * 150_000, summary: `warning ${i}` })),
      ...Array.from({ length: 24 }, (_, i) => ({ host: 'web01', resource: 'cpu', category: 'throttle', event_type: 'escalated', level: 1, at: t0 + i * 150_000 + 10_000, summary: `throttle ${i}` })),
      { host: 'web01', resource: 'cpu', category: 'throttle', event_type: 'relaxed', level: 2, at: t0 + 600_000, summary: 'thawed' },
    ];
    const view = digestView('alice', items, t0 + 12 * 3_600_000, ctx);
    expect(view.count).toBe(49);
    expect(view.groups.map((g) => [g.resource, g.what, g.count, g.first, g.last, g.summary])).toEqual([
      ['cpu', 'warnings', 24, '2026-11-29 12:00:00 UTC', '2026-11-29 12:57:30 UTC', 'warning 23'],
      ['cpu', 'throttle level 1', 24, '2026-11-29 12:00:10 UTC', '2026-11-29 12:57:40 UTC', 'throttle 23'],
      ['cpu', 'quarantine ended, still throttled', 1, '2026-11-29 12:10:00 UTC', '2026-11-29 12:10:00 UTC', 'thawed'],
    ]);
    const m = renderWith(templates.digest, view);
    expect(m.subject).toBe('[web01] alice: 49 notices held back since 2026-11-29 12:00:00 UTC');
    expect(m.text).toContain('These 49 notices about your account alice on web01 were held back between 2026-11-29 12:00:00 UTC and 2026-11-30 00:00:00 UTC');
    expect(m.text).toContain('cpu       warnings              x24   2026-11-29 12:00:00 UTC .. 2026-11-29 12:57:30 UTC');
    expect(m.html).toContain('<td style="padding:2px 12px 2px 0;vertical-align:top">throttle level 1</td>');
  });
});
