// The tenant's top processes at the moment of a decision: pid, command line, cpu %, rss, read from /proc
// for the PIDs of that tenant's cgroup only. CPU % is measured over a short interval between two reads.
import { readFileSync } from 'node:fs';
import type { TopProcess } from '../../shared/wire/agent.js';
import { readCommandLine } from '../bounds.js';
import { parseProcStat, type ProcStat } from './procfs.js';

const CLK_TCK = 100; // USER_HZ on every Linux architecture we ship for
const PAGE_SIZE = 4096;

function readStats(procRoot: string, pids: readonly number[]): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const pid of pids) {
    try {
      out.set(pid, parseProcStat(readFileSync(`${procRoot}/${pid}/stat`, 'utf8')));
    } catch {
      /* exited */
    }
  }
  return out;
}

/**
 * The top processes of several tenants at once: every tenant's PIDs are sampled twice `spanMs` apart (one
 * wait for all), ranked by cpu, then rss.
 */
export async function topProcesses(procRoot: string, pidsOf: ReadonlyMap<string, () => number[]>, limit = 5, spanMs = 250): Promise<Map<string, TopProcess[]>> {
  const first = new Map([...pidsOf].map(([t, pids]) => [t, readStats(procRoot, pids())]));
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, spanMs));
  const seconds = (performance.now() - t0) / 1000;
  const out = new Map<string, TopProcess[]>();
  for (const [tenant, pids] of pidsOf) {
    const before = first.get(tenant)!;
    const rows: TopProcess[] = [];
    for (const [pid, s] of readStats(procRoot, pids())) {
      const b = before.get(pid);
      const ticks = b && b.starttime === s.starttime ? s.ticks - b.ticks : 0;
      rows.push({
        pid,
        command: readCommandLine(procRoot, pid, s.comm),
        cpu_percent: Math.round((ticks / CLK_TCK / seconds) * 1000) / 10,
        rss_bytes: s.rssPages * PAGE_SIZE,
      });
    }
    rows.sort((a, b) => b.cpu_percent - a.cpu_percent || b.rss_bytes - a.rss_bytes);
    out.set(tenant, rows.slice(0, limit));
  }
  return out;
}
