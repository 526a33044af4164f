// Parsers on text captured from this build machine's kernel (6.18, hybrid layout: test/fixtures/cgroup-v1 and
// test/fixtures/proc) and on text in the exact formats of cgroup-v2.rst (test/fixtures/cgroup-v2).
import { describe, expect, it } from 'vitest';
import { CgroupParseError } from '../../../../../agent/kernel/cgroup/errors.js';
import {
  flatKeyedValue,
  parseBlkioThrottle,
  parseCgroupEvents,
  parseControllerList,
  parseCpuMax,
  parseCpuStat,
  parseFlatKeyed,
  parseFreezerState,
  parseIoMax,
  parseMaxOrU64,
  parseNestedKeyed,
  parsePidList,
  parsePsi,
  parseU64,
  parseV1DeviceValues,
  parseV1Limit,
  sumBlkioThrottle,
  sumIoStat,
} from '../../../../../agent/kernel/cgroup/parse.js';
import { fixture } from '../../../../helpers/cgroup-tree.js';

const V1 = 'cgroup-v1/cgroup';
const V2 = 'cgroup-v2/cgroup/hostwarden';

describe('cpu.stat', () => {
  it('parses the unified cpu.stat of a hybrid host (no bandwidth keys)', () => {
    expect(parseCpuStat(fixture(`${V1}/unified/hostwarden/alice/cpu.stat`))).toEqual({ usageUsec: 349559, userUsec: 195104, systemUsec: 154455 });
  });

  it('parses a v2 cpu.stat with the cpu controller enabled', () => {
    expect(parseCpuStat(fixture(`${V2}/alice/cpu.stat`))).toEqual({
      usageUsec: 8754312,
      userUsec: 6012544,
      systemUsec: 2741768,
      nrPeriods: 3621,
      nrThrottled: 412,
      throttledUsec: 9832115,
    });
  });

  it('names the missing key', () => {
    expect(() => parseCpuStat('user_usec 1\nsystem_usec 2\n')).toThrow('Cannot parse cpu.stat: missing key usage_usec');
  });
});

describe('flat keyed files', () => {
  const memStat = fixture(`${V1}/memory/hostwarden/alice/memory.stat`);

  it('parses every line of a captured v1 memory.stat', () => {
    const kv = parseFlatKeyed(memStat, 'memory.stat');
    expect(kv.total_rss).toBe(30003200);
    expect(kv.total_cache).toBe(94208);
    expect(kv.hierarchical_memory_limit).toBe(536870912);
    expect(Object.keys(kv)).toHaveLength(42);
  });

  it('reports the line and its field count', () => {
    expect(() => parseFlatKeyed('cache 1\nrss 2\nswap\n', 'memory.stat')).toThrow('Cannot parse memory.stat: line 3 has 1 field');
    expect(() => parseFlatKeyed('cache 1 2\n', 'memory.stat')).toThrow('Cannot parse memory.stat: line 1 has 3 fields');
    expect(() => parseFlatKeyed('cache x\n', 'memory.stat')).toThrow(CgroupParseError);
  });

  it('finds a key only at a line start and only as a whole key', () => {
    expect(flatKeyedValue(memStat, 'rss ', 'memory.stat')).toBe(30003200);
    expect(flatKeyedValue(memStat, 'total_rss ', 'memory.stat')).toBe(30003200);
    expect(flatKeyedValue(memStat, 'rss_huge ', 'memory.stat')).toBe(0);
    expect(flatKeyedValue(memStat, 'cache ', 'memory.stat')).toBe(94208);
    expect(flatKeyedValue('total_rss 5\n', 'rss ', 'memory.stat')).toBeUndefined();
    expect(flatKeyedValue('a 1\nb 2', 'b ', 'f')).toBe(2);
    expect(() => flatKeyedValue('a x\n', 'a ', 'f')).toThrow('Cannot parse f: value of a is not an unsigned integer: "x"');
  });

  it('parses the v2 memory.stat keys the driver uses', () => {
    const kv = parseFlatKeyed(fixture(`${V2}/alice/memory.stat`), 'memory.stat');
    expect(kv.anon).toBe(201326592);
    expect(kv.file).toBe(50331648);
    expect(flatKeyedValue(fixture(`${V2}/alice/memory.stat`), 'file ', 'memory.stat')).toBe(50331648);
  });

  it('parses cgroup.events', () => {
    expect(parseCgroupEvents(fixture(`${V1}/unified/hostwarden/alice/cgroup.events`))).toEqual({ populated: true, frozen: false });
    expect(parseCgroupEvents('populated 0\nfrozen 1\n')).toEqual({ populated: false, frozen: true });
    expect(parseCgroupEvents('populated 1\n')).toEqual({ populated: true, frozen: false });
    expect(() => parseCgroupEvents('frozen 1\n')).toThrow('Cannot parse cgroup.events: missing key populated');
  });
});

