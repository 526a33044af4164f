import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/errors.js';
import { loadAgentConfig, readAgentConfig } from '../../../agent/config.js';
import { agentConfigError } from '../../helpers/config.js';

const errorOf = agentConfigError;

describe('agent config', () => {
  it('has a default for every key', () => {
    const c = readAgentConfig({});
    expect(c.intervalMs).toBe(5000);
    expect(c.placementIntervalMs).toBe(1000);
    expect(c.stateDir).toBe('/var/lib/hostwarden');
    expect(c.uidMin).toBe(1000);
    expect(c.controller).toEqual({ url: 'http://127.0.0.1:8640', tokenFile: '/etc/hostwarden/agent.token', timeoutMs: 5000 });
    expect(c.cgroup).toEqual({ root: '/sys/fs/cgroup', parent: 'hostwarden', driver: 'auto', releaseTo: '/', enableRootControllers: true, systemd: 'auto' });
    expect(c.discovery.enabled).toBe(false);
    expect(c.enforce).toBe(true);
    expect(c.policy.windowMs).toBe(30_000);
    expect(c.host.length).toBeGreaterThan(0);
  });

  it('reads the DESIGN example', () => {
    const c = readAgentConfig({
      host: 'web01',
      interval: '5s',
      state_dir: '/var/lib/hostwarden',
      controller: { url: 'http://127.0.0.1:8640', token_file: '/etc/hostwarden/agent.token' },
      tenants: [{ name: 'alice', users: ['alice'], email: 'alice@example.com', plan: 'basic' }],
      plans: { basic: { cpu: 100, memory: '1G', io_read: '10M', io_write: '10M', iops: 1000, processes: 100, weight: 1 } },
    });
    expect(c.host).toBe('web01');
    expect(c.tenants).toEqual([{ name: 'alice', users: ['alice'], email: 'alice@example.com', plan: 'basic' }]);
    expect(c.plans.basic).toEqual({ cpu: 100, memory: 1024 ** 3, io_read: 10 * 1024 ** 2, io_write: 10 * 1024 ** 2, iops: 1000, processes: 100, weight: 1 });
  });

  it.each([
    [{ interval: 'soon' }, 'interval', /invalid duration "soon"/],
    [{ interval: '10ms' }, 'interval', /at least 100ms/],
    [{ plans: { basic: { memory: 'lots' } } }, 'plans.basic.memory', /invalid size "lots"/],
    [{ plans: { basic: { cpu: 'fast' } } }, 'plans.basic.cpu', /must be a number/],
    [{ plans: { basic: { cpu: 100, disk: 5 } } }, 'plans.basic.disk', /unknown key/],
    [{ tenants: [{ name: 'alice', users: ['alice'], plan: 'gold' }] }, 'tenants[0].plan', /unknown plan "gold"/],
    [{ tenants: [{ users: ['alice'] }] }, 'tenants[0].name', /is required/],
    [{ tenants: [{ name: 'a/b', users: ['x'] }] }, 'tenants[0].name', /may only contain/],
    [{ tenants: [{ name: 'root', users: [0] }] }, 'tenants[0].users[0]', /below uid_min/],
    [{ tenants: [{ name: 'a', users: ['a'] }, { name: 'a', users: ['b'] }] }, 'tenants[1].name', /listed twice/],
    [{ controller: { url: 'ftp://x' } }, 'controller.url', /not an http/],
    [{ cgroup: { driver: 'v3' } }, 'cgroup.driver', /one of auto, v1, v2/],
    [{ policy: { throttle: { level1: 0.2, level2: 0.5 } } }, 'policy.throttle.level2', /not be above level1/],
    [{ intervall: '5s' }, 'intervall', /unknown key/],
    [{ tenants: 'alice' }, 'tenants', /must be a list/],
    [{ plans: { basic: { inodes: 0 } } }, 'plans.basic.inodes', /within 1\.\./],
    [{ plans: { basic: { inodes: 10.5 } } }, 'plans.basic.inodes', /whole number/],
    [{ plans: { basic: { inodes: 2 ** 51 } } }, 'plans.basic.inodes', /within/],
    [{ inodes: { warn: 0.8, release: 0.9 } }, 'inodes.release', /below warn/],
    [{ inodes: { warn: 1.5 } }, 'inodes.warn', /at most 1/],
    [{ io_capacity: { read: 'fast' } }, 'io_capacity.read', /./],
    [{ io_capacity: { write: 2 ** 51 } }, 'io_capacity.write', /at most/],
    [{ io_capacity: { iops: 0 } }, 'io_capacity.iops', /at least 1/],
    [{ io_capacity: { reads: '500M' } }, 'io_capacity.reads', /./],
  ])('%j fails naming %s', (raw, key, msg) => {
    const err = errorOf(raw);
    expect(err.key).toBe(key);
    expect(err.message).toMatch(msg);
    expect(err.message).toContain(`"${key}"`);
  });

  it('inode caps: the plan key and the inodes section', () => {
    const c = readAgentConfig({ plans: { basic: { inodes: 250_000 } } });
    expect(c.plans.basic).toEqual({ inodes: 250_000, weight: 1 });
    expect(c.inodes).toEqual({ enabled: true, refreshMs: 600_000, warn: 0.9, release: 0.85, quota: true });
    expect(readAgentConfig({ inodes: { warn: 0.95, release: 0.5, quota: false } }).inodes).toMatchObject({ warn: 0.95, release: 0.5, quota: false });
  });

  it("io_capacity: the disks' capacity for the fairness ledger's io share; a part not given is 0 (left out)", () => {
    expect(readAgentConfig({}).ioCapacity).toBeUndefined();
    expect(readAgentConfig({ io_capacity: {} }).ioCapacity).toBeUndefined();
    expect(readAgentConfig({ io_capacity: { read: '500M', write: '200M', iops: 20_000 } }).ioCapacity).toEqual({ read_bps: 500 * 2 ** 20, write_bps: 200 * 2 ** 20, iops: 20_000 });
    expect(readAgentConfig({ io_capacity: { iops: 5000 } }).ioCapacity).toEqual({ read_bps: 0, write_bps: 0, iops: 5000 });
  });

  it('names the file when it cannot be read or parsed', () => {
    expect(() => loadAgentConfig('/nonexistent/agent.yaml')).toThrow(/cannot read \/nonexistent\/agent.yaml/);
    const dir = mkdtempSync(join(tmpdir(), 'hw-cfg-'));
    try {
      const bad = join(dir, 'agent.yaml');
      writeFileSync(bad, 'interval: [5s\n');
      expect(() => loadAgentConfig(bad)).toThrow(/not valid YAML/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
