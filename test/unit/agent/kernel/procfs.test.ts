import { describe, expect, it } from 'vitest';
import { findCgroupMounts } from '../../../../agent/kernel/cgroup/detect.js';
import { parseMeminfo, parseMountinfo, parseProcCgroup, parseProcStat, parseProcStatCpu, ProcParseError } from '../../../../agent/kernel/procfs.js';
import { fixture } from '../../../helpers/cgroup-tree.js';

describe('procfs parsers', () => {
  it('parses /proc/PID/stat with spaces and parentheses in comm', () => {
    const text = '4242 (php-fpm: pool (www)) R 4200 4242 4242 0 -1 4194560 1234 0 0 0 700 300 0 0 20 0 3 0 987654 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n';
    expect(parseProcStat(text)).toEqual({ pid: 4242, comm: 'php-fpm: pool (www)', state: 'R', ppid: 4200, flags: 4194560, ticks: 1000, starttime: 987654, rssPages: 2560 });
    expect(() => parseProcStat('garbage')).toThrow(/Cannot parse \/proc\/PID\/stat/);
    expect(() => parseProcStat('garbage')).toThrow(ProcParseError);
  });

  it('parses meminfo and the cpu line of /proc/stat', () => {
    expect(parseMeminfo('MemTotal:       24684084 kB\nMemFree:        23000000 kB\nMemAvailable:   23500000 kB\n')).toEqual({ totalBytes: 24684084 * 1024, availableBytes: 23500000 * 1024 });
    expect(parseProcStatCpu('cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n')).toEqual({ busy: 161, total: 1181 });
    expect(() => parseProcStatCpu('intr 1 2 3\n')).toThrow(/first line/);
  });
});

describe('/proc/PID/cgroup', () => {
  it('parses a captured hybrid process', () => {
    const lines = parseProcCgroup(fixture('proc/4242/cgroup'));
    expect(lines).toHaveLength(10);
    expect(lines[0]).toEqual({ id: 9, controllers: ['name=systemd'], path: '/' });
    expect(lines.find((l) => l.controllers.includes('cpu'))).toEqual({ id: 1, controllers: ['cpu'], path: '/hostwarden/alice' });
    expect(lines.at(-1)).toEqual({ id: 0, controllers: [], path: '/hostwarden/alice' });
  });

  it('parses co-mounted controllers and paths with colons', () => {
    expect(parseProcCgroup('4:cpu,cpuacct:/a:b\n')).toEqual([{ id: 4, controllers: ['cpu', 'cpuacct'], path: '/a:b' }]);
  });

  it('rejects malformed lines', () => {
    expect(() => parseProcCgroup('0:/x\n')).toThrow('Cannot parse cgroup: line 1 is not "ID:CONTROLLERS:PATH"');
  });
});

describe('mountinfo', () => {
  it('parses the captured hybrid mount table and finds each hierarchy', () => {
    const entries = parseMountinfo(fixture('proc/self/mountinfo'));
    const cg = entries.find((e) => e.mountPoint === '/sys/fs/cgroup/cpu')!;
    expect(cg).toMatchObject({ fsType: 'cgroup', root: '/', superOptions: ['rw', 'cpu'] });
    const mounts = findCgroupMounts(entries);
    expect(mounts.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(mounts.v1.cpu?.mountPoint).toBe('/sys/fs/cgroup/cpu');
    expect(mounts.v1.cpuacct?.mountPoint).toBe('/sys/fs/cgroup/cpuacct');
    expect(mounts.v1.freezer?.mountPoint).toBe('/sys/fs/cgroup/freezer');
    expect(Object.keys(mounts.v1).sort()).toEqual(['blkio', 'cpu', 'cpuacct', 'cpuset', 'devices', 'freezer', 'memory', 'pids']);
  });

  it('parses a pure v2 mount table with optional fields', () => {
    const entries = parseMountinfo(fixture('cgroup-v2/proc/self/mountinfo'));
    expect(entries.find((e) => e.fsType === 'cgroup2')).toMatchObject({ mountPoint: '/sys/fs/cgroup', superOptions: ['rw', 'nsdelegate', 'memory_recursiveprot'] });
    expect(findCgroupMounts(entries)).toEqual({ unified: { mountPoint: '/sys/fs/cgroup', root: '/' }, v1: {} });
  });

  it('finds co-mounted controllers and ignores named hierarchies', () => {
    const mounts = findCgroupMounts(parseMountinfo(fixture('cgroup-v1/mountinfo-comounted')));
    expect(mounts.v1.cpu?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(mounts.v1.cpuacct?.mountPoint).toBe('/sys/fs/cgroup/cpu,cpuacct');
    expect(mounts.v1.net_cls?.mountPoint).toBe('/sys/fs/cgroup/net_cls,net_prio');
    expect(Object.values(mounts.v1).some((m) => m.mountPoint.endsWith('systemd'))).toBe(false);
    expect(mounts.unified?.mountPoint).toBe('/sys/fs/cgroup/unified');
  });

  it('unescapes octal escapes in paths', () => {
    const [e] = parseMountinfo('40 31 0:37 /a\\040b /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n');
    expect(e).toMatchObject({ root: '/a b', mountPoint: '/mnt/my cgroup' });
  });

  it('rejects a line without the separator', () => {
    expect(() => parseMountinfo('1 2 0:3 / /x rw a b c d e\n')).toThrow('Cannot parse mountinfo: line 1 has 11 fields, expected at least 10 with a "-" separator');
    expect(() => parseMountinfo('garbage\n')).toThrow(expect.objectContaining({ code: 'HW_PROC_PARSE', file: 'mountinfo' }));
  });
});