describe('single values', () => {
  it('parses unsigned integers with a trailing newline', () => {
    expect(parseU64(fixture(`${V1}/cpuacct/hostwarden/alice/cpuacct.usage`), 'cpuacct.usage')).toBe(331616862);
    expect(parseU64('0\n', 'pids.current')).toBe(0);
    expect(() => parseU64('', 'pids.current')).toThrow('Cannot parse pids.current: expected an unsigned integer, got ""');
    expect(() => parseU64('-1\n', 'pids.current')).toThrow(CgroupParseError);
  });

  it('reads "max" as no limit', () => {
    expect(parseMaxOrU64('max\n', 'memory.max')).toBeNull();
    expect(parseMaxOrU64('536870912\n', 'memory.max')).toBe(536870912);
    expect(() => parseMaxOrU64('maximum\n', 'memory.max')).toThrow('Cannot parse memory.max');
  });

  it('reads the v1 spellings of no limit', () => {
    expect(parseV1Limit(fixture(`${V1}/cpu/hostwarden/bob/cpu.cfs_quota_us`), 'cpu.cfs_quota_us')).toBeNull();
    expect(parseV1Limit(fixture(`${V1}/memory/hostwarden/bob/memory.limit_in_bytes`), 'memory.limit_in_bytes')).toBeNull();
    expect(parseV1Limit(fixture(`${V1}/memory/hostwarden/alice/memory.limit_in_bytes`), 'memory.limit_in_bytes')).toBe(536870912);
    expect(parseV1Limit('50000\n', 'cpu.cfs_quota_us')).toBe(50000);
  });

  it('parses cpu.max', () => {
    expect(parseCpuMax('max 100000\n')).toEqual({ quotaUsec: null, periodUsec: 100000 });
    expect(parseCpuMax(fixture(`${V2}/alice/cpu.max`))).toEqual({ quotaUsec: 50000, periodUsec: 100000 });
    expect(() => parseCpuMax('max\n')).toThrow('Cannot parse cpu.max: expected "QUOTA PERIOD", got 1 field');
    expect(() => parseCpuMax('x 100000\n')).toThrow(CgroupParseError);
  });

  it('parses freezer.state', () => {
    expect(parseFreezerState(fixture(`${V1}/freezer/hostwarden/alice/freezer.state`))).toBe('THAWED');
    expect(parseFreezerState('FROZEN\n')).toBe('FROZEN');
    expect(parseFreezerState('FREEZING\n')).toBe('FREEZING');
    expect(() => parseFreezerState('COLD\n')).toThrow('Cannot parse freezer.state: unknown state "COLD"');
  });

  it('parses controller and PID lists', () => {
    expect(parseControllerList(fixture('cgroup-v2/cgroup/cgroup.controllers'))).toEqual(['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc']);
    expect(parseControllerList(fixture(`${V1}/unified/hostwarden/alice/cgroup.controllers`))).toEqual([]);
    expect(parsePidList(fixture(`${V2}/alice/cgroup.procs`))).toEqual([4242, 4250]);
    expect(parsePidList('')).toEqual([]);
    expect(() => parsePidList('12\nabc\n')).toThrow('Cannot parse cgroup.procs: line 2 is not a PID: "abc"');
  });
});

describe('pressure stall information', () => {
  it('parses captured host PSI (cpu has a full line since 5.13)', () => {
    expect(parsePsi(fixture('proc/pressure/io'), 'io')).toEqual({
      some: { avg10: 0.48, avg60: 0.93, avg300: 1.22, total: 7912662 },
      full: { avg10: 0.48, avg60: 0.92, avg300: 1.2, total: 7754098 },
    });
    expect(parsePsi(fixture('proc/pressure/cpu'), 'cpu').full).toEqual({ avg10: 0, avg60: 0, avg300: 0, total: 0 });
  });

  it('parses captured cgroup PSI', () => {
    expect(parsePsi(fixture(`${V1}/unified/hostwarden/alice/io.pressure`), 'io.pressure').some).toEqual({ avg10: 14.98, avg60: 4.58, avg300: 1.04, total: 2079457 });
  });

  it('accepts a file with only "some" (host cpu before 5.13)', () => {
    expect(parsePsi('some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', 'cpu')).toEqual({ some: { avg10: 0, avg60: 0, avg300: 0, total: 0 } });
  });

  it('rounds averages exactly as Number() does', () => {
    for (const v of ['0.29', '12.34', '99.99', '100.00', '3.07', '0.01']) {
      const psi = parsePsi(`some avg10=${v} avg60=${v} avg300=${v} total=1\n`, 'cpu');
      expect(psi.some.avg10).toBe(Number(v));
    }
  });

  it('names what is wrong', () => {
    expect(() => parsePsi('some avg10=0.00 avg60=0.00 total=0\n', 'cpu.pressure')).toThrow('Cannot parse cpu.pressure: line 1 has no avg300');
    expect(() => parsePsi('avg10=0.00\n', 'cpu.pressure')).toThrow('Cannot parse cpu.pressure: line 1 starts with neither "some" nor "full"');
    expect(() => parsePsi('full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n', 'cpu.pressure')).toThrow('Cannot parse cpu.pressure: no "some" line');
    expect(() => parsePsi('some avg10=x avg60=0.00 avg300=0.00 total=0\n', 'cpu.pressure')).toThrow('avg10 is not a number: "x"');
  });
});

