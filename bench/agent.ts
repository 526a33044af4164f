// The whole agent's own cost at scale (goal: at most 1 % of one core at a 5 s interval and 1 s placement): the
// built agent daemon with 1,000 tenants (by numeric UID, no passwd entries to clean up) and 5,000 tenant
// processes (`sleep` started with those UIDs), of which 50 exit and 50 are born every second, reporting every
// tick to a built controller on loopback. Both daemons run in a network namespace of the bench's own, so the
// bandwidth collector's nftables table (and its `nft` children) live and die with it; the namespace has an
// uplink (a veth pair inside it) with the default route, so the link collector runs as on a server. Measured: utime + stime of
// the agent process and of its children (waited-for: cutime + cstime; still running, like the nft session:
// their own) from /proc/PID/stat over the measuring window. Baseline in the same run: the full-scan placement (every /proc/PID's owner, each tenant's
// cgroup.procs) that ran every second before, timed in this process over the same processes.
// Every cgroup, process, file and the namespace it makes are removed again, also on failure and on SIGINT/SIGTERM.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { calmResources } from '../agent/collectors/cgroup-stats.js';
import { createDriver } from '../agent/kernel/cgroup/detect.js';
import type { CgroupDriver } from '../agent/kernel/cgroup/driver.js';
import { listPids, uidOf } from '../agent/kernel/procfs.js';

export interface AgentBenchOptions {
  tenants?: number;
  processes?: number;
  /** Processes that exit, and as many born, every second. */
  churnPerSecond?: number;
  /** The measuring window (s, at least 60 for the issue's figure). */
  measureSeconds?: number;
  /** Time for the agent to start, place everything and settle before measuring (s). */
  warmupSeconds?: number;
  log?: (line: string) => void;
  /** Another checkout whose built agent to measure (e.g. the main branch, for a before/after). */
  agentRoot?: string;
  /**
   * Several checkouts measured in turn over the same tenant processes (e.g. old, new, old, new): a before/after
   * in the same conditions, with the processes started once. Each round starts a fresh agent (its own parent
   * cgroup and state) that places every process anew; the previous round's cgroups are removed once emptied.
   */
  agentRoots?: string[];
  /** Extra node options for the agent (e.g. --cpu-prof --cpu-prof-dir=DIR to profile it). */
  agentNodeArgs?: string[];
}

export interface AgentBenchResult {
  kind: string;
  /**
   * The kernel's part of placement at this churn: CPU per fresh process moved into a tenant's cgroup in every
   * hierarchy the driver governs (the agent's own driver, here in the bench's process after the round), as %
   * of one core at churnPerSecond strays a second. No placement on this host can cost less.
   */
  movePercent?: number;
  moveUsec?: number;
  /**
   * The kernel's part of collect, with the parsing: CPU to read one tenant's CPU time (the quiet tenant's read),
   * all its stats files (the full read) and its CPU time, tasks and pressure (the light read), as the agent's
   * stats reader does, over every tenant after the round; and as % of one core at a tick's reads: every tenant's
   * CPU time, and the full and light reads of an average tick (readFull, readLight).
   */
  readCpuUsec?: number;
  readFullUsec?: number;
  readLightUsec?: number;
  /** Full and light reads of an average tick: counted by the agent, or (readCounted false) estimated. */
  readFull?: number;
  readLight?: number;
  readCounted?: boolean;
  readPercent?: number;
  moveHierarchies?: number;
  tenants: number;
  processes: number;
  churnPerSecond: number;
  measureSeconds: number;
  /** CPU of the agent process and its children, % of one core over the window. */
  agentPercent: number;
  /** Of which its children (nft, ...). */
  childrenPercent: number;
  /** Full-scan placement: CPU ms per pass over the same processes, and as % of a core at one pass per second. */
  baselinePassMs: number;
  baselinePercent: number;
  /** Tenant processes found in the tenants' cgroups at the end (placement worked). */
  placedAtEnd: number;
  runningAtEnd: number;
  /** Reports the agent said it could not deliver, and other warnings it logged. */
  agentWarnings: string[];
  /** Ticks the agent logged while measuring. */
  ticks: number;
  /** % of one core per tick step (and `placement_timer`: the 1 s placement rounds), from the agent's tick lines. */
  stepPercent: Record<string, number>;
  loadavg: string;
  goalPercent: number;
  /** The checkout whose agent was measured. */
  agentRoot: string;
  /** Tenant processes actually born per second while measuring (the spawner may not keep up on a loaded machine). */
  bornPerSecond: number;
}

