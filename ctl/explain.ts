// An incident's explanation in words: what happened, measured against what threshold, the tenant's share
// against its fair share, the contention evidence, the top processes, what was done and until when, what
// would have avoided it, and the history of its events.
import type { IncidentDetail, StoredEvent } from '../shared/wire/api.js';
import type { Explanation } from '../shared/wire/agent.js';
import { formatDuration } from '../shared/units.js';
import type { View } from './command.js';
import { formatNumber, formatPercent, formatShare, formatSize, formatTime, formatUnitValue, formatWhen, NONE, plural } from './format.js';
import { indent, renderFields, renderTable, wrap } from './table.js';

const THRESHOLD_KIND: Record<Explanation['threshold']['kind'], string> = {
  plan_cap: "the plan's cap",
  fair_share: 'the fair-share threshold',
  manual: 'a limit set by hand',
  limit: 'the limit',
};

/** "throttle level 2", "notice", "quarantine"; `short`: "throttle 2" for tables. */
export function stepWords(step: string, level: number, short = false): string {
  return step === 'throttle' ? `throttle ${short ? '' : 'level '}${level}` : step;
}

function signalWords(s: Explanation['contention']['signals'][number]): string {
  if (s.metric === 'listen_queue') return `web server accept queue ${formatNumber(s.value)} connection(s) waiting (saturated from ${formatNumber(s.threshold)})`;
  if (s.metric === 'saturation') return `${s.resource} saturation ${formatShare(s.value)} (threshold ${formatShare(s.threshold)})`;
  if (s.metric === 'others_psi_some_avg10') return `other tenants' ${s.resource} pressure ${formatPercent(s.value)} (some avg10, weighted by their activity; threshold ${formatPercent(s.threshold)})`;
  if (s.metric === 'services_psi_some_avg10') return `system services' ${s.resource} pressure ${formatPercent(s.value)} (some avg10; threshold ${formatPercent(s.threshold)})`;
  if (s.metric.startsWith('psi_')) {
    const kind = s.metric.replace(/^psi_/, '').replace(/_/g, ' ');
    return `${s.resource} pressure ${formatPercent(s.value)} (${kind}; threshold ${formatPercent(s.threshold)})`;
  }
  return `${s.resource} ${s.metric} ${formatNumber(s.value)} (threshold ${formatNumber(s.threshold)})`;
}

function section(title: string, body: string): string {
  return `\n${title}\n${indent(body.endsWith('\n') ? body : `${body}\n`)}`;
}

function eventNote(e: StoredEvent): string {
  if (e.manual) return `by ${e.manual.by ?? 'an administrator'}: ${e.manual.reason}`;
  return e.explanation.summary;
}

