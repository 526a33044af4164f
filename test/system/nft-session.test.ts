// The long-lived `nft -j -i` session (agent/kernel/nft-session.ts) on real nftables, inside a network namespace
// the test makes: it answers list commands with fresh counters, sees a table replaced by another nft run, gives
// no answer (undefined) on an error and recovers with a new session, and its nft exits when it is closed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BandwidthCollector, type NftExec, parseCounters } from '../../agent/collectors/bandwidth.js';
import type { CollectContext } from '../../agent/collectors/collector.js';
import { NftSession } from '../../agent/kernel/nft-session.js';
import type { Tenant } from '../../agent/tenants.js';
import { describeWith, hasCommand, missing, needRoot } from '../helpers/env.js';
import { Cleanup, uniq } from '../helpers/system.js';

describeWith(missing([needRoot, [hasCommand('nft') && hasCommand('ip'), 'needs nft and ip (nftables, iproute2)']]), 'nft session on real nftables', () => {
  const cleanup = new Cleanup();
  const ns = uniq('hwns');
  const nft = (args: string[], input?: string) => spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], { input, encoding: 'utf8' });
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    cleanup.add(`ip netns del ${ns}`, () => execFileSync('ip', ['netns', 'del', ns]));
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  });
  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('lists fresh counters, follows a replaced table, recovers from an error', () => {
    const session = new NftSession(['ip', 'netns', 'exec', ns, 'nft']);
    cleanup.add('close the nft session', () => session.close());
    expect(nft(['-f', '-'], 'table inet hwsess {\n  counter tx_a { }\n}\n').status).toBe(0);
    const first = session.query('list counters table inet hwsess');
    expect(first).toBeDefined();
    expect(parseCounters(first!).get('a')).toEqual({ tx: 0, rx: 0 });
    const pid = (session as unknown as { child: { pid: number } }).child.pid;

    // Counters changed by someone else, and the table replaced by another nft run: the same session sees both.
    expect(nft(['-f', '-'], 'table inet hwsess {}\ndelete table inet hwsess\ntable inet hwsess {\n  counter tx_a { packets 3 bytes 1234 }\n  counter tx_b { }\n}\n').status).toBe(0);
    const second = parseCounters(session.query('list counters table inet hwsess')!);
    expect(second.get('a')).toEqual({ tx: 1234, rx: 0 });
    expect(second.has('b')).toBe(true);
    expect((session as unknown as { child: { pid: number } }).child.pid).toBe(pid);

    // An error gives no answer and ends that session; the next query starts another one.
    expect(session.query('list counters table inet hwsess_missing')).toBeUndefined();
    expect(existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(safeStatus(pid))).toBe(false);
    expect(parseCounters(session.query('list counters table inet hwsess')!).get('a')).toEqual({ tx: 1234, rx: 0 });

    session.close();
    expect(nft(['delete', 'table', 'inet', 'hwsess']).status).toBe(0);
  });

  it('the collector reads its counters through a session and falls back to running nft when it gives none', () => {
    const exec: NftExec = (args, input) => {
      const r = nft(args, input);
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const answers: Array<string | undefined> = [];
    const real = new NftSession(['ip', 'netns', 'exec', ns, 'nft']);
    let broken = false;
    const session = {
      query: (cmd: string) => {
        const a = broken ? undefined : real.query(cmd);
        answers.push(a);
        return a;
      },
      close: () => real.close(),
    };
    cleanup.add('close the collector session', () => real.close());
    const collector = new BandwidthCollector(exec, 'hwsess2', undefined, session);
    const tenant: Tenant = { name: 'bw', uids: [4_000_123], homes: [], domains: [], source: 'config' };
    const ctx = (mono: number): CollectContext => ({ mono, tenants: [tenant], stats: new Map(), samples: new Map([['bw', { tenant: 'bw' }]]), host: { cores: 2, memory_bytes: 1 } });
    collector.collect(ctx(1000));
    const second = ctx(2000);
    collector.collect(second);
    expect(second.samples.get('bw')?.bandwidth).toEqual({ tx_bps: 0, rx_bps: 0 });
    expect(answers.every((a) => a !== undefined)).toBe(true);
    broken = true;
    const third = ctx(3000);
    collector.collect(third);
    expect(third.samples.get('bw')?.bandwidth).toEqual({ tx_bps: 0, rx_bps: 0 }); // through `nft -j list` instead
    collector.remove();
    expect(exec(['list', 'table', 'inet', 'hwsess2']).status).not.toBe(0);
  });
});

function safeStatus(pid: number): string {
  try {
    return execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' });
  } catch {
    return '';
  }
}
