import { describe, expect, it } from 'vitest';
import { parseMeminfo, parseProcStat, parseProcStatCpu } from '../../../../agent/kernel/procfs.js';

describe('procfs parsers', () => {
  it('parses /proc/PID/stat with spaces and parentheses in comm', () => {
    const text = '4242 (php-fpm: pool (www)) R 4200 4242 4242 0 -1 4194560 1234 0 0 0 700 300 0 0 20 0 3 0 987654 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n';
    expect(parseProcStat(text)).toEqual({ pid: 4242, comm: 'php-fpm: pool (www)', state: 'R', ppid: 4200, flags: 4194560, ticks: 1000, starttime: 987654, rssPages: 2560 });
    expect(() => parseProcStat('garbage')).toThrow(/Cannot parse \/proc\/PID\/stat/);
  });

  it('parses meminfo and the cpu line of /proc/stat', () => {
    expect(parseMeminfo('MemTotal:       24684084 kB\nMemFree:        23000000 kB\nMemAvailable:   23500000 kB\n')).toEqual({ totalBytes: 24684084 * 1024, availableBytes: 23500000 * 1024 });
    expect(parseProcStatCpu('cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n')).toEqual({ busy: 161, total: 1181 });
    expect(() => parseProcStatCpu('intr 1 2 3\n')).toThrow(/first line/);
  });
});
