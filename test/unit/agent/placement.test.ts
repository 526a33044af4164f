// Incremental placement with a fake /proc and a fake clock: new PIDs are placed in the next round, a root
// process that changes its owner while young is placed in the next round, a reused PID is told apart by its start
// time, and the slow full pass catches what the cheap rounds do not look at. The real kernel: test/system/placement.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CgroupDriver } from '../../../agent/kernel/cgroup/driver.js';
import { parseLastPid, parseStartTime } from '../../../agent/kernel/procfs.js';
import { Placement, type ProcSource, rangeTest } from '../../../agent/placement.js';
import type { Tenant } from '../../../agent/tenants.js';

const HZ = 100;

/** A process table: PIDs handed out in order (wrapping at max), owners, start times, a clock in ticks. */
class FakeProc implements ProcSource {
  procs = new Map<number, { uid: number; start: number }>();
  cursor = 1000;
  ticks = 1_000_000;
  reads = { list: 0, uid: 0, start: 0 };
  /** uidOf() calls per PID. */
  uidReads = new Map<number, number>();
  constructor(readonly max = 32768) {}
  spawn(uid: number, pid?: number): number {
    const p = pid ?? this.next();
    if (pid !== undefined) this.cursor = pid;
    this.procs.set(p, { uid, start: this.ticks });
    return p;
  }
  private next(): number {
    do this.cursor = this.cursor + 1 >= this.max ? 300 : this.cursor + 1;
    while (this.procs.has(this.cursor));
    return this.cursor;
  }
  lastPid(): number | null {
    return this.cursor;
  }
  pidMax(): number {
    return this.max;
  }
  listPids(): number[] {
    this.reads.list++;
    return [...this.procs.keys()];
  }
  uidOf(pid: number): number | null {
    this.reads.uid++;
    this.uidReads.set(pid, (this.uidReads.get(pid) ?? 0) + 1);
    return this.procs.get(pid)?.uid ?? null;
  }
  startTimeOf(pid: number): number | null {
    this.reads.start++;
    return this.procs.get(pid)?.start ?? null;
  }
  uptimeTicks(): number | null {
    return this.ticks;
  }
}

/** Cgroup membership as a map; move() and tenantOf() as the driver does them. */
function fakeDriver(proc: FakeProc) {
  const where = new Map<number, string>();
  const moves: Array<[string, number]> = [];
  const driver = {
    procs: (t: string) => [...where].filter(([p, w]) => w === t && proc.procs.has(p)).map(([p]) => p),
    tenantOf: (pid: number) => (proc.procs.has(pid) ? (where.get(pid) ?? null) : null),
    exists: () => true,
    create: () => {},
    move: (t: string, pid: number) => {
      where.set(pid, t);
      moves.push([t, pid]);
    },
  } as unknown as CgroupDriver;
  return { driver, where, moves };
}

const alice: Tenant = { name: 'alice', uids: [1001], homes: [], domains: [], source: 'config' };
const bob: Tenant = { name: 'bob', uids: [1002], homes: [], domains: [], source: 'config' };
const byUid = (uid: number) => (uid === 1001 ? alice : uid === 1002 ? bob : undefined);

function setup(opts: { fullEveryMs?: number; youngMs?: number } = {}) {
  const proc = new FakeProc();
  const { driver, where, moves } = fakeDriver(proc);
  let ms = 0;
  const placement = new Placement(driver, proc, pino({ level: 'silent' }), { fullEveryMs: opts.fullEveryMs ?? 30_000, youngMs: opts.youngMs ?? 10_000, now: () => ms });
  /** Advance the clocks by one placement round (1 s) and run it. */
  const round = () => {
    ms += 1000;
    proc.ticks += HZ;
    return placement.run(byUid);
  };
  return { proc, where, moves, placement, round, advance: (s: number) => ((ms += s * 1000), (proc.ticks += s * HZ)) };
}

