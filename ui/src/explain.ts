// An incident's explanation in full (admin) or in plain words (tenant: never the contention detail, which
// names other tenants; the tenant API leaves it out too).
import { dl, h, type Child } from './dom.js';
import { bytes, duration, inUnit, num, pct } from './format.js';
import type { Explanation } from './wire.js';

const KIND: Record<string, string> = { plan_cap: 'the plan cap', fair_share: 'the fair share', manual: 'set by an admin', limit: 'a limit' };

export function explanation(e: Explanation, opts: { admin: boolean }): HTMLElement {
  const pairs: Array<[string, Child | Child[]]> = [
    ['What happened', e.summary],
    ['Measured', `${inUnit(e.measured.value, e.measured.unit)}${e.window_seconds > 0 ? ` over ${duration(e.window_seconds)}` : ''}`],
    // A manual action has no measured threshold (its value is 0): who set it says it all.
    ['Threshold', e.threshold.kind === 'manual' ? KIND.manual! : `${inUnit(e.threshold.value, e.threshold.unit)} (${Object.hasOwn(KIND, e.threshold.kind) ? KIND[e.threshold.kind] : e.threshold.kind})`],
  ];
  if (e.share) {
    pairs.push([
      'Share of the server',
      `${pct(e.share.tenant * 100)} used; fair share ${pct(e.share.fair * 100)}; dominant share ${pct(e.share.dominant * 100)} (plan weight ${num(e.share.weight, 2)}${e.share.factor ? `, counts as too much above ${num(e.share.factor, 2)}× the fair share` : ''})`,
    ]);
  }
  const signals = e.contention.signals.map((s) => `${s.resource} ${s.metric} ${num(s.value, 2)} (threshold ${num(s.threshold, 2)})`);
  pairs.push([
    opts.admin ? 'Contention' : 'Was the server busy',
    [
      e.contention.contended ? (opts.admin ? 'yes' : 'yes: other customers were slowed down') : 'no',
      signals.length ? `: ${signals.join('; ')}` : '',
      opts.admin && e.contention.detail ? h('div', { class: 'detail' }, `Whose pressure: ${e.contention.detail}`) : null,
    ],
  ]);
  pairs.push(['What was done', e.action]);
  pairs.push(['What would have avoided it', e.avoid]);
  if (e.limits && Object.keys(e.limits).length) pairs.push(['Limits applied', Object.entries(e.limits).map(([k, v]) => `${k}: ${v}`).join(', ')]);
  if (e.fairness) pairs.push(['Fairness', e.fairness.text]);
  if (opts.admin) pairs.push(['Rule', h('code', {}, e.rule)]);
  const box = h('div', { class: 'explanation' }, dl(pairs));
  if (e.top_processes.length) {
    box.appendChild(h('h3', {}, 'Top processes'));
    box.appendChild(
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'PID'), h('th', {}, 'Command'), h('th', { class: 'num' }, 'CPU'), h('th', { class: 'num' }, 'Memory'), opts.admin ? h('th', {}, 'User') : null)),
        h(
          'tbody',
          {},
          e.top_processes.map((p) =>
            h('tr', {}, h('td', { class: 'num' }, p.pid), h('td', {}, h('code', {}, p.command)), h('td', { class: 'num' }, pct(p.cpu_percent)), h('td', { class: 'num' }, bytes(p.rss_bytes)), opts.admin ? h('td', {}, p.user ?? '') : null),
          ),
        ),
      ),
    );
  }
  if (e.files?.length) box.appendChild(h('ul', { class: 'files' }, e.files.map((f) => h('li', {}, h('code', {}, f.path), f.signature ? ` (${f.signature})` : ''))));
  return box;
}

export function stepText(step: string, level: number): string {
  if (step === 'throttle') return `throttle level ${level}`;
  if (step === 'quarantine') return 'quarantine (frozen)';
  return step;
}
