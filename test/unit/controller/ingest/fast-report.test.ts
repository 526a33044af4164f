// The fast report scanner must agree with the reference path (JSON.parse + schema) on every input: same
// acceptance, same error message, bit-identical values. Inputs: generated valid reports (every value within
// its wire range, some at the very maximum) and mutations of them.
import { describe, expect, it } from 'vitest';
import { scanReport } from '../../../../controller/ingest/fast-report.js';
import { prepareReport, prepareSlow, type PrepareResult } from '../../../../controller/ingest/prepare.js';
import { MAX_BYTES, MAX_CPU_PERCENT, MAX_INODES, MAX_OPS, MAX_SAFE, MAX_TASKS } from '../../../../shared/wire/bounds.js';

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function numberText(r: () => number, kind: 'nonneg' | 'count' | 'percent', limit = kind === 'percent' ? 100 : MAX_BYTES): string {
  const pick = r();
  if (kind === 'count') {
    if (pick < 0.1) return '0';
    if (pick < 0.15) return '4.0'; // an integer written with a fraction
    if (pick < 0.2) return '1e3';
    if (pick < 0.25) return String(limit); // the maximum (16 digits for 2^50: converted through Number())
    return String(Math.floor(r() * Math.min(limit, 2 ** 40)));
  }
  const max = Math.min(limit, 1e12);
  if (pick < 0.08) return String(limit); // the maximum itself
  if (pick < 0.1) return '0';
  if (pick < 0.15) return '-0';
  if (pick < 0.2) return (r() * max).toExponential(3);
  if (pick < 0.25) return '0.1000000000000000055511151231257827'; // more digits than a double holds
  if (pick < 0.3) return String(Math.round(r() * max));
  return String(Math.round(r() * max * 1000) / 1000);
}

function psiLine(r: () => number): string {
  // Whole lines (host stats, older agents) or avg10 alone (what agents send for tenants now).
  if (r() < 0.5) return `{"avg10":${numberText(r, 'percent')}}`;
  return `{"avg10":${numberText(r, 'percent')},"avg60":${numberText(r, 'percent')},"avg300":${numberText(r, 'percent')},"total":${numberText(r, 'count', MAX_SAFE)}}`;
}

function sampleText(r: () => number, k: number): string {
  const parts = [`"tenant":"t${k}_a.b-${Math.floor(r() * 1e6)}"`];
  if (r() < 0.9) parts.push(`"cpu":{"percent":${numberText(r, 'nonneg', MAX_CPU_PERCENT)}}`);
  if (r() < 0.9) parts.push(`"memory":{"current":${numberText(r, 'count')},"anon":${numberText(r, 'count')},"file":${numberText(r, 'count')}}`);
  if (r() < 0.8) parts.push(`"io":{"read_bps":${numberText(r, 'nonneg')},"write_bps":${numberText(r, 'nonneg')},"read_iops":${numberText(r, 'nonneg', MAX_OPS)},"write_iops":${numberText(r, 'nonneg', MAX_OPS)}}`);
  if (r() < 0.8) parts.push(`"processes":{"count":${numberText(r, 'count', MAX_TASKS)}}`);
  if (r() < 0.3) {
    // web_tx_bps (optional) on about half of them, chosen without drawing from r (the other cases' seeds stay).
    const tx = numberText(r, 'nonneg');
    parts.push(`"bandwidth":{"tx_bps":${tx},"rx_bps":${numberText(r, 'nonneg')}${tx.length % 2 === 0 ? `,"web_tx_bps":${tx}` : ''}}`);
  }
  if (r() < 0.3) parts.push(`"inodes":{"count":${numberText(r, 'count', MAX_INODES)}}`);
  if (r() < 0.3) parts.push(`"api":{"per_minute":${numberText(r, 'nonneg', MAX_OPS)}}`);
  if (r() < 0.7) {
    const p: string[] = [];
    for (const res of ['cpu', 'memory', 'io']) if (r() < 0.8) p.push(`"${res}":{"some":${psiLine(r)}${r() < 0.7 ? `,"full":${psiLine(r)}` : ''}}`);
    parts.push(`"pressure":{${p.join(',')}}`);
  }
  if (r() < 0.3) parts.push(`"strays":${Math.floor(r() * 5)}`);
  if (r() < 0.3) parts.push(`"frozen":${r() < 0.5}`);
  if (r() < 0.3) parts.push(`"throttle_level":${Math.floor(r() * 3)}`);
  // keys in any order
  for (let i = parts.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [parts[i], parts[j]] = [parts[j]!, parts[i]!];
  }
  return `{${parts.join(',')}}`;
}

