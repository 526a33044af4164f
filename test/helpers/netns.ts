// A test host of the test's own: a network namespace joined to the root namespace by a veth pair, both ends
// addressed from a /30 of the benchmarking range 198.18.0.0/15 (RFC 2544) chosen at random per run and checked
// to be unused on this machine. Traffic between the two ends never leaves the pair, so a test can talk to an
// address that is not loopback without sending anything to the machine's network. Needs root and ip.
// Removed at cleanup (whatever still runs in the namespace killed by its pid), even when the test fails.
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { type Cleanup, type Daemon, NODE, ROOT, spawnDaemon, uniq } from './system.js';

export interface TestNetns {
  /** The namespace's name (`ip netns list`). */
  name: string;
  /** The veth end in the root namespace, and its address: what a server in the namespace sees as its peer. */
  rootLink: string;
  rootAddress: string;
  /** The veth end inside the namespace, and its address: the test host's address. */
  nsLink: string;
  nsAddress: string;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

/** The IPv4 addresses this machine has or routes to explicitly, as dotted quads found in `ip` output. */
function usedIpv4(): Set<string> {
  const text = ip(['-4', '-o', 'addr', 'show']) + ip(['-4', 'route', 'show', 'table', 'all']);
  return new Set(text.match(/\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b/g) ?? []);
}

/** A /30 of 198.18.0.0/15 whose four addresses this machine neither has nor routes to explicitly. */
function freeBlock(): [network: string, root: string, ns: string, broadcast: string] {
  const used = usedIpv4();
  for (let i = 0; i < 50; i++) {
    const block = randomInt(0, 1 << 15) * 4; // offset within 198.18.0.0/15 (2^17 addresses)
    const quad = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
    const four = [0, 1, 2, 3].map((k) => quad(block + k)) as [string, string, string, string];
    if (four.every((a) => !used.has(a))) return four;
  }
  throw new Error('no free /30 in 198.18.0.0/15 after 50 tries');
}

/** Names that exist now: namespaces (`ip netns list`) and links (`ip -o link`). */
export function netnsLeftovers(ns: TestNetns): string[] {
  const left: string[] = [];
  if (ip(['netns', 'list']).split('\n').some((l) => l.split(' ')[0] === ns.name)) left.push(`netns ${ns.name}`);
  for (const link of [ns.rootLink, ns.nsLink]) {
    if (new RegExp(`^\\d+: ${link}[@:]`, 'm').test(ip(['-o', 'link', 'show']))) left.push(`link ${link}`);
  }
  return left;
}


/** A network namespace, deleted at cleanup after anything the test left running inside (by pid), so its veth ends go with it. */
function addNetns(cleanup: Cleanup, name: string): void {
  ip(['netns', 'add', name]);
  cleanup.add(`ip netns del ${name}`, async () => {
    for (let i = 0; i < 50; i++) {
      const pids = ip(['netns', 'pids', name]).split('\n').filter(Boolean).map(Number);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    ip(['netns', 'del', name]);
  });
}

/** Make the namespace and the veth pair; both removed at cleanup. */
export function createTestNetns(cleanup: Cleanup, prefix: string): TestNetns {
  const name = `${prefix}-${process.pid}-${uniq('')}`;
  const id = uniq('hwv'); // interface names have at most 15 characters
  const [, rootAddress, nsAddress] = freeBlock();
  const ns: TestNetns = { name, rootLink: `${id}r`, rootAddress, nsLink: `${id}n`, nsAddress };

  addNetns(cleanup, name);
  ip(['link', 'add', ns.rootLink, 'type', 'veth', 'peer', 'name', ns.nsLink, 'netns', name]);
  cleanup.add(`ip link del ${ns.rootLink}`, () => {
    if (netnsLeftovers(ns).includes(`link ${ns.rootLink}`)) ip(['link', 'del', ns.rootLink]);
  });
  // No IPv6 link-local addresses: nothing but the test's own IPv4 crosses the pair.
  ip(['link', 'set', ns.rootLink, 'addrgenmode', 'none']);
  ip(['-n', name, 'link', 'set', ns.nsLink, 'addrgenmode', 'none']);
  ip(['addr', 'add', `${rootAddress}/30`, 'dev', ns.rootLink]);
  ip(['-n', name, 'addr', 'add', `${nsAddress}/30`, 'dev', ns.nsLink]);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
  ip(['-n', name, 'link', 'set', ns.nsLink, 'up']);
  ip(['link', 'set', ns.rootLink, 'up']);
  return ns;
}

/** A built program (dist/...) on the pinned runtime inside the namespace; stopped at cleanup like startDaemon's. */
export function startDaemonInNetns(cleanup: Cleanup, ns: TestNetns, script: string, args: string[]): Daemon {
  // `ip netns exec` execs the command: the child's pid is the program's, so SIGTERM reaches it.
  return spawnDaemon(cleanup, 'ip', ['netns', 'exec', ns.name, NODE, join(ROOT, 'dist', script), ...args], process.env);
}

/** Two namespaces of the test's own joined by a veth pair, IPv4 and IPv6: a host and the network it talks to. */
export interface TestNetnsPair {
  /** The "host": where the agent's tables and qdiscs go and tenants' programs run. */
  host: string;
  hostLink: string;
  /** The far end: servers the tenants talk to. */
  peer: string;
  peerLink: string;
  peer4: string;
  peer6: string;
  host4: string;
  host6: string;
}

/**
 * Make the pair (removed at cleanup, whatever runs inside killed first). Nothing touches the root namespace:
 * IPv4 from a /30 of 198.18.0.0/15, IPv6 from a random /64 of the unique local range (fd00::/8), no DAD, no
 * link-local addresses, so only the test's own traffic crosses the pair.
 */
export function createTestNetnsPair(cleanup: Cleanup, prefix: string): TestNetnsPair {
  const id = uniq('hwp');
  const host = `${prefix}-h-${process.pid}-${uniq('')}`;
  const peer = `${prefix}-p-${process.pid}-${uniq('')}`;
  const block = randomInt(0, 1 << 15) * 4;
  const quad = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
  const ula = `fd${randomInt(0, 256).toString(16).padStart(2, '0')}:${randomInt(0, 65536).toString(16)}:${randomInt(0, 65536).toString(16)}:${randomInt(0, 65536).toString(16)}`;
  const pair: TestNetnsPair = { host, hostLink: `${id}h`, peer, peerLink: `${id}p`, host4: quad(block + 1), peer4: quad(block + 2), host6: `${ula}::1`, peer6: `${ula}::2` };
  for (const ns of [peer, host]) {
    addNetns(cleanup, ns);
  }
  ip(['-n', host, 'link', 'add', pair.hostLink, 'type', 'veth', 'peer', 'name', pair.peerLink, 'netns', peer]);
  for (const [ns, link, a4, a6] of [[host, pair.hostLink, pair.host4, pair.host6], [peer, pair.peerLink, pair.peer4, pair.peer6]] as const) {
    ip(['-n', ns, 'link', 'set', link, 'addrgenmode', 'none']);
    ip(['-n', ns, 'addr', 'add', `${a4}/30`, 'dev', link]);
    ip(['-n', ns, '-6', 'addr', 'add', `${a6}/64`, 'dev', link, 'nodad']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'link', 'set', link, 'up']);
  }
  return pair;
}