describe('io.stat and io.max', () => {
  const ioStat = fixture(`${V2}/alice/io.stat`);

  it('sums the example of cgroup-v2.rst over its devices', () => {
    expect(sumIoStat(ioStat)).toEqual({ rbytes: 1459200 + 90430464, wbytes: 314773504 + 299008000, rios: 192 + 8950, wios: 353 + 1252 });
  });

  it('ignores keys it does not sum and empty files', () => {
    expect(sumIoStat('259:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=5 dios=1 cost.vrate=100.00 cost.usage=3\n')).toEqual({ rbytes: 10, wbytes: 20, rios: 1, wios: 2 });
    expect(sumIoStat('')).toEqual({ rbytes: 0, wbytes: 0, rios: 0, wios: 0 });
  });

  it('rejects malformed lines', () => {
    expect(() => sumIoStat('8:0\n')).toThrow('Cannot parse io.stat: line 1 has 1 field');
    expect(() => sumIoStat('8:0 rbytes\n')).toThrow('Cannot parse io.stat: line 1: "rbytes" is not key=value');
  });

  it('parses nested keyed lines generally', () => {
    expect(parseNestedKeyed(ioStat, 'io.stat')[1]).toEqual({
      key: '8:0',
      values: { rbytes: '90430464', wbytes: '299008000', rios: '8950', wios: '1252', dbytes: '50331648', dios: '3021' },
    });
  });

  it('parses io.max, leaving max fields out', () => {
    expect(parseIoMax(fixture(`${V2}/alice/io.max`))).toEqual([{ major: 8, minor: 0, rbps: 10485760, wiops: 120 }]);
    expect(parseIoMax('')).toEqual([]);
    expect(() => parseIoMax('sda rbps=1\n')).toThrow('Cannot parse io.max: "sda" is not a MAJ:MIN device number');
  });
});

describe('v1 blkio', () => {
  const bytes = fixture(`${V1}/blkio/hostwarden/alice/blkio.throttle.io_service_bytes_recursive`);
  const ios = fixture(`${V1}/blkio/hostwarden/alice/blkio.throttle.io_serviced_recursive`);

  it('parses the captured throttle stats per device', () => {
    const b = parseBlkioThrottle(bytes, 'blkio.throttle.io_service_bytes_recursive');
    expect(b.devices['254:0']).toEqual({ Read: 42123264, Write: 41943040, Sync: 126009344, Async: 0, Discard: 41943040, Total: 126009344 });
    expect(b.total).toBe(142786560);
  });

  it('sums Read and Write over devices', () => {
    expect(sumBlkioThrottle(bytes, 'x')).toEqual({ read: 16777216 + 42123264, write: 41943040 });
    expect(sumBlkioThrottle(ios, 'x')).toEqual({ read: 32 + 54, write: 72 });
    expect(sumBlkioThrottle(fixture(`${V1}/blkio/hostwarden/bob/blkio.throttle.io_serviced_recursive`), 'x')).toEqual({ read: 64, write: 0 });
    expect(sumBlkioThrottle('Total 0\n', 'x')).toEqual({ read: 0, write: 0 });
  });

  it('rejects malformed lines', () => {
    expect(() => sumBlkioThrottle('8:0 Read\n', 'blkio.throttle.io_serviced')).toThrow('Cannot parse blkio.throttle.io_serviced: line 1 has 2 fields');
    expect(() => sumBlkioThrottle('8:0\n', 'blkio.throttle.io_serviced')).toThrow('line 1 has 1 field');
    expect(() => sumBlkioThrottle('8:0 Read x\n', 'f')).toThrow('Cannot parse f: line 1: "x" is not an unsigned integer');
    expect(() => parseBlkioThrottle('8:0 Read 1 2\n', 'f')).toThrow('Cannot parse f: line 1 has 4 fields');
  });

  it('parses device limit files', () => {
    expect(parseV1DeviceValues(fixture(`${V1}/blkio/hostwarden/alice/blkio.throttle.read_bps_device`), 'f')).toEqual([{ major: 254, minor: 0, value: 10485760 }]);
    expect(parseV1DeviceValues('', 'f')).toEqual([]);
    expect(() => parseV1DeviceValues('254:0\n', 'read_bps_device')).toThrow('Cannot parse read_bps_device: line 1 has 1 field');
  });
});