function reportText(r: () => number, n: number, ws = ''): string {
  const samples = Array.from({ length: n }, (_, k) => sampleText(r, k)).join(`,${ws}`);
  return `{${ws}"version":1,"host":"web01","seq":${1 + Math.floor(r() * 1000)},"at":"2025-06-01T12:00:00.000Z","sent_at":"2025-06-01T12:00:01Z","interval":5,${ws}"host_stats":{"cores":8,"memory_bytes":34359738368},${ws}"samples":${ws}[${ws}${samples}${ws}]${ws}}`;
}

function same(fast: PrepareResult, slow: PrepareResult): void {
  expect(fast.ok).toBe(slow.ok);
  if (!fast.ok || !slow.ok) {
    expect(fast).toEqual(slow);
    return;
  }
  const a = fast.report;
  const b = slow.report;
  expect(a.tenants).toEqual(b.tenants);
  expect(a.values.length).toBe(b.values.length);
  for (let i = 0; i < a.values.length; i++) if (!Object.is(a.values[i], b.values[i])) throw new Error(`value ${i}: fast ${a.values[i]} slow ${b.values[i]}`);
  expect([...a.hostValues]).toEqual([...b.hostValues]);
  expect({ ...a, values: null, hostValues: null, fast: null }).toEqual({ ...b, values: null, hostValues: null, fast: null });
}