const GOAL = 1;

/**
 * Reads "S <uid>" (start a sleep as that UID and group; prints its PID) and "K <pid>" (SIGKILL it) lines; children are
 * reaped automatically. At end of input, or on SIGTERM (the bench ended, however: without waiting for the lines
 * still queued), it kills every child it started and exits.
 */
const SPAWNER = `
$SIG{CHLD} = 'IGNORE'; $| = 1; my %kids;
$SIG{TERM} = sub { kill 'KILL', keys %kids; POSIX::_exit(0); };
while (my $l = <STDIN>) {
  if ($l =~ /^S (\\d+)/) {
    my $u = $1; my $pid = fork();
    if (!defined $pid) { next; }
    if ($pid == 0) {
      POSIX::setsid(); POSIX::setgid($u); POSIX::setuid($u) or POSIX::_exit(1);
      # A setuid process is not dumpable, so its /proc entry shows root until it execs: on x86_64 make it dumpable
      # again with prctl(PR_SET_DUMPABLE, 1) and sleep without an exec (fork alone is far cheaper on a loaded host).
      if ($Config{archname} =~ /^x86_64/ && syscall(157, 4, 1, 0, 0, 0) == 0) { POSIX::pause() while 1; }
      exec('sleep', '100000'); POSIX::_exit(1);
    }
    $kids{$pid} = 1; print "$pid\\n";
  } elsif ($l =~ /^K (\\d+)/) { kill 'KILL', $1; delete $kids{$1}; }
}
kill 'KILL', keys %kids;
`;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Fields from field 3 on of /proc/PID/stat (f[0] is field 3; utime is field 14), or undefined when gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of a process, and of its children in clock ticks (USER_HZ = 100): the waited-for ones
 * (cutime + cstime) plus the CPU so far of those still running (a long-lived child such as the agent's
 * `nft -j -i` session is never waited for while the agent runs).
 */
function cpuTicks(pid: number): { self: number; children: number } {
  const f = statFields(pid)!;
  let live = 0;
  for (const p of listPids('/proc')) {
    const c = statFields(p);
    if (c && Number(c[1]) === pid) live += Number(c[11]) + Number(c[12]) + Number(c[13]) + Number(c[14]);
  }
  return { self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) + live };
}

