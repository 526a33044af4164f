import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../shared/errors.js';
import { closest, parseLine, type CommandSpec } from '../../../ctl/args.js';
import { COMMANDS } from '../../../ctl/main.js';
import { durationValue, HOST_NAME, intValue, TENANT_NAME, tenantValue, timeValue } from '../../../ctl/values.js';
import { HostNameSchema, TenantNameSchema } from '../../../shared/wire/agent.js';

const usage: CommandSpec = {
  name: 'usage',
  summary: 'usage',
  args: [{ name: 'TENANT', help: 'tenant name' }],
  options: [
    { name: 'since', type: 'string', value: 'TIME', help: '' },
    { name: 'open', type: 'boolean', help: '' },
  ],
};
const hosts: CommandSpec = { name: 'hosts', summary: 'hosts', args: [], options: [] };
const throttle: CommandSpec = { name: 'throttle', summary: '', args: [{ name: 'TENANT', help: 'tenant name' }], options: [{ name: 'ttl', type: 'string', help: '' }] };
const commands = [usage, hosts, throttle];

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no UsageError');
}

describe('command line', () => {
  it('takes global options before and after the command, and --opt=value as well as --opt value', () => {
    const p = parseLine(['--url', 'http://h:1', 'usage', 'alice', '--since=7d', '--json', '--token-file', '/t', '--open'], commands);
    expect(p.command?.name).toBe('usage');
    expect(p.args).toEqual(['alice']);
    expect(p.options).toEqual({ since: '7d', open: true });
    expect(p.global).toEqual({ url: 'http://h:1', json: true, 'token-file': '/t' });
    expect(p.help).toBe(false);
  });

  it('knows help in all its forms', () => {
    expect(parseLine([], commands)).toMatchObject({ command: undefined, help: false });
    expect(parseLine(['--help'], commands)).toMatchObject({ command: undefined, help: true });
    expect(parseLine(['-h', 'usage'], commands)).toMatchObject({ command: usage, help: true });
    expect(parseLine(['usage', '--help'], commands)).toMatchObject({ command: usage, help: true });
    expect(parseLine(['help', 'usage'], commands)).toMatchObject({ command: usage, help: true });
    // help needs no arguments of the command
    expect(parseLine(['throttle', '--help'], commands).help).toBe(true);
  });

  it('takes arguments that look like options after --, and a value starting with one dash', () => {
    expect(parseLine(['usage', '--since', '-5', '--', '--odd'], commands)).toMatchObject({ args: ['--odd'], options: { since: '-5' } });
  });

  it.each([
    [['frob'], 'unknown command "frob"'],
    [['tenant'], 'unknown command "tenant"'],
    [['usag'], 'unknown command "usag" (did you mean "usage"?)'],
    [['usage'], 'usage: TENANT is missing (tenant name)'],
    [['usage', 'a', 'b'], 'usage: unexpected argument "b"'],
    [['hosts', 'x'], 'hosts: unexpected argument "x" (it takes none)'],
    [['usage', 'a', '--sinc', '1h'], 'usage: unknown option "--sinc" (did you mean --since?)'],
    [['usage', 'a', '--ttl', '1h'], 'usage takes no --ttl (throttle does)'],
    [['--since', '1h', 'usage', 'a'], '--since belongs to usage: put it after the command\'s name'],
    [['usage', 'a', '--since'], '--since needs a value (TIME)'],
    [['usage', 'a', '--since', '--open'], '--since needs a value (TIME)'],
    [['usage', 'a', '--since='], '--since needs a value (TIME), got an empty one'],
    [['usage', 'a', '--open=yes'], '--open takes no value (got "--open=yes")'],
    [['-x'], 'unknown option "-x"'],
    [['-xy'], 'unknown option "-xy" (long options start with two dashes)'],
  ])('refuses %j: %s', (argv, message) => {
    expect(usageError(() => parseLine(argv, commands))).toContain(message);
  });

  it('suggests the nearest name within two edits only', () => {
    expect(closest('tenats', ['tenants', 'tenant', 'hosts'])).toBe('tenants');
    expect(closest('--sicne', ['--since', '--step'])).toBe('--since');
    expect(closest('zzzz', ['tenants', 'hosts'])).toBeUndefined();
  });

  it('has every command of issue 4 item 8, listed first, each with a summary', () => {
    expect(COMMANDS.slice(0, 10).map((c) => c.name)).toEqual(['hosts', 'tenants', 'usage', 'fairness', 'incidents', 'explain', 'throttle', 'quarantine', 'release', 'plans']);
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(COMMANDS.length);
    for (const c of COMMANDS) expect(c.summary.length).toBeGreaterThan(5);
    // the throttle family takes --reason; only throttle and quarantine take --ttl; only throttle --level
    const opts = (name: string) => COMMANDS.find((c) => c.name === name)!.options.map((o) => o.name);
    expect([opts('throttle'), opts('quarantine'), opts('release'), opts('notice')]).toEqual([['reason', 'ttl', 'level'], ['reason', 'ttl'], ['reason'], ['reason']]);
  });
});

describe('option values', () => {
  const NOW = Date.parse('2025-01-31T12:00:00Z');
  it('reads times as the API does: durations back from now, ISO-8601 (UTC without a zone), now', () => {
    expect(timeValue('--since', '24h', NOW)).toBe(NOW - 86_400_000);
    expect(timeValue('--since', '1h30m', NOW)).toBe(NOW - 5_400_000);
    expect(timeValue('--since', '2025-01-30T06:00', NOW)).toBe(Date.parse('2025-01-30T06:00:00Z'));
    expect(timeValue('--since', '2025-01-30T06:00+02:00', NOW)).toBe(Date.parse('2025-01-30T04:00:00Z'));
    expect(timeValue('--until', 'now', NOW)).toBe(NOW);
    expect(usageError(() => timeValue('--since', 'yesterday', NOW))).toBe('--since: "yesterday" is neither a duration back from now (24h, 7d, 90m), an ISO-8601 time (2025-01-31T12:00:00Z) nor "now"');
  });

  it('names the option of a bad duration, number or name', () => {
    expect(durationValue('--ttl', '2h')).toBe(7_200_000);
    expect(usageError(() => durationValue('--ttl', 'forever'))).toContain('--ttl: invalid duration "forever"');
    expect(usageError(() => durationValue('--step', '100ms', { min: 1000 }))).toBe('--step: must be at least 1s, got "100ms"');
    expect(intValue('--level', '2', 1, 2)).toBe(2);
    expect(usageError(() => intValue('--level', '3', 1, 2))).toBe('--level: must be a whole number from 1 to 2, got "3"');
    expect(usageError(() => intValue('ID', '1.5', 1, 9))).toContain('ID: must be a whole number');
    expect(tenantValue('TENANT', 'alice.b-c_d')).toBe('alice.b-c_d');
    expect(usageError(() => tenantValue('TENANT', '../hosts'))).toContain('TENANT: "../hosts" is not a tenant name');
  });

  it('checks names with the patterns of the wire schemas', () => {
    expect(TENANT_NAME.source).toBe((TenantNameSchema as unknown as { pattern: string }).pattern);
    expect(HOST_NAME.source).toBe((HostNameSchema as unknown as { pattern: string }).pattern);
  });
});
