import { describe, expect, it } from 'vitest';
import { accrueDebt, accrueReport, decayedDebt, hostFairness, hostLedgerOf, jainIndex, LEDGER_RESOURCES, storedDebt, tenantShares, type HostCapacity, type LedgerResource, type LedgerShares, type TenantUsage } from '../../../controller/fairness.js';
import { dequantize, HOST_INDEX, HOST_SCALE, HOST_WIDTH, quantize, TENANT_INDEX, TENANT_SCALE, TENANT_WIDTH } from '../../../controller/history/catalog.js';

const GiB = 1024 ** 3;
// The constructed host: 4 cores (400 %), 16 GiB. Hand-computed:
//   A: cpu 200/400 = 0.5,   memory 2/16 = 0.125,  weight 1 -> dominant 0.5
//   B: cpu 50/400  = 0.125, memory 8/16 = 0.5,    weight 2 -> dominant 0.25
//   C: cpu 20/400  = 0.05,  memory 1/16 = 0.0625, weight 1 -> dominant 0.0625
//   fair share f = 1 / (1 + 2 + 1) = 0.25
//   Jain = (0.5 + 0.25 + 0.0625)^2 / (3 * (0.25 + 0.0625 + 0.00390625)) = (169/256) / (243/256) = 169/243
const host: HostCapacity = { cores: 4, memoryBytes: 16 * GiB };
const A: TenantUsage = { cpuPercent: 200, memoryBytes: 2 * GiB, weight: 1 };
const B: TenantUsage = { cpuPercent: 50, memoryBytes: 8 * GiB, weight: 2 };
const C: TenantUsage = { cpuPercent: 20, memoryBytes: 1 * GiB, weight: 1 };

describe('fairness: shares, dominant shares, fair share, Jain', () => {
  it('matches the hand-computed values for three tenants', () => {
    const f = hostFairness(host, [A, B, C]);
    expect(f.tenants.map((t) => [t.cpu, t.memory, t.io])).toEqual([
      [0.5, 0.125, undefined],
      [0.125, 0.5, undefined],
      [0.05, 0.0625, undefined],
    ]);
    expect(f.tenants.map((t) => t.dominant)).toEqual([0.5, 0.25, 0.0625]);
    expect(f.tenants.map((t) => t.max)).toEqual([0.5, 0.5, 0.0625]);
    expect(f.fair).toBe(0.25);
    expect(f.active).toBe(3);
    expect(f.jain).toBeCloseTo(169 / 243, 12);
  });

  it('counts io against the configured capacity, as the largest of bytes and operations', () => {
    const io = { read_bps: 100e6, write_bps: 50e6, iops: 1000 };
    const t = tenantShares({ ...host, io }, { cpuPercent: 4, memoryBytes: 0, ioReadBps: 10e6, ioWriteBps: 40e6, ioReadIops: 100, ioWriteIops: 200, weight: 1 });
    // read 0.1, write 0.8, ops 300/1000 = 0.3 -> io 0.8, the dominant share
    expect(t.io).toBeCloseTo(0.8, 12);
    expect(t.dominant).toBeCloseTo(0.8, 12);
    // without a capacity io is no share at all
    expect(tenantShares(host, { cpuPercent: 4, ioWriteBps: 40e6, weight: 1 }).io).toBeUndefined();
  });

  it('leaves idle tenants out of the fair share and of Jain', () => {
    const idle: TenantUsage = { cpuPercent: 0.1, memoryBytes: 1024, weight: 1 }; // 0.00025 < 0.001
    const f = hostFairness(host, [A, B, idle]);
    expect(f.tenants[2]!.active).toBe(false);
    expect(f.fair).toBeCloseTo(1 / 3, 12);
    // Jain over 0.5 and 0.25: 0.5625 / (2 * 0.3125) = 0.9
    expect(f.jain).toBeCloseTo(0.9, 12);
  });

  it('has no fair share and no index when nobody is active; weight 1 when unknown or invalid', () => {
    const f = hostFairness(host, [{ weight: 1 }, { cpuPercent: 0, weight: 3 }]);
    expect(f.fair).toBeUndefined();
    expect(f.jain).toBeUndefined();
    expect(tenantShares(host, { cpuPercent: 200, weight: 0 }).dominant).toBe(0.5);
    expect(jainIndex([0.2, 0.2, 0.2])).toBe(1);
    expect(jainIndex([1, 0, 0, 0])).toBe(0.25);
  });
});

