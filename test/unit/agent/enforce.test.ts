// The enforcer's periodic re-verification reads what the kernel holds and writes only a tenant that drifted,
// so a thousand governed tenants cost reads, not a thousand rounds of writes, every verifyEvery ticks.
// The writes themselves on a real kernel: test/system/enforcement.test.ts and test/vm/enforce.test.ts.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Enforcer, verifyEveryTicks } from '../../../agent/enforce.js';
import type { CgroupDriver } from '../../../agent/kernel/cgroup/driver.js';
import type { Limits } from '../../../agent/limits.js';
import type { Desired } from '../../../agent/policy/desired.js';

function fakeKernel() {
  const held = new Map<string, { limits: Limits; frozen: boolean }>();
  const writes: string[] = [];
  const driver = {
    setLimits: (t: string, l: Limits) => {
      writes.push(t);
      held.set(t, { limits: { ...l }, frozen: held.get(t)?.frozen ?? false });
      return l;
    },
    getLimits: (t: string) => ({ ...held.get(t)?.limits }),
    isFrozen: (t: string) => held.get(t)?.frozen ?? false,
    freeze: (t: string) => void (held.get(t)!.frozen = true),
    thaw: (t: string) => void (held.get(t)!.frozen = false),
  } as unknown as CgroupDriver;
  return { driver, held, writes };
}

/** A full set of desired limits: the given ones, the rest lifted (weight 100 is what a lifted weight reads back as). */
const lim = (l: Limits): Required<Limits> => ({ cpuPercent: null, cpuWeight: 100, memoryHigh: null, memoryMax: null, io: null, pidsMax: null, ...l });

describe('enforcer re-verification', () => {
  const desired = new Map<string, Desired>([
    ['alice', { limits: lim({ cpuPercent: 50, memoryMax: 1 << 30 }), frozen: false }],
    ['bob', { limits: lim({ cpuPercent: 100, pidsMax: 200 }), frozen: false }],
  ]);

  it('reads on verify ticks and writes only the tenant whose kernel state drifted', () => {
    const { driver, held, writes } = fakeKernel();
    const e = new Enforcer(driver, pino({ level: 'silent' }), false, 3);
    e.reconcile(desired); // tick 0: verify tick, first write of both
    expect(writes).toEqual(['alice', 'bob']);
    e.reconcile(desired);
    e.reconcile(desired);
    expect(writes).toHaveLength(2); // unchanged: nothing written
    held.get('bob')!.limits.cpuPercent = null; // someone lifted bob's cap by hand
    e.reconcile(desired); // tick 3: verify
    expect(writes).toEqual(['alice', 'bob', 'bob']);
    expect(held.get('bob')!.limits.cpuPercent).toBe(100);
  });

  it("re-verifies with the driver's combined heldState where it has one (one existence check, not two)", () => {
    const { driver, held, writes } = fakeKernel();
    const calls = { held: 0, separate: 0 };
    const d = driver as unknown as Record<string, unknown>;
    const getLimits = d.getLimits as (t: string) => Limits;
    const isFrozen = d.isFrozen as (t: string) => boolean;
    d.heldState = (t: string) => (calls.held++, { limits: getLimits(t), frozen: isFrozen(t) });
    d.getLimits = (t: string) => (calls.separate++, getLimits(t));
    const e = new Enforcer(driver, pino({ level: 'silent' }), false, 1);
    e.reconcile(desired); // first write of both (isFrozen before writing)
    held.get('alice')!.limits.memoryMax = null; // drifted
    e.reconcile(desired); // verify tick for both
    expect(calls).toEqual({ held: 2, separate: 0 });
    expect(writes).toEqual(['alice', 'bob', 'alice']);
  });

  it('the same Desired object, or an equal new one, is not written again', () => {
    const { driver, writes } = fakeKernel();
    const e = new Enforcer(driver, pino({ level: 'silent' }), false, 1000);
    e.reconcile(desired);
    e.reconcile(desired);
    e.reconcile(new Map([...desired].map(([t, v]) => [t, structuredClone(v)])));
    expect(writes).toEqual(['alice', 'bob']);
    e.reconcile(new Map([...desired].map(([t, v]) => [t, { ...v, limits: { ...v.limits, pidsMax: 99 } }])));
    expect(writes).toEqual(['alice', 'bob', 'alice', 'bob']);
  });

  it('a tenant thawed by someone else while it should be frozen is frozen again on the verify tick', () => {
    const { driver, held } = fakeKernel();
    const e = new Enforcer(driver, pino({ level: 'silent' }), false, 2);
    const q = new Map<string, Desired>([['alice', { limits: lim({ cpuPercent: 50 }), frozen: true }]]);
    e.reconcile(q);
    expect(held.get('alice')!.frozen).toBe(true);
    e.reconcile(q);
    held.get('alice')!.frozen = false;
    e.reconcile(q);
    expect(held.get('alice')!.frozen).toBe(true);
  });

  it('spreads the re-verification: each tick reads a rotating slice, every tenant within verifyEvery ticks', () => {
    const { driver } = fakeKernel();
    const reads: string[] = [];
    const getLimits = driver.getLimits.bind(driver);
    (driver as { getLimits: (t: string) => Limits }).getLimits = (t: string) => {
      reads.push(t);
      return getLimits(t);
    };
    const many = new Map<string, Desired>(Array.from({ length: 25 }, (_, i) => [`t${i}`, { limits: lim({ pidsMax: 100 + i }), frozen: false }] as const));
    const e = new Enforcer(driver, pino({ level: 'silent' }), false, 12);
    e.reconcile(many); // first writes (read back by the driver, not by the enforcer)
    reads.length = 0;
    const perTick: number[] = [];
    for (let tick = 0; tick < 12; tick++) {
      const before = reads.length;
      e.reconcile(many);
      perTick.push(reads.length - before);
    }
    expect(Math.max(...perTick)).toBeLessThanOrEqual(3); // ceil(25 / 12), never all 25 at once
    expect(new Set(reads).size).toBe(25); // every tenant verified within 12 ticks
  });

  it('re-verifies every tenant every 3 minutes whatever the interval (at least every tick)', () => {
    expect(verifyEveryTicks(5_000)).toBe(36);
    expect(verifyEveryTicks(60_000)).toBe(3);
    expect(verifyEveryTicks(1_000)).toBe(180);
    expect(verifyEveryTicks(600_000)).toBe(1);
  });
});
