// host: CPU use (from /proc/stat) and memory in use (from /proc/meminfo) for shares and saturation.
// Static facts (cores, total memory) are read once at start by hostFacts().
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { HostStats } from '../../shared/wire/agent.js';
import { parseMeminfo, parseProcStatCpu } from '../kernel/procfs.js';
import type { CollectContext, Collector } from './collector.js';

export function hostFacts(procRoot: string): HostStats {
  return { cores: availableParallelism(), memory_bytes: parseMeminfo(readFileSync(`${procRoot}/meminfo`, 'utf8')).totalBytes };
}

export class HostCollector implements Collector {
  readonly name = 'host';
  private prev: { busy: number; total: number } | undefined;

  constructor(private readonly procRoot: string) {}

  collect(ctx: CollectContext): void {
    const cpu = parseProcStatCpu(readFileSync(`${this.procRoot}/stat`, 'utf8'));
    if (this.prev && cpu.total > this.prev.total && cpu.busy >= this.prev.busy) {
      const frac = (cpu.busy - this.prev.busy) / (cpu.total - this.prev.total);
      ctx.host.cpu_percent = Math.round(frac * ctx.host.cores * 100 * 100) / 100;
    }
    this.prev = cpu;
    const mem = parseMeminfo(readFileSync(`${this.procRoot}/meminfo`, 'utf8'));
    ctx.host.memory_used = mem.totalBytes - mem.availableBytes;
  }
}
