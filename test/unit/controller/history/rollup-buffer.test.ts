// One host's minutes of rollups in memory (pure): what a flush writes and when, and that a replay of the raw
// rows after a restart rebuilds the same minutes as the reports did.
import { describe, expect, it } from 'vitest';
import { HOST_WIDTH, TENANT_INDEX, TENANT_WIDTH } from '../../../../controller/history/catalog.js';
import { decodeAcc, encodeSamples, encodeVector, Writer, type Acc } from '../../../../controller/history/codec.js';
import { HostRollups, IDLE_FLUSH_MS, reportAccumulators } from '../../../../controller/history/rollup-buffer.js';
import { Bucketer, MINUTE_MS } from '../../../../controller/history/rollup.js';
import { hostSeries } from '../../../../controller/history/series.js';

const T0 = Date.UTC(2025, 5, 1, 10, 0, 0);
const HOST = hostSeries(1);

function sample(cpu: number): { values: Float64Array; host: Float64Array } {
  const values = new Float64Array(TENANT_WIDTH).fill(Number.NaN);
  values[TENANT_INDEX.cpu_percent] = cpu * 1000;
  const host = new Float64Array(HOST_WIDTH).fill(Number.NaN);
  host[0] = 400;
  return { values, host };
}

const buffer = (watermark: number | null = T0) => new HostRollups(watermark, new Writer(1024), new Writer(256));
const total = (acc: Acc) => ({ n: acc.n, count: acc.v[3 * TENANT_INDEX.cpu_percent], sum: acc.v[3 * TENANT_INDEX.cpu_percent + 1], max: acc.v[3 * TENANT_INDEX.cpu_percent + 2] });

function tenantTotal(r: HostRollups, from: number, to: number) {
  const b = new Bucketer(undefined, TENANT_WIDTH);
  r.collect(7, from, to, b);
  return total(b.total());
}

describe('the rollup buffer of a host', () => {
  it('is due after a flush interval of complete minutes; a flush plan sums minutes into hours; written moves the watermark', () => {
    const r = buffer();
    for (let k = 0; k < 15 * 12; k++) {
      const s = sample(10 + (k % 3));
      r.add(T0 + k * 5000, [7], s.values, 1, HOST, s.host);
      r.seen(T0 + k * 5000);
    }
    const now = T0 + 15 * MINUTE_MS;
    expect(r.size).toBe(15);
    expect(r.isDue(now, now, 15 * MINUTE_MS)).toBe(false); // minute 14 is the current one
    const s = sample(50);
    r.add(now, [7], s.values, 1, HOST, s.host);
    r.seen(now);
    expect(r.isDue(now, now, 15 * MINUTE_MS)).toBe(true);
    expect(r.cutFor(now, now)).toBe(now);

    const plan = r.take(r.cutFor(now, now));
    expect(plan.minutes).toHaveLength(15);
    expect(plan.rows).toHaveLength(30); // tenant and host, each minute
    const hour = plan.hours.get(T0)!.get(7)!;
    expect(total(hour)).toEqual({ n: 180, count: 180, sum: 60 * (10 + 11 + 12) * 1000, max: 12_000 });
    // The plan's rows are what collect() returns for those minutes, and nothing is dropped before `written`.
    expect(total(decodeAcc(plan.rows.find((x) => x.series === 7 && x.minute === T0)!.blob, TENANT_WIDTH))).toEqual({ n: 12, count: 12, sum: 4 * 33_000, max: 12_000 });
    expect(r.size).toBe(16);
    r.written(plan);
    expect([r.size, r.watermark]).toEqual([1, now]);
    expect(tenantTotal(r, T0, now + MINUTE_MS)).toEqual({ n: 1, count: 1, sum: 50_000, max: 50_000 });
  });

  it('writes everything once the host is idle; a report before the watermark is late', () => {
    const r = buffer();
    const s = sample(20);
    r.add(T0 + 5000, [7], s.values, 1, HOST, s.host);
    r.seen(T0 + 5000);
    expect(r.isDue(T0 + MINUTE_MS, T0 + 5000, 15 * MINUTE_MS)).toBe(false);
    const idleNow = T0 + 5000 + IDLE_FLUSH_MS;
    expect(r.isDue(idleNow, T0 + 5000, 15 * MINUTE_MS)).toBe(true);
    expect(r.cutFor(idleNow, T0 + 5000)).toBe(T0 + MINUTE_MS);
    r.written(r.take(r.cutFor(idleNow, T0 + 5000)));
    expect(r.size).toBe(0);
    expect(r.isLate(T0 + 30_000)).toBe(true);
    expect(r.isLate(T0 + MINUTE_MS)).toBe(false);
    expect(buffer(null).isLate(0)).toBe(false); // before its first report a host has nothing on disk
    expect(r.cutAll()).toBe(T0 + MINUTE_MS);
  });

  it('rebuilds the same minutes from raw rows (a restart) as from the reports', () => {
    const live = buffer();
    const replayed = buffer();
    const seen: number[] = [];
    for (let k = 0; k < 30; k++) {
      const at = T0 + k * 5000;
      const s = sample(k);
      live.add(at, [7], s.values, 1, HOST, s.host);
      live.seen(at);
      replayed.replay(at, encodeSamples([7], s.values, 1, TENANT_WIDTH), encodeVector(s.host, HOST_WIDTH), HOST, (id, row) => seen.push(id, row[TENANT_INDEX.cpu_percent]!));
    }
    replayed.closeComplete();
    expect(seen.slice(0, 4)).toEqual([7, 0, 7, 1000]);
    for (const [from, to] of [
      [T0, T0 + MINUTE_MS],
      [T0 + MINUTE_MS, T0 + 3 * MINUTE_MS],
    ]) {
      expect(tenantTotal(replayed, from!, to!)).toEqual(tenantTotal(live, from!, to!));
    }
    const acc = reportAccumulators([7], sample(5).values, 1, HOST, sample(5).host);
    expect([...acc.keys()]).toEqual([7, HOST]);
    expect(total(acc.get(7)!)).toEqual({ n: 1, count: 1, sum: 5000, max: 5000 });
  });
});
