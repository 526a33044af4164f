// hostwardenctl as a function: exit codes and messages of everything decided before (or without) the controller.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS, runCli, useColor, viewWidth } from '../../../ctl/main.js';
import { VERSION } from '../../../shared/version.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-ctl-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = join(dir, 'admin.token');
writeFileSync(TOKEN, 'abc\n');

async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t), defaultConfig: join(dir, 'absent-ctl.yaml') });
  return { code, stdout, stderr };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('hostwardenctl', () => {
  it('prints its version and its help (exit 0)', async () => {
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `hostwardenctl ${VERSION}\n`, stderr: '' });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: hostwardenctl [--url URL] [--token-file FILE] [--json] COMMAND');
    for (const c of COMMANDS) expect(help.stdout).toContain(`\n  ${c.name}`);
  });

  it('helps with each command (exit 0), even without its arguments or a token', async () => {
    for (const c of COMMANDS) {
      const r = await run([c.name, '--help']);
      expect([c.name, r.code, r.stderr]).toEqual([c.name, 0, '']);
      expect(r.stdout).toContain(`usage: hostwardenctl ${c.name}`);
      for (const o of c.options) expect(r.stdout).toContain(`--${o.name}`);
    }
    expect((await run(['help', 'throttle'])).stdout).toContain('usage: hostwardenctl throttle TENANT --reason TEXT [--ttl DURATION] [--level 1|2]');
  });

  it('without a command prints the overview on stderr and exits 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('commands:');
  });

  it.each([
    [['frob'], 'hostwardenctl: unknown command "frob"\n(see "hostwardenctl --help")\n'],
    [['usage'], 'hostwardenctl: usage: TENANT is missing (tenant name)\n(see "hostwardenctl usage --help")\n'],
    [['usage', 'alice', '--since', 'yesterday'], 'hostwardenctl: --since: "yesterday" is neither'],
    [['usage', 'alice', '--step', 'fast'], 'hostwardenctl: --step: invalid duration "fast"'],
    [['usage', 'alice', '--since', '1h', '--until', '2h'], 'hostwardenctl: --until must be after --since'],
    [['usage', 'alice', '--chart', 'disk'], 'hostwardenctl: --chart: must be one of cpu, memory, io-read, io-write, processes, none, got "disk"'],
    [['throttle', 'alice'], 'hostwardenctl: throttle: --reason is required'],
    [['throttle', 'alice', '--reason', 'x', '--level', '3'], 'hostwardenctl: --level: must be a whole number from 1 to 2, got "3"'],
    [['throttle', 'alice', '--reason', 'x', '--ttl', 'soon'], 'hostwardenctl: --ttl: invalid duration "soon"'],
    [['release', 'alice', '--reason', 'x', '--ttl', '1h'], 'hostwardenctl: release takes no --ttl (throttle, quarantine do)'],
    [['explain', 'seven'], 'hostwardenctl: ID: must be a whole number'],
    [['tenant', 'a/b'], 'hostwardenctl: TENANT: "a/b" is not a tenant name'],
    [['incidents', '--open', '--released'], 'hostwardenctl: incidents: --open and --released exclude each other'],
    [['incidents', '--resource', 'disk'], 'hostwardenctl: --resource: must be one of cpu, memory, io, processes, bandwidth, inodes, api, got "disk"'],
    [['action', 'zz'], 'hostwardenctl: ID: "zz" is not an action id'],
  ])('refuses bad usage %j with exit 2 and says why', async (argv, message) => {
    const r = await run([...argv, '--token-file', TOKEN, '--url', `http://127.0.0.1:${await closedPort()}`]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.startsWith(message)).toBe(true);
  });

  it.each([
    [['hosts', '--config', join(dir, 'nope.yaml')], `hostwardenctl: --config: ${join(dir, 'nope.yaml')} does not exist\n`],
    [['hosts', '--token-file', join(dir, 'nope.token')], `hostwardenctl: cannot read the token file ${join(dir, 'nope.token')} (from --token-file): it does not exist\n`],
    [['hosts', '--url', 'ftp://x'], 'hostwardenctl: --url: "ftp://x" must start with http:// or https://\n'],
  ])('refuses a bad setting %j with exit 2', async (argv, message) => {
    expect(await run(argv)).toEqual({ code: 2, stdout: '', stderr: message });
  });

  it('names the key of a bad ctl.yaml (exit 2)', async () => {
    const f = join(dir, 'ctl.yaml');
    writeFileSync(f, 'url: http://127.0.0.1:1\ntoken_fiel: /x\n');
    const r = await run(['hosts'], { HOSTWARDEN_CTL_CONFIG: f });
    expect(r).toEqual({ code: 2, stdout: '', stderr: `hostwardenctl: ${f}: config key "token_fiel": unknown key (check the spelling; see the configuration reference in README.md)\n` });
  });

  it('says the controller is down (exit 1) when nothing listens at the URL', async () => {
    const port = await closedPort();
    const r = await run(['tenants'], { HOSTWARDEN_URL: `http://127.0.0.1:${port}`, HOSTWARDEN_TOKEN: 'abc' });
    expect(r).toEqual({ code: 1, stdout: '', stderr: `hostwardenctl: cannot reach the controller at http://127.0.0.1:${port}: connection refused (is hostwarden-controller running?)\n` });
  });

  it('fits the terminal, or COLUMNS, or 80; colours only a terminal without NO_COLOR', () => {
    expect(viewWidth({ env: { COLUMNS: '132' }, isTTY: true, columns: 100 })).toBe(100);
    expect(viewWidth({ env: { COLUMNS: '132' }, isTTY: false })).toBe(132);
    expect(viewWidth({ env: { COLUMNS: 'wide' } })).toBe(80);
    expect(useColor({ env: {}, isTTY: true })).toBe(true);
    expect(useColor({ env: { NO_COLOR: '1' }, isTTY: true })).toBe(false);
    expect(useColor({ env: { TERM: 'dumb' }, isTTY: true })).toBe(false);
    expect(useColor({ env: {}, isTTY: false })).toBe(false);
  });
});
