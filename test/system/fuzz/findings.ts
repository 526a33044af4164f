// What the fuzz run saw: every request counted by route and status class, and every violation grouped by cause
// (its signature) with how often it happened and the smallest request that showed it, written as a request
// one can send again.
import type { RawRequest } from './raw-http.js';

export type StatusClass = '2xx' | '3xx' | '4xx' | '5xx' | 'none';

export interface Witness {
  route: string;
  who: string;
  request: RawRequest;
  notes: string[];
  /** What was wrong with the answer (status, body, the controller's log line). */
  detail: string;
}

export interface Finding {
  signature: string;
  count: number;
  witness: Witness;
  /** Bytes of the witness request (the smallest one is kept). */
  size: number;
}

export function sizeOf(r: RawRequest): number {
  return r.target.length + (r.body?.length ?? 0) + r.headers.reduce((n, [k, v]) => n + k.length + v.length, 0);
}

export class Findings {
  readonly counts = new Map<string, Record<StatusClass, number>>();
  readonly findings = new Map<string, Finding>();
  total = 0;

  count(route: string, status: number | undefined): void {
    const c = this.counts.get(route) ?? { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, none: 0 };
    const cls: StatusClass = status === undefined ? 'none' : status >= 500 ? '5xx' : status >= 400 ? '4xx' : status >= 300 ? '3xx' : '2xx';
    c[cls]++;
    this.counts.set(route, c);
    this.total++;
  }

  add(signature: string, witness: Witness): void {
    const size = sizeOf(witness.request);
    const f = this.findings.get(signature);
    if (!f) this.findings.set(signature, { signature, count: 1, witness, size });
    else {
      f.count++;
      if (size < f.size) {
        f.witness = witness;
        f.size = size;
      }
    }
  }

  get violations(): number {
    let n = 0;
    for (const f of this.findings.values()) n += f.count;
    return n;
  }

  /** Requests per route and status class, as a table. */
  table(): string {
    const rows = [...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b));
    const head = `${'route'.padEnd(44)} ${['2xx', '3xx', '4xx', '5xx', 'none', 'total'].map((h) => h.padStart(6)).join(' ')}`;
    const sum: Record<StatusClass, number> = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, none: 0 };
    const lines = rows.map(([route, c]) => {
      for (const k of Object.keys(sum) as StatusClass[]) sum[k] += c[k];
      const total = c['2xx'] + c['3xx'] + c['4xx'] + c['5xx'] + c.none;
      return `${route.padEnd(44)} ${[c['2xx'], c['3xx'], c['4xx'], c['5xx'], c.none, total].map((n) => String(n).padStart(6)).join(' ')}`;
    });
    const all = `${'all'.padEnd(44)} ${[sum['2xx'], sum['3xx'], sum['4xx'], sum['5xx'], sum.none, this.total].map((n) => String(n).padStart(6)).join(' ')}`;
    return [head, ...lines, all].join('\n');
  }

  /** Every finding with its smallest witness. */
  report(): string {
    const list = [...this.findings.values()].sort((a, b) => a.signature.localeCompare(b.signature));
    if (!list.length) return 'no findings';
    return list.map((f) => `- ${f.signature}  (x${f.count})\n${indent(render(f.witness), '    ')}`).join('\n');
  }

  toJSON(): unknown {
    return {
      total: this.total,
      counts: Object.fromEntries(this.counts),
      findings: [...this.findings.values()].map((f) => ({
        signature: f.signature,
        count: f.count,
        route: f.witness.route,
        who: f.witness.who,
        notes: f.witness.notes,
        detail: f.witness.detail,
        request: renderRequest(f.witness),
        // The request itself, to send again (bodies over 256 KiB cut; latin1 keeps every byte of the target).
        raw: { method: f.witness.request.method, target: f.witness.request.target.slice(0, 65_536), headers: f.witness.request.headers.filter(([k]) => k.toLowerCase() !== 'authorization'), body: f.witness.request.body?.subarray(0, 262_144).toString('latin1') },
      })),
    };
  }
}

function indent(text: string, by: string): string {
  return text
    .split('\n')
    .map((l) => by + l)
    .join('\n');
}

/** A body or target for reading: escaped where not printable, cut in the middle when long. */
export function printable(text: string, max = 400): string {
  const shown = JSON.stringify(text).slice(1, -1);
  return shown.length <= max ? shown : `${shown.slice(0, max / 2)} ...(${text.length} chars)... ${shown.slice(-max / 4)}`;
}

export function renderRequest(w: Witness): string {
  const r = w.request;
  const ct = r.headers.find(([k]) => k.toLowerCase() === 'content-type');
  const others = r.headers.filter(([k]) => !['content-type', 'authorization'].includes(k.toLowerCase()));
  const auth = r.headers.find(([k]) => k.toLowerCase() === 'authorization');
  const authNote = auth && w.who === 'none' ? ` authorization: ${printable(auth[1], 60)}` : '';
  const lines = [`${r.method} ${printable(r.target, 300)}  [token: ${w.who}${authNote}]${ct ? `  content-type: ${printable(ct[1], 80)}` : ''}${others.map(([k, v]) => `  ${k}: ${printable(v, 60)}`).join('')}`];
  if (r.body !== undefined) {
    const text = r.body.toString('utf8');
    const lossy = !Buffer.from(text, 'utf8').equals(r.body);
    lines.push(`body (${r.body.length} bytes${lossy ? ', invalid UTF-8 shown as U+FFFD' : ''}): ${printable(text)}`);
  }
  return lines.join('\n');
}

function render(w: Witness): string {
  return `${renderRequest(w)}\nnotes: ${w.notes.join(', ') || '-'}\nanswer: ${w.detail}`;
}

/** A message without what varies between instances of one cause (numbers, quoted names, ids). */
export function normalize(message: string): string {
  return message
    .replace(/"[^"]*"/g, '"…"')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\b[0-9a-f]{16,}\b/g, 'H')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .slice(0, 160);
}
