// evaluate() for N tenants in one tick (goal: 3000 tenants under 20 ms). The window holds 7 observations
// (30 s at 5 s); a tenth of the tenants are busy and the host is contended, so the ladder does real work.
// Baseline in the same run: a plain pass that only averages the same window (the floor any policy pays).
import { fileURLToPath } from 'node:url';
import { Section } from '../shared/config.js';
import type { TenantSample } from '../shared/wire/agent.js';
import { readPolicyConfig } from '../agent/policy/policy-config.js';
import { evaluate } from '../agent/policy/evaluate.js';
import { emptyState, type Observation, type PolicyState, type TenantPolicy } from '../agent/policy/types.js';

export interface EvaluateBenchResult {
  tenants: number;
  medianMs: number;
  p95Ms: number;
  baselineMedianMs: number;
  ratio: number;
  decisionsPerTick: number;
}

function window(tenants: number, now: number): Observation[] {
  const out: Observation[] = [];
  for (let i = 6; i >= 0; i--) {
    const samples = new Map<string, TenantSample>();
    for (let t = 0; t < tenants; t++) {
      const busy = t % 10 === 0;
      samples.set(`t${t}`, {
        tenant: `t${t}`,
        cpu: { percent: busy ? 80 + (t % 7) : 2 + (t % 5) },
        memory: { current: (50 + (t % 200)) << 20, anon: 40 << 20, file: 10 << 20 },
        io: { read_bps: busy ? 5e6 : 1e4, write_bps: busy ? 8e6 : 2e4, read_iops: 10, write_iops: 20 },
        processes: { count: 12 },
        // Every tenant feels the contention (cgroup PSI), as on a crowded host: contention is judged from the
        // pressure of the others, so without it the ladder would never be reached.
        pressure: { cpu: { some: { avg10: busy ? 30 : 45 } }, io: { some: { avg10: busy ? 30 : 45 } }, memory: { some: { avg10: busy ? 30 : 45 } } },
      });
    }
    const psi = { some: { avg10: 45, avg60: 40, avg300: 30, total: 1 } };
    out.push({ at: now - i * 5000, host: { cores: 64, memory_bytes: 512 * 1024 ** 3, cpu_percent: 6000, pressure: { cpu: psi, io: psi, memory: psi } }, samples });
  }
  return out;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function benchEvaluate(tenants = 3000, runs = 40): EvaluateBenchResult {
  const config = readPolicyConfig(Section.root({ window: '30s', factor: 1.5, min_share: 0.005, max_tighten_per_tick: 5 }));
  const policies = new Map<string, TenantPolicy>();
  for (let t = 0; t < tenants; t++) policies.set(`t${t}`, { plan: { cpu: 400, memory: 2 << 30, weight: 1 + (t % 3) } });
  const now = 1_800_000_000_000;
  const w = window(tenants, now);
  let state: PolicyState = emptyState();
  const times: number[] = [];
  const base: number[] = [];
  let decisions = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = evaluate({ config, tenants: policies, window: w.map((o) => ({ ...o, at: o.at + i * 5000 })), state, now: now + i * 5000 });
    times.push(performance.now() - t0);
    state = out.state;
    decisions += out.decisions.length;
    // Baseline: the same window averaged per tenant, nothing else.
    const b0 = performance.now();
    const sums = new Map<string, number>();
    for (const o of w) for (const [name, s] of o.samples) sums.set(name, (sums.get(name) ?? 0) + (s.cpu?.percent ?? 0) + (s.memory?.current ?? 0) + (s.io?.write_bps ?? 0));
    base.push(performance.now() - b0);
  }
  // Skip warm-up runs.
  const sorted = times.slice(5).sort((a, b) => a - b);
  const bsorted = base.slice(5).sort((a, b) => a - b);
  const medianMs = quantile(sorted, 0.5);
  const baselineMedianMs = quantile(bsorted, 0.5);
  return { tenants, medianMs, p95Ms: quantile(sorted, 0.95), baselineMedianMs, ratio: medianMs / baselineMedianMs, decisionsPerTick: decisions / runs };
}

export function printEvaluate(r: EvaluateBenchResult): void {
  console.log(
    `evaluate(): ${r.tenants} tenants: median ${r.medianMs.toFixed(2)} ms, p95 ${r.p95Ms.toFixed(2)} ms per tick (goal < 20 ms); ` +
      `baseline (window average only) ${r.baselineMedianMs.toFixed(2)} ms, ratio ${r.ratio.toFixed(2)}x; ${r.decisionsPerTick.toFixed(1)} decisions/tick`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) printEvaluate(benchEvaluate());
