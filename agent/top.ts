// The tenant's top processes at the moment of a decision: pid, command line, cpu %, rss, read from /proc
// for the PIDs of that tenant's cgroup only. CPU % is measured over a short interval between two reads.
import { readFileSync } from 'node:fs';
import type { TopProcess } from '../shared/wire.js';
import { parseProcStat, readCmdline, type ProcStat } from './procfs.js';

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

/** Sample twice `spanMs` apart and rank by cpu, then rss. */
export async function topProcesses(procRoot: string, pids: () => number[], limit = 5, spanMs = 250): Promise<TopProcess[]> {
  const first = readStats(procRoot, pids());
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, spanMs));
  const second = readStats(procRoot, pids());
  const seconds = (performance.now() - t0) / 1000;
  const rows: TopProcess[] = [];
  for (const [pid, s] of second) {
    const before = first.get(pid);
    const ticks = before && before.starttime === s.starttime ? s.ticks - before.ticks : 0;
    rows.push({
      pid,
      command: readCmdline(procRoot, pid, s.comm).slice(0, 4096),
      cpu_percent: Math.round((ticks / CLK_TCK / seconds) * 1000) / 10,
      rss_bytes: s.rssPages * PAGE_SIZE,
    });
  }
  rows.sort((a, b) => b.cpu_percent - a.cpu_percent || b.rss_bytes - a.rss_bytes);
  return rows.slice(0, limit);
}