export function renderExplain(i: IncidentDetail, view: View): string {
  const x = i.explanation;
  const textWidth = Math.max(40, view.width - 2);
  const manualReason = [...i.history].reverse().find((e) => e.manual)?.manual;
  let out = `Incident ${i.id}: ${i.tenant} on ${i.host}, ${i.resource}, rule ${i.rule}${i.manual ? ' (manual)' : ''}\n`;
  out += renderFields([
    ['state', i.state === 'open' ? `open, ${stepWords(i.step, i.level)}` : `released ${formatWhen(i.released_at, view.now)}`],
    ['opened', formatWhen(i.opened_at, view.now)],
    ['updated', formatWhen(i.updated_at, view.now)],
    ['until', i.state === 'open' && i.until ? formatWhen(i.until, view.now) : undefined],
    ['agent id', i.agent_incident],
  ]);

  out += section('What happened', wrap(x.summary, textWidth));

  if (x.threshold.kind === 'manual' || x.rule === 'manual') {
    const reason = manualReason ? `"${manualReason.reason}"${manualReason.by ? ` (by ${manualReason.by})` : ''}` : 'no reason recorded';
    out += section('Why', wrap(`An administrator applied this by hand: ${reason}.`, textWidth));
  } else {
    const ratio = x.threshold.value > 0 ? `, ${formatNumber(x.measured.value / x.threshold.value, 1)} x the threshold` : '';
    out += section(
      'Measured against the threshold',
      renderFields([
        ['measured', `${formatUnitValue(x.measured.value, x.measured.unit)}${x.window_seconds > 0 ? ` on average over ${formatDuration(x.window_seconds * 1000)}` : ''}`],
        ['threshold', `${formatUnitValue(x.threshold.value, x.threshold.unit)}, ${THRESHOLD_KIND[x.threshold.kind]}${ratio}`],
      ]),
    );
  }

  if (x.share) {
    const s = x.share;
    const allowed = s.factor !== undefined ? `; up to ${formatNumber(s.factor)} x that (${formatShare(s.fair * s.factor)}) is allowed while the host is contended` : '';
    out += section(
      'Share of the host',
      wrap(
        `${i.tenant} took ${formatShare(s.tenant)} of the tenants' ${x.resource} use, against a fair share of ${formatShare(s.fair)} (plan weight ${formatNumber(s.weight)})${allowed}. ` +
          `Its dominant share (largest share / weight) was ${formatShare(s.dominant)}.`,
        textWidth,
      ),
    );
  }

  const signals = x.contention.signals.map(signalWords);
  if (x.contention.contended || signals.length > 0 || !i.manual) {
    // Explanations since contention is judged by the others' pressure say whose; older ones the host's.
    // The api_cap rule's contention is the web server's saturation (its accept queues), not others' pressure.
    const webServer = x.rule === 'api_cap';
    const byOthers = x.contention.signals.some((s) => s.metric === 'others_psi_some_avg10' || s.metric === 'services_psi_some_avg10');
    const contention = x.contention.contended
      ? `${webServer ? 'The web server was saturated' : byOthers ? 'Others were kept waiting' : 'The host was contended'}: ${signals.join('; ') || 'no signal recorded'}.`
      : `${webServer ? (signals.length ? 'The web server was not saturated' : "The web server's saturation could not be read (no contention signal; the plan's cap alone decides)") : byOthers ? 'Others were not kept waiting' : 'The host was not contended'}${signals.length ? `: ${signals.join('; ')}` : ''}.`;
    const who = x.contention.detail ? `\n${wrap(`Whose pressure: ${x.contention.detail}.`, textWidth)}` : '';
    out += section('Contention', wrap(contention, textWidth) + who);
  }
  if (x.fairness) out += section('Fairness', wrap(`${x.fairness.text[0]!.toUpperCase()}${x.fairness.text.slice(1)}.`, textWidth));

  if (x.top_processes.length > 0) {
    out += section(
      'Top processes at that moment',
      renderTable(
        [
          { header: 'PID', value: (p) => String(p.pid), align: 'right' },
          { header: 'CPU', value: (p) => formatPercent(p.cpu_percent), align: 'right' },
          { header: 'RSS', value: (p) => formatSize(p.rss_bytes), align: 'right' },
          { header: 'USER', value: (p) => p.user ?? NONE },
          { header: 'COMMAND', value: (p) => p.command, flex: true },
        ],
        x.top_processes,
        textWidth,
      ),
    );
  }

  let done = wrap(x.action, textWidth);
  if (i.state === 'open' && i.until) done += `\nUntil ${formatWhen(i.until, view.now)}.`;
  if (i.state === 'released') done += `\nReleased ${formatWhen(i.released_at, view.now)}.`;
  if (x.limits && Object.keys(x.limits).length > 0) done += `\nLimits: ${Object.entries(x.limits).map(([k, v]) => `${k} ${v}`).join(', ')}.`;
  out += section('What was done', done);
  out += section('What would have avoided it', wrap(x.avoid, textWidth));

  const history = i.history.map((e) => {
    const head = `${formatTime(e.at, { seconds: true })}  ${e.type.padEnd(9)}  ${stepWords(e.step, e.level)}${e.until ? `, until ${formatTime(e.until)}` : ''}`;
    return `${head}\n    ${wrap(eventNote(e), textWidth - 6, '    ')}`;
  });
  out += section(`History (${plural(i.history.length, 'event')})`, history.length ? history.join('\n') : 'none stored');
  return out;
}