describe('fairness: bandwidth, inodes and API calls', () => {
  // The constructed host again, with a 125 MB/s link (1 Gbit/s), 1,000,000 inodes on the homes' filesystems and
  // an API capacity of 6,000 calls/min. Each row: usage -> the three shares, the dominant share, active.
  const web: HostCapacity = { ...host, linkBps: 125e6, inodes: 1e6, apiPerMinute: 6000 };
  const rows: Array<[string, TenantUsage, [number | undefined, number | undefined, number | undefined], number, boolean]> = [
    // tx 50 MB/s (web bytes included), rx 10 MB/s: the busier direction, 0.4
    ['sending', { cpuPercent: 4, bandwidthTxBps: 50e6, bandwidthRxBps: 10e6, weight: 1 }, [0.4, undefined, undefined], 0.4, true],
    // receiving more than sending: rx 100 MB/s -> 0.8, over weight 2 -> 0.4
    ['receiving', { bandwidthTxBps: 1e6, bandwidthRxBps: 100e6, weight: 2 }, [0.8, undefined, undefined], 0.4, true],
    // 3,000 calls/min of 6,000 -> 0.5
    ['api', { apiPerMinute: 3000, weight: 1 }, [undefined, undefined, 0.5], 0.5, true],
    // 300,000 inodes -> 0.3 counts in the dominant share of a tenant active by cpu (0.01)...
    ['files and cpu', { cpuPercent: 4, inodes: 300_000, weight: 1 }, [undefined, 0.3, undefined], 0.3, true],
    // ... but never makes one active alone: held, not used
    ['files only', { inodes: 300_000, weight: 1 }, [undefined, 0.3, undefined], 0.3, false],
    // 1 API call/min (1/6000 < 0.001) and 100 KB/s (0.0008): idle
    ['idle', { apiPerMinute: 1, bandwidthTxBps: 100e3, weight: 1 }, [0.0008, undefined, 1 / 6000], 0.0008, false],
  ];
  it.each(rows)('%s', (_name, usage, [bandwidth, inodes, api], dominant, active) => {
    const t = tenantShares(web, usage);
    const close = (x: number | undefined) => (x === undefined ? undefined : expect.closeTo(x, 12));
    expect([t.bandwidth, t.inodes, t.api]).toEqual([close(bandwidth), close(inodes), close(api)]);
    expect(t.dominant).toBeCloseTo(dominant, 12);
    expect(t.active).toBe(active);
  });

  it('leaves each out without its capacity (no link speed, no inode count of the filesystem, no API capacity)', () => {
    const t = tenantShares(host, { cpuPercent: 4, bandwidthTxBps: 50e6, inodes: 300_000, apiPerMinute: 3000, weight: 1 });
    expect([t.bandwidth, t.inodes, t.api]).toEqual([undefined, undefined, undefined]);
    expect(t.dominant).toBeCloseTo(0.01, 12);
  });

  it('a tenant holding files only neither dilutes the fair share nor counts in Jain', () => {
    const f = hostFairness(web, [A, { inodes: 900_000, weight: 1 }]);
    expect(f.active).toBe(1);
    expect(f.fair).toBe(1);
    expect(f.tenants[1]!.dominant).toBeCloseTo(0.9, 12);
  });
});

