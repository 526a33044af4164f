// systemd hosts (agent/systemd.ts): which processes placement leaves in their login scopes, how a tenant's
// limits become user slice properties, and that they are set through systemctl only when they change. The real
// systemd: the distro tier (test/distro/checks.sh).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { assertParentName } from '../../../agent/kernel/cgroup/control.js';
import { buildRuleset } from '../../../agent/collectors/bandwidth.js';
import { cgroupPathOf, inLoginCgroup, sliceProperties, UserSlices } from '../../../agent/systemd.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('login cgroups', () => {
  it('everything under user.slice is a login (session scopes, user@UID.service); services are not', () => {
    expect(inLoginCgroup('/user.slice/user-1001.slice/session-3.scope')).toBe(true);
    expect(inLoginCgroup('/user.slice/user-1001.slice/user@1001.service/app.slice/x.service')).toBe(true);
    expect(inLoginCgroup('/system.slice/php8.2-fpm.service')).toBe(false);
    expect(inLoginCgroup('/system.slice/cron.service')).toBe(false);
    expect(inLoginCgroup('/user.slicex/y')).toBe(false);
    expect(inLoginCgroup(null)).toBe(false);
  });

  it('reads the cgroup v2 line of /proc/PID/cgroup, null when the process is gone', () => {
    const proc = mkdtempSync(join(tmpdir(), 'hw-systemd-'));
    dirs.push(proc);
    mkdirSync(join(proc, '42'));
    writeFileSync(join(proc, '42', 'cgroup'), '0::/user.slice/user-1001.slice/session-3.scope\n');
    expect(cgroupPathOf(proc, 42)).toBe('/user.slice/user-1001.slice/session-3.scope');
    expect(cgroupPathOf(proc, 43)).toBeNull();
  });
});

describe('user slice properties', () => {
  it('maps caps to systemd properties and "no limit" to their reset values', () => {
    expect(sliceProperties({ cpuPercent: 50, memoryMax: 268435456, memoryHigh: null, pidsMax: 200, cpuWeight: 300 })).toEqual([
      'CPUQuota=50%', 'CPUWeight=300', 'MemoryHigh=infinity', 'MemoryMax=268435456', 'TasksMax=200',
    ]);
    expect(sliceProperties({ cpuPercent: null, pidsMax: null })).toEqual(['CPUQuota=', 'TasksMax=infinity']);
    expect(sliceProperties({})).toEqual([]);
  });

  it('sets every UID of a tenant once, again only on a change, and lifts a UID that left', () => {
    const calls: string[][] = [];
    const slices = new UserSlices(pino({ level: 'silent' }), (args) => calls.push(args));
    slices.reconcile([{ tenant: 'alice', uids: [1001, 1002], limits: { cpuPercent: 50 } }]);
    expect(calls).toEqual([
      ['set-property', '--runtime', 'user-1001.slice', 'CPUQuota=50%'],
      ['set-property', '--runtime', 'user-1002.slice', 'CPUQuota=50%'],
    ]);
    slices.reconcile([{ tenant: 'alice', uids: [1001, 1002], limits: { cpuPercent: 50 } }]);
    expect(calls).toHaveLength(2); // nothing changed: no systemctl call
    slices.reconcile([{ tenant: 'alice', uids: [1001], limits: { cpuPercent: 25 } }]);
    expect(calls.slice(2)).toEqual([
      ['set-property', '--runtime', 'user-1001.slice', 'CPUQuota=25%'],
      ['set-property', '--runtime', 'user-1002.slice', 'CPUQuota=', 'CPUWeight=100', 'MemoryHigh=infinity', 'MemoryMax=infinity'],
    ]);
  });

  it('a failing systemctl is retried at the next reconcile', () => {
    let fail = true;
    const calls: string[][] = [];
    const slices = new UserSlices(pino({ level: 'silent' }), (args) => {
      calls.push(args);
      if (fail) throw Object.assign(new Error('failed'), { stderr: Buffer.from('Failed to connect to bus') });
    });
    slices.reconcile([{ tenant: 'bob', uids: [1003], limits: { pidsMax: 100 } }]);
    fail = false;
    slices.reconcile([{ tenant: 'bob', uids: [1003], limits: { pidsMax: 100 } }]);
    slices.reconcile([{ tenant: 'bob', uids: [1003], limits: { pidsMax: 100 } }]);
    expect(calls).toHaveLength(2);
  });
});

describe('a parent inside the delegated subtree', () => {
  it('is a path of cgroup names; nothing else', () => {
    expect(() => assertParentName('hostwarden.slice/hostwarden-tenants.service/hostwarden')).not.toThrow();
    for (const bad of ['', '/hostwarden', 'a//b', 'a/../b', 'a/./b', 'a/b/', 'a b']) expect(() => assertParentName(bad), bad).toThrow(/invalid parent/);
  });

  it('the nftables rx counters match the tenant cgroup at its depth', () => {
    const alice = { name: 'alice', uids: [1001], homes: [], domains: [], source: 'config' as const };
    const rules = buildRuleset('hostwarden', [alice], { kind: 'cgroup', parent: 'hostwarden.slice/hostwarden-tenants.service/hostwarden' });
    expect(rules).toContain('socket cgroupv2 level 4 map { "hostwarden.slice/hostwarden-tenants.service/hostwarden/alice"');
    expect(buildRuleset('hostwarden', [alice], { kind: 'cgroup', parent: 'hostwarden' })).toContain('socket cgroupv2 level 2 map');
  });
});