describe('incremental placement', () => {
  it('verifies everything once, then only the PIDs born since: its cost follows births, not the process count', () => {
    const { proc, where, round } = setup();
    for (let i = 0; i < 3000; i++) proc.spawn(i % 3 === 0 ? 0 : 1001);
    const first = round();
    expect(first).toMatchObject({ full: true, moved: 2000 });
    proc.ticks += 20 * HZ; // all of them are old now
    const quiet = round();
    expect(quiet).toMatchObject({ full: false, moved: 0, checked: 0 }); // nothing born: /proc not even listed
    const lists = proc.reads.list;
    const born = [proc.spawn(1001), proc.spawn(1002), proc.spawn(0)];
    const uids = proc.reads.uid;
    const r = round();
    expect(proc.reads.list).toBe(lists); // three PIDs handed out: looked at one by one, /proc not listed
    expect(proc.reads.uid - uids).toBe(3); // only the three new ones
    expect(r).toMatchObject({ full: false, moved: 2, scanned: 2 });
    expect(where.get(born[0]!)).toBe('alice');
    expect(where.get(born[1]!)).toBe('bob');
    expect(where.has(born[2]!)).toBe(false); // root is never touched
  });

  it('a burst of births larger than the probe bound lists /proc once instead', () => {
    const { proc, where, round } = setup();
    round();
    const lists = proc.reads.list;
    const born: number[] = [];
    for (let i = 0; i < 3000; i++) born.push(proc.spawn(1001));
    const r = round();
    expect(proc.reads.list).toBe(lists + 1);
    expect(r).toMatchObject({ full: false, moved: 3000 });
    expect(born.every((p) => where.get(p) === 'alice')).toBe(true);
  });

  it('a child born inside its tenant cgroup is verified but not counted as a stray', () => {
    const { proc, where, round, placement } = setup();
    round();
    const child = proc.spawn(1001);
    where.set(child, 'alice'); // forked by a placed process: inherits the cgroup
    expect(round()).toMatchObject({ scanned: 1, moved: 0 });
    expect(placement.takeStrays().size).toBe(0);
  });

  it('a process first seen as root that changes to a tenant UID while young is placed in the next round', () => {
    const { proc, where, round } = setup({ youngMs: 10_000 });
    round();
    const sshd = proc.spawn(0);
    round(); // seen as root
    expect(where.has(sshd)).toBe(false);
    round();
    proc.procs.get(sshd)!.uid = 1002; // setuid after authentication, 2 s after its start
    const r = round();
    expect(r.moved).toBe(1);
    expect(where.get(sshd)).toBe('bob');
  });

  it('a root process that changes owner after the young window is placed by the slow full pass', () => {
    const { proc, where, round } = setup({ youngMs: 5_000, fullEveryMs: 30_000 });
    round(); // full pass at t=1 s
    const daemon = proc.spawn(0);
    for (let i = 0; i < 10; i++) round(); // t=11 s: 10 s old, past the young window
    proc.procs.get(daemon)!.uid = 1001;
    let rounds = 0;
    while (where.get(daemon) !== 'alice') {
      const r = round();
      rounds++;
      if (r.full) break;
      expect(r.moved).toBe(0); // the cheap rounds do not look at it any more
    }
    expect(where.get(daemon)).toBe('alice');
    expect(rounds).toBeLessThanOrEqual(30);
  });

  it('a PID reused by another process between two rounds is told apart by its start time', () => {
    const { proc, where, round } = setup();
    const old = proc.spawn(0);
    for (let i = 0; i < 9; i++) proc.spawn(0); // the counter moves on past it
    round();
    proc.ticks += 20 * HZ;
    round();
    // The old process exits and, after the PID counter wrapped, the same number goes to a tenant's new process
    // (the number is in the range handed out since the last round, but placement knows it already).
    proc.procs.delete(old);
    proc.ticks += 1;
    proc.spawn(1001, old);
    const r = round();
    expect(r.moved).toBe(1);
    expect(where.get(old)).toBe('alice');
  });

  it('a known PID the counter passed over (still the same process) costs one start-time read, no re-verification', () => {
    const { proc, round } = setup();
    round();
    proc.ticks += 20 * HZ;
    round();
    const keep = proc.spawn(0, 400); // an old, long-lived process at a low PID
    proc.procs.get(keep)!.start = 5;
    round();
    // The counter wraps and passes PID 400 (in use, so skipped): 400 is in the allocated range but unchanged.
    proc.cursor = 32760;
    round();
    proc.cursor = 450;
    const uids = proc.uidReads.get(keep);
    const starts = proc.reads.start;
    const r = round();
    expect(r.moved).toBe(0);
    expect(proc.uidReads.get(keep)).toBe(uids); // its start time matched: not verified again
    expect(proc.reads.start).toBe(starts + 1); // the free PIDs of the range cost one owner read each, no start time
  });

  it("a tenant's process costs no start-time read, and is verified again when the counter passes its PID", () => {
    const { proc, where, moves, round } = setup();
    round();
    const starts = proc.reads.start;
    const p = proc.spawn(1001);
    expect(round().moved).toBe(1);
    expect(proc.reads.start).toBe(starts); // a tenant's process is never watched as young
    // The counter wraps and passes its PID (in use, so skipped): verified again (owner and cgroup), not moved twice.
    proc.cursor = 32760;
    round();
    proc.cursor = p + 5;
    const uids = proc.uidReads.get(p)!;
    expect(round().moved).toBe(0);
    expect(proc.uidReads.get(p)).toBe(uids + 1);
    expect(where.get(p)).toBe('alice');
    expect(moves.filter(([, pid]) => pid === p)).toHaveLength(1);
  });

  it('the full pass moves a tenant process someone moved out of its cgroup', () => {
    const { proc, where, round } = setup({ fullEveryMs: 5_000 });
    const p = proc.spawn(1001);
    round();
    expect(where.get(p)).toBe('alice');
    where.set(p, 'elsewhere'); // an admin's hand, invisible to the cheap rounds
    let full = false;
    for (let i = 0; i < 5 && !full; i++) full = round().full === true;
    expect(full).toBe(true);
    expect(where.get(p)).toBe('alice');
  });

  it("a round asked not to start the periodic full pass (the tick's own) leaves it to the next round; a changed tenant set is verified at once", () => {
    const { placement, advance } = setup({ fullEveryMs: 5_000 });
    const run = (periodicFull?: boolean) => placement.run(byUid, periodicFull === undefined ? {} : { periodicFull });
    expect(run(false).full).toBe(true); // the first round verifies everything, whoever runs it
    advance(6);
    expect(run(false).full).toBe(false); // due, but not in this round
    expect(run().full).toBe(true); // the timer's round
    placement.invalidate();
    expect(run(false).full).toBe(true);
  });

  it('a changed tenant set makes the next round a full pass', () => {
    const { round, placement } = setup();
    round();
    expect(round().full).toBe(false);
    placement.invalidate();
    expect(round().full).toBe(true);
  });

  it('forgets exited processes', () => {
    const { proc, round, where } = setup();
    const a = proc.spawn(1001);
    round();
    proc.procs.delete(a);
    proc.spawn(1002);
    round();
    proc.spawn(1001, a); // same number, new process: verified afresh, not mistaken for the placed one
    where.delete(a);
    expect(round().moved).toBe(1);
  });
});

describe('PID range and /proc readers', () => {
  it('tells which PIDs were handed out between two readings, across the wrap at pid_max', () => {
    const r = rangeTest(100, 200, 32768);
    expect([100, 101, 200, 201].map(r)).toEqual([false, true, true, false]);
    const w = rangeTest(32700, 350, 32768);
    expect([32699, 32701, 32767, 300, 350, 351].map(w)).toEqual([false, true, true, true, true, false]);
    expect(rangeTest(5, 5, 32768)(5)).toBe(false);
    expect(rangeTest(null, 5, 32768)(77)).toBe(true);
  });

  it('parses the last PID of /proc/loadavg and the start time of /proc/PID/stat', () => {
    expect(parseLastPid('2.37 1.40 1.45 7/129 9082\n')).toBe(9082);
    expect(parseLastPid('garbage')).toBeNull();
    const stat = '4242 (php-fpm: pool (www)) R 4200 4242 4242 0 -1 4194560 1234 0 0 0 700 300 0 0 20 0 3 0 987654 123456789 2560 18446744073709551615 1 1 0\n';
    expect(parseStartTime(stat)).toBe(987654);
    expect(parseStartTime('1 (x) S 0')).toBeNull();
  });
});
