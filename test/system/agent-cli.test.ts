// The built agent binary's command line: bad config exits 2 naming the key; usage errors exit 2; help is 0.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cleanup, runProgram, tempDir } from '../helpers/system.js';

const AGENT = 'agent/bin/hostwarden-agent.js';

describe('hostwarden-agent command line', () => {
  const cleanup = new Cleanup();
  const dir = tempDir(cleanup, 'hw-cli-');
  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it.each([
    ['plans:\n  basic: { memory: lots }\n', 'plans.basic.memory', /invalid size "lots"/],
    ['interval: soon\n', 'interval', /invalid duration/],
    ['tenants:\n  - { name: alice, users: [alice], plan: gold }\n', 'tenants[0].plan', /unknown plan "gold"/],
    ['intervall: 5s\n', 'intervall', /unknown key/],
    ['tenants:\n  - { name: alice, users: [alice], homes: [/home/alice, ../etc] }\n', 'tenants[0].homes[1]', /"\.\.\/etc" is not an absolute path/],
    ['interval: [5s\n', '(yaml)', /not valid YAML/],
  ])('exits 2 and names the key for %j', (yaml, key, message) => {
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, yaml);
    const r = runProgram(AGENT, ['--config', file, '--once']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`config key "${key}"`);
    expect(r.stderr).toMatch(message);
  });

  it('exits 2 for a missing explicit config file and for an unknown flag; 0 for --help', () => {
    const missing = runProgram(AGENT, ['--config', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read .*nope\.yaml/);
    const flag = runProgram(AGENT, ['--frobnicate']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/Unknown option '--frobnicate'/);
    const help = runProgram(AGENT, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--release-all/);
  });
});
