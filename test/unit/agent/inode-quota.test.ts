// The arithmetic and bookkeeping of inode quotas (agent/inode-quota.ts) over an in-memory filesystem that
// behaves as the quota tools do (limits per UID, block limits kept apart). The real tools on a real
// quota-enforcing ext4 are the VM tier's test/vm/inode-cap.test.ts.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { type CappedTenant, InodeQuotas } from '../../../agent/inode-quota.js';
import type { QuotaLine, QuotaSet, QuotaTools } from '../../../agent/kernel/quota.js';

const log = pino({ level: 'silent' });

/** Filesystems by mount point: each UID's line; `enforcing` says which hold users at their limits. */
class Filesystems implements QuotaTools {
  readonly fs = new Map<string, Map<number, QuotaLine>>();
  readonly enforcing = new Set<string>();
  readonly writes: Array<{ mount: string; sets: QuotaSet[] }> = [];
  fail = false;

  use(mount: string, uid: number, used: number, limits: Partial<{ isoft: number; ihard: number; bsoft: number; bhard: number }> = {}): void {
    if (!this.fs.has(mount)) this.fs.set(mount, new Map());
    this.fs.get(mount)!.set(uid, { blocks: { used: 8, soft: limits.bsoft ?? 0, hard: limits.bhard ?? 0 }, inodes: { used, soft: limits.isoft ?? 0, hard: limits.ihard ?? 0 } });
  }
  enforced(mount: string): boolean {
    return this.enforcing.has(mount);
  }
  report(mount: string): Map<number, QuotaLine> | undefined {
    const m = this.fs.get(mount);
    return m ? new Map([...m].map(([uid, l]) => [uid, structuredClone(l)])) : undefined;
  }
  set(mount: string, sets: readonly QuotaSet[]): void {
    if (this.fail) throw new Error('setquota: Cannot set quota');
    this.writes.push({ mount, sets: [...sets] });
    for (const s of sets) {
      const l = this.fs.get(mount)?.get(s.uid) ?? { blocks: { used: 0, soft: 0, hard: 0 }, inodes: { used: 0, soft: 0, hard: 0 } };
      this.fs.get(mount)!.set(s.uid, { blocks: { ...l.blocks, ...s.blocks }, inodes: { ...l.inodes, ...s.inodes } });
    }
  }
  reports(): Map<string, Map<number, QuotaLine> | null> {
    return new Map([...this.fs.keys()].map((m) => [m, this.report(m)!]));
  }
  inodes(mount: string, uid: number): QuotaLine['inodes'] | undefined {
    return this.fs.get(mount)?.get(uid)?.inodes;
  }
}

const tenant = (over: Partial<CappedTenant> = {}): CappedTenant => ({ name: 'alice', uids: [1001], mounts: ['/home'], cap: 1000, count: undefined, ...over });