/** Remove every tenant cgroup of a driver and its parent; `kill` kills what is still inside (the final cleanup). */
function removeCgroups(driver: CgroupDriver, problems: string[], kill = true): void {
  for (const t of driver.list()) {
    try {
      driver.remove(t, { kill });
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  try {
    driver.teardown();
  } catch (err) {
    problems.push((err as Error).message);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A UID range nobody uses here: no passwd entry and no process. */
function freeUidBase(count: number): number {
  const passwd = new Set(readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => Number(l.split(':')[2])));
  const running = new Set(listPids('/proc').map((p) => uidOf('/proc', p)));
  for (let i = 0; i < 50; i++) {
    const base = 3_000_000 + randomInt(0, 900) * 1000 * Math.ceil(count / 1000);
    let free = true;
    for (let u = base; u < base + count && free; u++) if (passwd.has(u) || running.has(u)) free = false;
    if (free) return base;
  }
  throw new Error('no free UID range found');
}

export async function benchAgent(opts: AgentBenchOptions = {}): Promise<AgentBenchResult> {
  return (await benchAgentRounds({ ...opts, agentRoots: [opts.agentRoot ?? ROOT] }))[0]!;
}

export async function benchAgentRounds(opts: AgentBenchOptions = {}): Promise<AgentBenchResult[]> {
  const nTenants = opts.tenants ?? 1000;
  const nProcs = opts.processes ?? 5000;
  const churn = opts.churnPerSecond ?? 50;
  const measureS = opts.measureSeconds ?? 60;
  const warmupS = opts.warmupSeconds ?? 20;
  const log = opts.log ?? (() => {});
  const id = randomBytes(3).toString('hex');
  const roots = opts.agentRoots?.length ? opts.agentRoots : [opts.agentRoot ?? ROOT];
  const netns = `hwbench-${id}`;
  const node = process.execPath;
  const dir = mkdtempSync(join(tmpdir(), 'hw-bench-agent-'));
  const uidBase = freeUidBase(nTenants);
  const sleepers = new Set<number>();
  const daemons: ChildProcess[] = [];
  let churnTimer: NodeJS.Timeout | undefined;
  /** One driver per round (its own parent cgroup), for the baseline and the cleanup. */
  const drivers: CgroupDriver[] = [];
  let cleaned = false;

  /** SIGKILL whatever runs with the bench's UIDs; returns how many were found. */
  const killUidRange = (): number => {
    let found = 0;
    for (const pid of listPids('/proc')) {
      const uid = uidOf('/proc', pid);
      if (uid !== null && uid >= uidBase && uid < uidBase + nTenants) {
        found++;
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    return found;
  };
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    clearInterval(churnTimer);
    for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGTERM');
    spawner.stdin!.end(); // the spawner kills what it started at end of input
    spawner.kill('SIGTERM'); // and at once on SIGTERM, without working through lines still queued
    sleepers.clear();
    const problems: string[] = [];
    for (let i = 0; i < 50; i++) {
      killUidRange();
      if (daemons.every((d) => d.exitCode !== null || d.signalCode !== null)) break;
      await sleep(100);
    }
    for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    for (let i = 0; i < 100 && killUidRange() > 0; i++) await sleep(100);
    try {
      execFileSync('ip', ['netns', 'delete', netns], { stdio: 'ignore' });
    } catch {
      /* never made */
    }
    for (const driver of drivers) removeCgroups(driver, problems);
    rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) console.error(`agent bench cleanup: ${problems.slice(0, 5).join('; ')}`);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  /** Born and ended by a root perl process (perl-base is Essential on Debian): fork, setgid/setuid, exec sleep. */
  const spawner = spawn('perl', ['-MPOSIX', '-MConfig', '-e', SPAWNER], { stdio: ['pipe', 'pipe', 'inherit'] });
  spawner.on('error', () => {});
  let spawnerOut = '';
  /** Processes asked for and not yet started, and how many were started in all (the birth rate actually reached). */
  let outstanding = 0;
  let born = 0;
  spawner.stdout!.on('data', (d: Buffer) => {
    spawnerOut += d.toString();
    const lines = spawnerOut.split('\n');
    spawnerOut = lines.pop()!;
    for (const l of lines) {
      if (!/^\d+$/.test(l)) continue;
      sleepers.add(Number(l));
      outstanding = Math.max(0, outstanding - 1);
      born++;
    }
  });
  const spawnSleepers = (n: number): void => {
    let cmd = '';
    for (let i = 0; i < n; i++) cmd += `S ${uidBase + randomInt(0, nTenants)}\n`;
    outstanding += n;
    spawner.stdin!.write(cmd);
  };
  const killSleepers = (n: number): void => {
    const pids = [...sleepers];
    let cmd = '';
    for (let i = 0; i < n && pids.length > 0; i++) {
      const k = randomInt(0, pids.length);
      cmd += `K ${pids[k]}\n`;
      sleepers.delete(pids[k]!);
      pids[k] = pids[pids.length - 1]!;
      pids.pop();
    }
    spawner.stdin!.write(cmd);
  };

  try {
    execFileSync('ip', ['netns', 'add', netns]);
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    // An uplink with the default route, as every server has: the agent's link collector reads it (and runs
    // `tc` for its qdiscs' drops). Both ends of the veth pair stay in the namespace; no packet leaves it.
    execFileSync('ip', ['-n', netns, 'link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'uplink1']);
    for (const dev of ['uplink0', 'uplink1']) execFileSync('ip', ['-n', netns, 'link', 'set', dev, 'up']);
    execFileSync('ip', ['-n', netns, 'route', 'add', 'default', 'dev', 'uplink0']);
    const token = (f: string): string => {
      const t = randomBytes(24).toString('hex');
      writeFileSync(join(dir, f), `${t}\n`, { mode: 0o600 });
      return t;
    };
    token('admin.token');
    token('agent.token');
    writeFileSync(
      join(dir, 'controller.yaml'),
      `listen: 127.0.0.1:0\nstate_dir: ${join(dir, 'controller')}\nadmin_token_file: ${join(dir, 'admin.token')}\nagents: [ { host: bench, token_file: ${join(dir, 'agent.token')} } ]\nlog_level: info\n`,
    );
    const controller = spawn('nsenter', [`--net=/var/run/netns/${netns}`, node, join(ROOT, 'dist/controller/bin/hostwarden-controller.js'), '--config', join(dir, 'controller.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
    daemons.push(controller);
    let cout = '';
    controller.stdout!.on('data', (d: Buffer) => (cout += d.toString()));
    controller.stderr!.on('data', (d: Buffer) => (cout += d.toString()));
    const url = await (async () => {
      for (let i = 0; i < 600; i++) {
        const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(cout);
        if (m) return m[1]!;
        if (controller.exitCode !== null) break;
        await sleep(50);
      }
      throw new Error(`the controller did not start:\n${cout.slice(-2000)}`);
    })();
    log(`agent bench: controller at ${url} in netns ${netns}; ${nTenants} tenants on UIDs ${uidBase}..${uidBase + nTenants - 1}`);

    const c0 = performance.now();
    spawnSleepers(nProcs);
    while (sleepers.size < nProcs && performance.now() - c0 < 300_000) await sleep(100);
    log(`  ${sleepers.size} tenant processes started (${((performance.now() - c0) / 1000).toFixed(1)} s)`);

    const tenants = Array.from({ length: nTenants }, (_, i) => `  - { name: t${String(i).padStart(4, '0')}, users: [${uidBase + i}] }`);
    churnTimer = setInterval(() => {
      // On a loaded machine the spawner may lag: never queue more than a second's work, or the births pile up behind
      // (and the rate reached is reported instead of the one asked for).
      if (outstanding > churn) return;
      killSleepers(churn);
      spawnSleepers(churn);
    }, 1000);
    const results: AgentBenchResult[] = [];
    for (const [round, agentRoot] of roots.entries()) {
      const parent = `hostwarden-b${id}${roots.length > 1 ? `r${round}` : ''}`;
      const driver = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
      drivers.push(driver);
      if (roots.length > 1) log(`  round ${round + 1} of ${roots.length}: the agent of ${agentRoot}`);
      const stateDir = join(dir, `agent${round}`);
      writeFileSync(
        join(dir, 'agent.yaml'),
        [
          'host: bench',
          'interval: 5s',
          'placement_interval: 1s',
          `state_dir: ${stateDir}`,
          `controller: { url: "${url}", token_file: ${join(dir, 'agent.token')} }`,
          `cgroup: { parent: ${parent} }`,
          `bandwidth: { enabled: true, table: hwb${id} }`,
          'log_level: info', // one line a tick: the bench sees when start-up is over
          'tenants:',
          ...tenants,
          '',
        ].join('\n'),
      );
      // In the namespace's network, and in a mount namespace of its own whose /sys/class/net and
      // /sys/devices/virtual/net show the namespace's devices (a sysfs mounted from inside it), as a server's
      // show its own; the cgroup mounts under /sys stay as they are. Every step execs: the PID is the agent's.
      const sysfs = join(dir, 'sys');
      mkdirSync(sysfs, { recursive: true }); // the same mount point every round (each round its own mount namespace)
      const mounts = `mount -t sysfs sysfs "${sysfs}" && mount --bind "${sysfs}/class/net" /sys/class/net && mount --bind "${sysfs}/devices/virtual/net" /sys/devices/virtual/net && exec "$@"`;
      const agentArgs = [node, ...(opts.agentNodeArgs ?? []), join(agentRoot, 'dist/agent/bin/hostwarden-agent.js'), '--config', join(dir, 'agent.yaml')];
      const agent = spawn('nsenter', [`--net=/var/run/netns/${netns}`, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', mounts, 'sh', ...agentArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
      daemons.push(agent);
      let aout = '';
      agent.stdout!.on('data', (d: Buffer) => (aout += d.toString()));
      agent.stderr!.on('data', (d: Buffer) => (aout += d.toString()));
      const agentPid = agent.pid!;
      const a0 = performance.now();

      log(`  warming up at least ${warmupS} s (agent start, first full placement of ${nProcs} processes, first limits written)`);
      await sleep(warmupS * 1000);
      // Start-up (placing 5,000 strays, writing 1,000 tenants' limits) takes long on a loaded machine and happens
      // before the first tick: measure from the second tick the agent logs on.
      const ticks = (from = 0): number => (aout.slice(from).match(/"msg":"tick"/g) ?? []).length;
      for (let i = 0; i < 600 && agent.exitCode === null && ticks() < 2; i++) await sleep(1000);
      log(`  agent ticking ${((performance.now() - a0) / 1000).toFixed(0)} s after its start; measuring ${measureS} s`);
      if (agent.exitCode !== null) throw new Error(`the agent exited (${agent.exitCode}):\n${aout.slice(-3000)}`);
      // The previous round's cgroups are empty now (this agent moved every process): remove them.
      for (const d of drivers.slice(0, -1)) removeCgroups(d, [], false);

      const warnStart = aout.length;
      const born0 = born;
      const t0 = cpuTicks(agentPid);
      const w0 = performance.now();
      // The baseline: the full scan that placement ran every second, timed here every 5 s during the window.
      const passes: number[] = [];
      const names = driver.list();
      while (performance.now() - w0 < measureS * 1000) {
        await sleep(5000);
        const u0 = process.cpuUsage();
        let n = 0;
        const members = new Map<string, Set<number>>();
        for (const pid of listPids('/proc')) {
          const uid = uidOf('/proc', pid);
          if (uid === null || uid < uidBase || uid >= uidBase + nTenants) continue;
          const name = `t${String(uid - uidBase).padStart(4, '0')}`;
          let set = members.get(name);
          if (!set) {
            set = new Set(driver.procs(name));
            members.set(name, set);
          }
          if (set.has(pid)) n++;
        }
        const u = process.cpuUsage(u0);
        passes.push((u.user + u.system) / 1000);
        void n;
      }
      const wall = (performance.now() - w0) / 1000;
      const t1 = cpuTicks(agentPid);
      const self = t1.self - t0.self;
      const children = t1.children - t0.children;
      let placed = 0;
      for (const t of names) placed += driver.procs(t).length;
      const running = listPids('/proc').filter((p) => {
        const uid = uidOf('/proc', p);
        return uid !== null && uid >= uidBase && uid < uidBase + nTenants;
      }).length;
      // HW_BENCH_AGENT_LOG=FILE keeps the round's agent output (e.g. with HW_BENCH_AGENT_NODE_ARGS=--trace-gc).
      if (process.env.HW_BENCH_AGENT_LOG) writeFileSync(`${process.env.HW_BENCH_AGENT_LOG}.${round}`, aout.slice(warnStart));
      const warnings = aout
        .slice(warnStart)
        .split('\n')
        .filter((l) => /"level":[456]0/.test(l));
      const ticksSeen = ticks(warnStart);
      // Where the agent's CPU went: each tick line carries the CPU ms of its steps and of the placement timer's rounds.
      const byStep: Record<string, number> = {};
      // And how its collect step read the tenants (an agent from before the tick line carried it has none).
      const readKinds = { full: 0, light: 0, ticks: 0 };
      for (const line of aout.slice(warnStart).split('\n')) {
        if (!line.includes('"msg":"tick"')) continue;
        try {
          const tick = JSON.parse(line) as { cpu_ms?: Record<string, number>; stats_reads?: { full: number; light: number; quiet: number } };
          for (const [k, v] of Object.entries(tick.cpu_ms ?? {})) byStep[k] = (byStep[k] ?? 0) + v;
          if (tick.stats_reads) {
            readKinds.full += tick.stats_reads.full;
            readKinds.light += tick.stats_reads.light;
            readKinds.ticks++;
          }
        } catch {
          /* a partial line */
        }
      }
      passes.sort((a, b) => a - b);
      const passMs = passes[Math.floor(passes.length / 2)] ?? NaN;
      const result: AgentBenchResult = {
        kind: driver.kind,
        tenants: nTenants,
        processes: nProcs,
        churnPerSecond: churn,
        measureSeconds: Math.round(wall),
        agentPercent: (self + children) / wall, // ticks are 1/100 s: ticks per second = % of one core
        childrenPercent: children / wall,
        baselinePassMs: passMs,
        baselinePercent: passMs / 10,
        placedAtEnd: placed,
        runningAtEnd: running,
        agentWarnings: warnings,
        ticks: ticksSeen,
        stepPercent: Object.fromEntries(Object.entries(byStep).map(([k, v]) => [k, v / wall / 10])),
        loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
        goalPercent: GOAL,
        agentRoot,
        bornPerSecond: (born - born0) / wall,
      };
      results.push(result);
      // Stop this round's agent before the next one starts: two agents would move the same processes back and forth.
      agent.kill('SIGTERM');
      for (let i = 0; i < 200 && agent.exitCode === null && agent.signalCode === null; i++) await sleep(100);
      if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
      const floor = await moveFloor(driver, names[0]!);
      result.moveUsec = floor.usec;
      result.moveHierarchies = floor.hierarchies;
      result.movePercent = (floor.usec * churn) / 10_000;
      const reads = readFloor(driver, names);
      // The full and light reads of an average tick, as the agent's tick lines counted them; for an agent without
      // the count, the tenants a 5 s tick's births and exits touched (each in a tenant at random), all in full.
      const counted = readKinds.ticks > 0;
      const full = counted ? readKinds.full / readKinds.ticks : names.length * (1 - Math.exp((-2 * churn * 5) / names.length));
      const light = counted ? readKinds.light / readKinds.ticks : 0;
      Object.assign(result, {
        readCpuUsec: reads.cpuUsec,
        readFullUsec: reads.fullUsec,
        readLightUsec: reads.lightUsec,
        readFull: full,
        readLight: light,
        readCounted: counted,
        readPercent: (names.length * reads.cpuUsec + full * reads.fullUsec + light * (reads.lightUsec - reads.cpuUsec)) / 5 / 10_000,
      });
      if (roots.length > 1) printAgent(result);
    }
    return results;
  } finally {
    await cleanup();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/**
 * CPU per fresh process moved into `tenant`'s cgroup by `driver` (every hierarchy it governs): root `sleep`s
 * started here and moved once each, as placement moves a stray, then killed (the agent is stopped: nothing
 * moves them back).
 */
async function moveFloor(driver: CgroupDriver, tenant: string, n = 250): Promise<{ usec: number; hierarchies: number }> {
  const kids = Array.from({ length: n }, () => spawn('sleep', ['300'], { stdio: 'ignore' }));
  try {
    await sleep(1000);
    const pids = kids.map((k) => k.pid).filter((p): p is number => p !== undefined);
    const u0 = process.cpuUsage();
    for (const pid of pids) driver.move(tenant, pid);
    const u = process.cpuUsage(u0);
    const hierarchies = readFileSync(`/proc/${pids[0]}/cgroup`, 'utf8').split('\n').filter((l) => l.includes(`/${tenant}`)).length;
    return { usec: (u.user + u.system) / pids.length, hierarchies };
  } finally {
    await Promise.all(kids.map((k) => new Promise<void>((done) => (k.exitCode !== null || k.signalCode !== null ? done() : (k.once('exit', () => done()), k.kill('SIGKILL'))))));
  }
}

/** CPU per tenant of the agent's two kinds of stats read (its own reader, files kept open), three passes each. */
function readFloor(driver: CgroupDriver, tenants: readonly string[]): { cpuUsec: number; fullUsec: number; lightUsec: number } {
  const readers = tenants.map((t) => driver.openStats(t));
  // As the tick: no pressure file read for a resource calm on the whole host (memory and io here, usually).
  const calm = calmResources(driver.hostPressure());
  try {
    const time = (read: (r: (typeof readers)[number]) => void): number => {
      for (const r of readers) read(r); // warm: the first read of a kept file opens nothing more, but touches cold pages
      const u0 = process.cpuUsage();
      for (let pass = 0; pass < 3; pass++) for (const r of readers) read(r);
      const u = process.cpuUsage(u0);
      return (u.user + u.system) / 3 / readers.length;
    };
    return {
      cpuUsec: time((r) => (r.readActivity ? r.readActivity({ pids: false }) : r.read())),
      fullUsec: time((r) => r.read({ frozen: false, calm })),
      // CPU time, then tasks and pressure, as the tick's light read.
      lightUsec: time((r) => (r.readActivity && r.readLight ? (r.readActivity({ pids: false }), r.readLight({ calm })) : r.read({ frozen: false, calm }))),
    };
  } finally {
    for (const r of readers) r.close();
  }
}

export function printAgent(r: AgentBenchResult): void {
  if (r.agentRoot !== ROOT) console.log(`agent: measured the agent built in ${r.agentRoot}`);
  console.log(
    `agent (${r.kind}): ${r.tenants} tenants, ${r.processes} processes, ${r.churnPerSecond} born and ${r.churnPerSecond} exiting per second, ` +
      `5 s interval, 1 s placement, reporting to a controller on loopback; CPU over ${r.measureSeconds} s from /proc/PID/stat ` +
      `(children such as nft: ${r.childrenPercent.toFixed(2)}%), ${r.ticks} ticks; ${r.bornPerSecond.toFixed(0)} processes born per second while measuring`,
  );
  console.log(
    `agent: baseline full-scan placement ${r.baselinePassMs.toFixed(1)} ms CPU per pass = ${r.baselinePercent.toFixed(2)}% of one core at 1 s ` +
      `(before any cgroup read); ${r.placedAtEnd} of ${r.runningAtEnd} tenant processes in their cgroups at the end; load ${r.loadavg} (shared machine)`,
  );
  if (r.movePercent !== undefined) {
    console.log(
      `agent: the kernel's part of placement: ${r.moveUsec!.toFixed(0)} us of CPU to move a fresh process into a tenant cgroup (${r.moveHierarchies} hierarchies, ` +
        `the same driver, after the round) = ${r.movePercent.toFixed(2)}% of one core at ${r.churnPerSecond} strays a second, part of the agent's figure`,
    );
  }
  if (r.readPercent !== undefined) {
    const which = r.readCounted ? `as the agent's tick lines counted them` : `the tenants a birth or an exit touched, all in full (this agent does not count its reads)`;
    console.log(
      `agent: the kernel's part of collect (with parsing, the agent's reader, after the round): ${r.readCpuUsec!.toFixed(1)} us to read a tenant's CPU time, ` +
        `${r.readFullUsec!.toFixed(1)} us all its stats files, ${r.readLightUsec!.toFixed(1)} us its CPU time, tasks and pressure; every tenant's CPU time, ` +
        `${r.readFull!.toFixed(0)} full and ${r.readLight!.toFixed(0)} light reads a 5 s tick (${which}) = ${r.readPercent.toFixed(2)}% of one core, part of the agent's figure`,
    );
  }
  const steps = Object.entries(r.stepPercent).sort((a, b) => b[1] - a[1]);
  if (steps.length > 0) console.log(`agent: by step (% of one core, process CPU while the step ran): ${steps.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`);
  if (r.agentWarnings.length > 0) console.log(`agent: ${r.agentWarnings.length} log lines at warn or above while measuring, first: ${r.agentWarnings[0]!.slice(0, 300)}`);
  console.log(`agent: ${r.agentPercent.toFixed(2)}% of one core (goal <= ${r.goalPercent}${r.agentPercent <= r.goalPercent ? ', met' : ', NOT met'})`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const num = (name: string): number | undefined => {
    const v = process.env[name];
    return v === undefined ? undefined : Number(v);
  };
  const agentRoots = process.env.HW_BENCH_AGENT_ROOTS?.split(':').filter(Boolean);
  const common = { log: (l: string) => console.log(l), measureSeconds: num('HW_BENCH_SECONDS'), tenants: num('HW_BENCH_TENANTS'), processes: num('HW_BENCH_PROCESSES'), agentNodeArgs: process.env.HW_BENCH_AGENT_NODE_ARGS?.split(' ').filter(Boolean) };
  // HW_BENCH_AGENT_ROOTS=a:b:a:b measures those checkouts' agents in turn over the same processes (each round printed as it ends).
  (agentRoots?.length ? benchAgentRounds({ ...common, agentRoots }).then(() => undefined) : benchAgent({ ...common, agentRoot: process.env.HW_BENCH_AGENT_ROOT }).then(printAgent))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