describe('fast report scanner', () => {
  it('agrees with JSON.parse + schema on 300 generated valid reports, and handles them itself', () => {
    const r = rng(1);
    let handled = 0;
    for (let i = 0; i < 300; i++) {
      const text = reportText(r, 1 + Math.floor(r() * 20), i % 3 === 0 ? ' \n' : '');
      const buf = Buffer.from(text);
      const slow = prepareSlow(buf);
      expect(slow.ok, slow.ok ? '' : slow.message).toBe(true);
      const fast = prepareReport(buf);
      same(fast, slow);
      if (scanReport(buf) && fast.ok && fast.report.fast) handled++;
    }
    expect(handled).toBe(300);
  });

  // whole: accepted, nothing refused; partial: accepted with one sample refused and named (items.ts);
  // refused: the envelope is broken, the report is answered 400.
  type Outcome = 'whole' | 'partial' | 'refused';
  const mutations: Array<[string, Outcome, (s: string) => string]> = [
    ['a negative value', 'partial', (s) => s.replace(/"percent":[^,}]+/, '"percent":-1')],
    ['a PSI average above 100', 'partial', (s) => s.replace(/"avg10":[^,}]+/, '"avg10":100.5')],
    ['a fractional count', 'partial', (s) => s.replace(/"current":[^,}]+/, '"current":1.5')],
    ['a null', 'partial', (s) => s.replace(/"percent":[^,}]+/, '"percent":null')],
    ['a number as a string', 'partial', (s) => s.replace(/"percent":[^,}]+/, '"percent":"5"')],
    ['an unknown key (a newer agent: stripped)', 'whole', (s) => s.replace('"tenant":', '"gpu":{"percent":1},"tenant":')],
    ['an unknown key in a member (stripped)', 'whole', (s) => s.replace(/"cpu":\{"percent":/, '"cpu":{"steal":[1,{"x":2}],"percent":')],
    ['a missing required member', 'partial', (s) => s.replace(/"memory":\{"current":[^,}]+,/, '"memory":{')],
    ['a duplicate key', 'whole', (s) => s.replace('"tenant":', '"strays":1,"strays":2,"tenant":')],
    ['an escaped tenant name', 'whole', (s) => s.replace('"tenant":"t0_', '"tenant":"t\\u0030_')],
    ['a tenant name against the pattern', 'partial', (s) => s.replace('"tenant":"t0_', '"tenant":"-t0_')],
    ['a throttle level of 3', 'partial', (s) => s.replace(/"samples":\s*\[/, '"samples":[{"tenant":"zz","throttle_level":3},')],
    ['frozen as a number', 'partial', (s) => s.replace(/"samples":\s*\[/, '"samples":[{"tenant":"zz","frozen":1},')],
    ['a leading zero', 'refused', (s) => s.replace(/"processes":\{"count":[^,}]+/, '"processes":{"count":01')],
    ['a trailing comma', 'refused', (s) => s.replace(/\]\s*\}$/, ',]}')],
    ['truncated JSON', 'refused', (s) => s.slice(0, s.length - 7)],
    ['a huge exponent', 'partial', (s) => s.replace(/"percent":[^,}]+/, '"percent":1e400')],
    ['a cpu percent of 1e308', 'partial', (s) => s.replace(/"percent":[^,}]+/, '"percent":1e308')],
    ['a cpu percent just above its maximum', 'partial', (s) => s.replace(/"percent":[^,}]+/, `"percent":${MAX_CPU_PERCENT + 0.001}`)],
    ['memory above 2^50', 'partial', (s) => s.replace(/"samples":\s*\[/, `"samples":[{"tenant":"zz","memory":{"current":${MAX_BYTES + 1},"anon":0,"file":0}},`)],
    ['a count above 2^53', 'partial', (s) => s.replace(/"samples":\s*\[/, `"samples":[{"tenant":"zz","strays":${2 ** 53 + 2}},`)],
    ['a wrong top-level field', 'refused', (s) => s.replace('"interval":5', '"interval":"5s"')],
    ['an unknown top-level field (stripped)', 'whole', (s) => s.replace('"interval":5', '"interval":5,"extra":[1,{"a":"}"}]')],
    ['the same tenant twice', 'partial', (s) => s.replace(/"tenant":"t1_[^"]+"/, (m) => m.replace('t1_', 't0_')).replace(/"tenant":"t0_[^"]+"/g, '"tenant":"same"')],
    ['no samples at all', 'whole', (s) => s.replace(/"samples":\s*\[.*\]\s*\}$/s, '"samples":[]}')],
    ['samples not an array', 'refused', (s) => s.replace(/"samples":\s*\[.*\]\s*\}$/s, '"samples":{}}')],
    ['an empty sample', 'partial', (s) => s.replace(/"samples":\s*\[/, '"samples":[{},')],
    ['an empty pressure', 'whole', (s) => s.replace(/"samples":\s*\[/, '"samples":[{"tenant":"zz","pressure":{}},')],
    ['pressure without some', 'partial', (s) => s.replace(/"samples":\s*\[/, '"samples":[{"tenant":"zz","pressure":{"cpu":{}}},')],
  ];

  it.each(mutations)('agrees on %s (%s)', (_name, outcome, mutate) => {
    const r = rng(7);
    for (let i = 0; i < 20; i++) {
      const original = reportText(r, 3);
      const text = mutate(original);
      expect(text).not.toBe(original);
      const buf = Buffer.from(text);
      const slow = prepareSlow(buf);
      expect(slow.ok, slow.ok ? 'accepted' : slow.message).toBe(outcome !== 'refused');
      if (slow.ok) {
        const rejected = slow.report.rejected.samples;
        expect(rejected, slow.report.problems.join('; ')).toBe(outcome === 'partial' ? 1 : 0);
        expect(slow.report.problems.length).toBe(rejected);
      }
      same(prepareReport(buf), slow);
    }
  });

  it('gives up rather than guess, and the reference path then names the problem', () => {
    const text = reportText(rng(3), 2).replace(/"percent":[^,}]+/, '"percent":-1');
    expect(scanReport(Buffer.from(text))).toBeUndefined();
    const res = prepareReport(Buffer.from(text));
    expect(res.ok).toBe(true);
    if (!res.ok) return;
    expect(res.report.tenants).toHaveLength(1);
    expect(res.report.rejected).toEqual({ samples: 1, events: 0, tenants: 0 });
    expect(res.report.problems).toEqual(['samples/0/cpu/percent: must be >= 0']);
  });
});