describe('fairness debt', () => {
  const H = 24 * 3_600_000;

  it('adds (dominant - fair) * interval in share-hours, credit for the modest', () => {
    const t0 = Date.UTC(2025, 0, 1);
    expect(accrueDebt(undefined, t0, 5, 0.5, 0.25, true, H)).toEqual({ debt: (0.25 * 5) / 3600, at: t0 });
    expect(accrueDebt(undefined, t0, 5, 0.0625, 0.25, true, H).debt).toBeCloseTo((-0.1875 * 5) / 3600, 15);
    // an inactive tenant adds nothing
    expect(accrueDebt({ debt: 1, at: t0 }, t0, 5, 0.0005, 0.25, false, H)).toEqual({ debt: 1, at: t0 });
  });

  it('halves over one half-life', () => {
    const t0 = Date.UTC(2025, 0, 1);
    expect(decayedDebt({ debt: 3, at: t0 }, t0 + H, H)).toBeCloseTo(1.5, 12);
    expect(decayedDebt({ debt: 3, at: t0 }, t0 + 2 * H, H)).toBeCloseTo(0.75, 12);
    // decay never runs backwards
    expect(decayedDebt({ debt: 3, at: t0 }, t0 - H, H)).toBe(3);
  });

  it('equals the closed form after an hour of steady over-use, then a day of silence', () => {
    // 720 intervals of 5 s, tenant A every time: term = 0.25 * 5 / 3600, each earlier term decayed by
    // r = 2^(-5 s / 24 h) per interval: debt = term * (1 - r^720) / (1 - r), then halved by a day's decay.
    const t0 = Date.UTC(2025, 0, 1);
    let state = undefined as ReturnType<typeof accrueDebt> | undefined;
    for (let k = 0; k < 720; k++) state = accrueDebt(state, t0 + k * 5000, 5, 0.5, 0.25, true, H);
    const term = (0.25 * 5) / 3600;
    const r = 2 ** (-5 / 86400);
    const expected = (term * (1 - r ** 720)) / (1 - r);
    expect(state!.debt).toBeCloseTo(expected, 12);
    expect(expected).toBeCloseTo(0.2464293, 6); // just under 0.25 share-hours: an hour at 0.25 above the fair share, decaying
    expect(decayedDebt(state!, state!.at + H, H)).toBeCloseTo(expected / 2, 12);
  });

  it('gives the same balance when a late interval arrives after a newer one', () => {
    const t0 = Date.UTC(2025, 0, 1);
    const inOrder = accrueDebt(accrueDebt(undefined, t0, 5, 0.5, 0.25, true, H), t0 + 3_600_000, 5, 0.3, 0.25, true, H);
    const late = accrueDebt(accrueDebt(undefined, t0 + 3_600_000, 5, 0.3, 0.25, true, H), t0, 5, 0.5, 0.25, true, H);
    expect(late.at).toBe(inOrder.at);
    expect(late.debt).toBeCloseTo(inOrder.debt, 15);
  });
});