describe('inode quotas', () => {
  it('one UID: the hard limit is the cap, no soft limit, block limits kept; written once', () => {
    const fs = new Filesystems();
    fs.enforcing.add('/home');
    fs.use('/home', 1001, 300, { bsoft: 1000, bhard: 2000, isoft: 50 });
    const q = new InodeQuotas(fs, log, false, undefined);
    expect(q.reconcile([tenant()], fs.reports())).toEqual({ held: new Set(['alice']), changed: true });
    expect(fs.fs.get('/home')!.get(1001)).toEqual({ blocks: { used: 8, soft: 1000, hard: 2000 }, inodes: { used: 300, soft: 0, hard: 1000 } });
    // Nothing changed: nothing written.
    expect(q.reconcile([tenant()], fs.reports())).toEqual({ held: new Set(['alice']), changed: false });
    expect(fs.writes).toHaveLength(1);
    // Someone else wrote another limit: written back.
    fs.use('/home', 1001, 300, { ihard: 99999 });
    q.reconcile([tenant()], fs.reports());
    expect(fs.inodes('/home', 1001)!.hard).toBe(1000);
  });

  it('several UIDs: each gets its own use plus the headroom of the tenant; at the cap each is held where it is', () => {
    const fs = new Filesystems();
    fs.enforcing.add('/home');
    fs.use('/home', 1001, 300);
    fs.use('/home', 1002, 500);
    const q = new InodeQuotas(fs, log, false, undefined);
    q.reconcile([tenant({ uids: [1001, 1002] })], fs.reports());
    expect([fs.inodes('/home', 1001)!.hard, fs.inodes('/home', 1002)!.hard]).toEqual([500, 700]);
    fs.use('/home', 1001, 400);
    fs.use('/home', 1002, 600);
    q.reconcile([tenant({ uids: [1001, 1002] })], fs.reports());
    expect([fs.inodes('/home', 1001)!.hard, fs.inodes('/home', 1002)!.hard]).toEqual([400, 600]);
    // Over the cap (files root gave it): a limit below the use refuses every new file; never "0" (no limit).
    fs.use('/home', 1002, 0);
    fs.use('/home', 1001, 1500);
    q.reconcile([tenant({ uids: [1001, 1002] })], fs.reports());
    expect([fs.inodes('/home', 1001)!.hard, fs.inodes('/home', 1002)!.hard]).toEqual([1000, 1]);
  });

  it('not held where a home is on a filesystem that does not enforce quotas: nothing set there or elsewhere', () => {
    const fs = new Filesystems();
    fs.enforcing.add('/home');
    fs.use('/home', 1001, 300);
    fs.use('/srv', 1001, 300);
    const q = new InodeQuotas(fs, log, false, undefined);
    expect(q.reconcile([tenant({ mounts: ['/home', '/srv'] })], fs.reports()).held).toEqual(new Set());
    expect(fs.writes).toEqual([]);
  });

  it('the limits from before come back when the plan stops capping, the tenant goes, or a restart forgot nothing', () => {
    const fs = new Filesystems();
    fs.enforcing.add('/home');
    fs.use('/home', 1001, 300, { isoft: 5000, ihard: 6000, bhard: 77 });
    fs.use('/home', 1002, 10, { isoft: 1, ihard: 2 });
    const q = new InodeQuotas(fs, log, false, undefined);
    q.reconcile([tenant(), tenant({ name: 'bob', uids: [1002], cap: 50 })], fs.reports());
    expect(fs.inodes('/home', 1001)).toEqual({ used: 300, soft: 0, hard: 1000 });
    // A restart: the records come back from the spool.
    const again = new InodeQuotas(fs, log, false, q.serialize());
    expect(again.reconcile([tenant({ cap: undefined }), tenant({ name: 'bob', uids: [1002], cap: 50 })], fs.reports()).changed).toBe(true);
    expect(fs.fs.get('/home')!.get(1001)).toEqual({ blocks: { used: 8, soft: 0, hard: 77 }, inodes: { used: 300, soft: 5000, hard: 6000 } });
    expect(fs.inodes('/home', 1002)).toEqual({ used: 10, soft: 0, hard: 50 });
    // bob goes: its limits from before too.
    again.reconcile([], fs.reports());
    expect(fs.inodes('/home', 1002)).toEqual({ used: 10, soft: 1, hard: 2 });
    expect(again.list()).toEqual([]);
  });

  it('a failed write holds no one and is tried again; a dry run writes nothing', () => {
    const fs = new Filesystems();
    fs.enforcing.add('/home');
    fs.use('/home', 1001, 300);
    fs.fail = true;
    const q = new InodeQuotas(fs, log, false, undefined);
    expect(q.reconcile([tenant()], fs.reports()).held).toEqual(new Set());
    fs.fail = false;
    expect(q.reconcile([tenant()], fs.reports()).held).toEqual(new Set(['alice']));
    expect(fs.inodes('/home', 1001)!.hard).toBe(1000);

    const dry = new Filesystems();
    dry.enforcing.add('/home');
    dry.use('/home', 1001, 300);
    new InodeQuotas(dry, log, true, undefined).reconcile([tenant()], dry.reports());
    expect(dry.writes).toEqual([]);
  });

  it('restoreAll puts back everything it set (the uninstall path)', () => {
    const fs = new Filesystems();
    fs.enforcing.add('/home');
    fs.use('/home', 1001, 300, { ihard: 4000 });
    const q = new InodeQuotas(fs, log, false, undefined);
    q.reconcile([tenant()], fs.reports());
    expect(q.restoreAll()).toBe(true);
    expect(fs.inodes('/home', 1001)).toEqual({ used: 300, soft: 0, hard: 4000 });
  });
});