describe('the ledger of one report', () => {
  const HL = 24 * 3_600_000;
  const t0 = Date.UTC(2025, 0, 1);

  it('writes the hand-computed shares, fair share, Jain and debts into the vectors, in the catalog scales', () => {
    // A, B, C of the constructed host above, quantized as the store holds them (cpu x1000, bytes x1).
    const values = new Float64Array(3 * TENANT_WIDTH).fill(Number.NaN);
    const put = (k: number, cpu: number, mem: number, strays?: number) => {
      values[k * TENANT_WIDTH + TENANT_INDEX.cpu_percent] = cpu * TENANT_SCALE.cpu_percent;
      values[k * TENANT_WIDTH + TENANT_INDEX.memory_current] = mem;
      if (strays !== undefined) values[k * TENANT_WIDTH + TENANT_INDEX.strays] = strays;
    };
    put(0, 200, 2 * GiB, 2);
    put(1, 50, 8 * GiB);
    put(2, 20, 1 * GiB, 1);
    const hostValues = new Float64Array(HOST_WIDTH).fill(Number.NaN);
    const out = accrueReport(
      { values, n: 3, hostValues, capacity: host, weights: [1, 2, 1], balances: [undefined, { debt: 1, at: t0 - HL }, undefined], at: t0, intervalMs: 5000 },
      { halfLifeMs: HL, activeThreshold: 0.001 },
    );
    const col = (k: number, name: keyof typeof TENANT_INDEX) => values[k * TENANT_WIDTH + TENANT_INDEX[name]]! / TENANT_SCALE[name];
    expect([0, 1, 2].map((k) => [col(k, 'share_cpu'), col(k, 'share_memory'), col(k, 'dominant_share'), col(k, 'fair_share'), col(k, 'active')])).toEqual([
      [0.5, 0.125, 0.5, 0.25, 1],
      [0.125, 0.5, 0.25, 0.25, 1],
      [0.05, 0.0625, 0.0625, 0.25, 1],
    ]);
    expect(Number.isNaN(values[TENANT_INDEX.share_io])).toBe(true); // no io capacity: no io share
    // B's balance of 1 a half-life ago halves; it used exactly its fair share, so adds nothing.
    expect(out.balances.map((b) => b.debt)).toEqual([(0.25 * 5) / 3600, 0.5, (-0.1875 * 5) / 3600]);
    expect(col(0, 'debt')).toBeCloseTo((0.25 * 5) / 3600, 9);
    expect(out.host).toEqual({
      fair: 0.25,
      jain: expect.closeTo(169 / 243, 12),
      active: 3,
      shares: { cpu: { sum: 0.675, max: 0.5 }, memory: { sum: 0.6875, max: 0.5 } }, // no io, bandwidth, inodes, api capacity
    });
    expect([hostValues[HOST_INDEX.tenants], hostValues[HOST_INDEX.active_tenants], hostValues[HOST_INDEX.strays]]).toEqual([3, 3, 3]);
    expect(hostLedgerOf(hostValues)).toEqual({ fair: 0.25, jain: expect.closeTo(169 / 243, 6), active: 3 });
    expect(storedDebt(values.subarray(TENANT_WIDTH, 2 * TENANT_WIDTH))).toBe(0.5);
  });

  it('leaves the host ledger empty when nobody is active', () => {
    const values = new Float64Array(TENANT_WIDTH).fill(Number.NaN);
    const hostValues = new Float64Array(HOST_WIDTH).fill(Number.NaN);
    const out = accrueReport({ values, n: 1, hostValues, capacity: host, weights: [1], balances: [undefined], at: t0, intervalMs: 5000 }, { halfLifeMs: HL, activeThreshold: 0.001 });
    expect(out.host).toEqual({ fair: null, jain: null, active: 0, shares: {} });
    expect(hostLedgerOf(hostValues)).toEqual({ fair: null, jain: null, active: 0 });
    expect(out.balances).toEqual([{ debt: 0, at: t0 }]);
    expect(storedDebt(new Float64Array(TENANT_WIDTH).fill(Number.NaN))).toBeUndefined();
  });

  it('writes what tenantShares, hostFairness and accrueDebt compute, to the bit (random reports with gaps, io, odd weights)', () => {
    const TI = TENANT_INDEX;
    const TS = TENANT_SCALE;
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const maybe = (v: number) => (rnd() < 0.15 ? Number.NaN : v);
    for (let round = 0; round < 40; round++) {
      const n = 1 + Math.floor(rnd() * 30);
      const capacity: HostCapacity = {
        cores: round % 7 === 0 ? 0 : 1 + Math.floor(rnd() * 64),
        memoryBytes: round % 9 === 0 ? 1 : Math.floor(rnd() * 64 * GiB),
        io: round % 2 ? { read_bps: rnd() * 1e9, write_bps: round % 4 === 1 ? 0 : rnd() * 1e9, iops: rnd() * 1e5 } : undefined,
        linkBps: round % 3 === 0 ? undefined : round % 5 === 0 ? 0 : rnd() * 1e9,
        inodes: round % 4 === 0 ? undefined : Math.floor(rnd() * 1e8),
        apiPerMinute: round % 5 === 1 ? undefined : rnd() * 1e5,
      };
      const values = new Float64Array(n * TENANT_WIDTH).fill(Number.NaN);
      const weights: number[] = [];
      const balances: Array<{ debt: number; at: number } | undefined> = [];
      for (let k = 0; k < n; k++) {
        const o = k * TENANT_WIDTH;
        const idle = rnd() < 0.2;
        values[o + TI.cpu_percent] = maybe(Math.round((idle ? rnd() * 0.01 : rnd() * 6400) * TS.cpu_percent));
        values[o + TI.memory_current] = maybe(Math.round((idle ? 1 : rnd() * 64 * GiB) * TS.memory_current));
        values[o + TI.io_read_bps] = maybe(Math.round(rnd() * 2e9 * TS.io_read_bps));
        values[o + TI.io_write_bps] = maybe(Math.round(rnd() * 2e9 * TS.io_write_bps));
        values[o + TI.io_read_iops] = maybe(Math.round(rnd() * 1e5 * TS.io_read_iops));
        values[o + TI.io_write_iops] = maybe(Math.round(rnd() * 1e5 * TS.io_write_iops));
        values[o + TI.bandwidth_tx_bps] = maybe(Math.round(rnd() * 2e9 * TS.bandwidth_tx_bps));
        values[o + TI.bandwidth_rx_bps] = maybe(Math.round(rnd() * 2e9 * TS.bandwidth_rx_bps));
        values[o + TI.inodes] = maybe(Math.round((idle ? 1 : rnd() * 1e8) * TS.inodes));
        values[o + TI.api_per_minute] = maybe(Math.round((idle ? rnd() : rnd() * 1e5) * TS.api_per_minute));
        values[o + TI.strays] = maybe(Math.floor(rnd() * 5));
        weights.push([1, 2, 0.5, 0, -1, Number.NaN, 1e-9, 1e9][Math.floor(rnd() * 8)]!);
        balances.push(rnd() < 0.3 ? undefined : { debt: rnd() * 10 - 5, at: t0 - Math.floor(rnd() * 2 * HL) + (rnd() < 0.2 ? HL : 0) });
      }
      const opts = { halfLifeMs: HL, activeThreshold: 0.001 };
      // The reference: the object-per-tenant functions above.
      const expected = values.slice();
      const usages: TenantUsage[] = Array.from({ length: n }, (_, k) => {
        const o = k * TENANT_WIDTH;
        return {
          cpuPercent: dequantize(values[o + TI.cpu_percent]!, TS.cpu_percent),
          memoryBytes: dequantize(values[o + TI.memory_current]!, TS.memory_current),
          ioReadBps: dequantize(values[o + TI.io_read_bps]!, TS.io_read_bps),
          ioWriteBps: dequantize(values[o + TI.io_write_bps]!, TS.io_write_bps),
          ioReadIops: dequantize(values[o + TI.io_read_iops]!, TS.io_read_iops),
          ioWriteIops: dequantize(values[o + TI.io_write_iops]!, TS.io_write_iops),
          bandwidthTxBps: dequantize(values[o + TI.bandwidth_tx_bps]!, TS.bandwidth_tx_bps),
          bandwidthRxBps: dequantize(values[o + TI.bandwidth_rx_bps]!, TS.bandwidth_rx_bps),
          inodes: dequantize(values[o + TI.inodes]!, TS.inodes),
          apiPerMinute: dequantize(values[o + TI.api_per_minute]!, TS.api_per_minute),
          weight: weights[k]!,
        };
      });
      const f = hostFairness(capacity, usages, opts.activeThreshold);
      let strays = 0;
      const expectedBalances = f.tenants.map((sh, k) => {
        const o = k * TENANT_WIDTH;
        expected[o + TI.share_cpu] = quantize(sh.cpu, TS.share_cpu);
        expected[o + TI.share_memory] = quantize(sh.memory, TS.share_memory);
        expected[o + TI.share_io] = quantize(sh.io, TS.share_io);
        expected[o + TI.share_bandwidth] = quantize(sh.bandwidth, TS.share_bandwidth);
        expected[o + TI.share_inodes] = quantize(sh.inodes, TS.share_inodes);
        expected[o + TI.share_api] = quantize(sh.api, TS.share_api);
        expected[o + TI.dominant_share] = quantize(sh.dominant, TS.dominant_share);
        expected[o + TI.fair_share] = quantize(f.fair, TS.fair_share);
        expected[o + TI.active] = sh.active ? 1 : 0;
        const b = accrueDebt(balances[k], t0, 5, sh.dominant, f.fair, sh.active, HL);
        expected[o + TI.debt] = quantize(b.debt, TS.debt);
        if (!Number.isNaN(expected[o + TI.strays]!)) strays += expected[o + TI.strays]!;
        return b;
      });
      const hostValues = new Float64Array(HOST_WIDTH).fill(Number.NaN);
      const out = accrueReport({ values, n, hostValues, capacity, weights, balances, at: t0, intervalMs: 5000 }, opts);
      expect(Array.from(values)).toEqual(Array.from(expected));
      expect(out.balances).toEqual(expectedBalances);
      expect(out.host).toEqual({ fair: f.fair ?? null, jain: f.jain ?? null, active: f.active, shares: expectedShares(f.tenants) });
      expect([hostValues[HOST_INDEX.tenants], hostValues[HOST_INDEX.active_tenants], hostValues[HOST_INDEX.fair_share], hostValues[HOST_INDEX.jain], hostValues[HOST_INDEX.strays]]).toEqual([
        n,
        f.active,
        quantize(f.fair, HOST_SCALE.fair_share),
        quantize(f.jain, HOST_SCALE.jain),
        strays,
      ]);
    }
  });
});

/** The per-resource sum and maximum of the tenants' shares, as accrueReport reports them for a host. */
function expectedShares(tenants: ReadonlyArray<Record<LedgerResource, number | undefined>>): LedgerShares {
  const out: LedgerShares = {};
  for (const r of LEDGER_RESOURCES) {
    const xs = tenants.map((t) => t[r]).filter((x): x is number => x !== undefined);
    if (xs.length) out[r] = { sum: xs.reduce((a, b) => a + b, 0), max: Math.max(...xs) };
  }
  return out;
}
