// packaging/common/tokens.sh, the token maker of the postinst scripts (/usr/lib/hostwarden/tokens.sh), run
// for real on temporary /etc/hostwarden and /var/lib/hostwarden directories.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAgentsDir } from '../../../controller/agents-dir.js';
import { Cleanup, ROOT, tempDir } from '../../helpers/system.js';

const TOKENS = join(ROOT, 'packaging/common/tokens.sh');
const TOKEN_RE = /^[0-9a-f]{64}\n$/;

describe('tokens.sh', () => {
  const cleanup = new Cleanup();
  let etc = '';
  let state = '';
  /** Runs tokens.sh: its exit status and stderr. */
  const run = (...args: string[]) => {
    const r = spawnSync(TOKENS, args, { env: { PATH: process.env.PATH, HOSTWARDEN_ETC: etc, HOSTWARDEN_STATE: state }, encoding: 'utf8' });
    return { status: r.status, stderr: r.stderr };
  };
  const ok = (...args: string[]) => {
    const r = run(...args);
    if (r.status !== 0) throw new Error(`tokens.sh ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stderr;
  };
  const mode = (file: string) => statSync(file).mode & 0o777;

  beforeEach(() => {
    const dir = tempDir(cleanup, 'hw-tokens-');
    etc = join(dir, 'etc');
    state = join(dir, 'state');
  });
  afterEach(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('local-agent --link: a 0600 token named after the host (the agent default, uname -n), agent.token linking to it', () => {
    ok('local-agent', '--link');
    const tok = join(etc, `agent-${hostname()}.token`);
    expect(readFileSync(tok, 'utf8')).toMatch(TOKEN_RE);
    expect(mode(tok)).toBe(0o600);
    expect(lstatSync(join(etc, 'agent.token')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(etc, 'agent.token'))).toBe(`agent-${hostname()}.token`);
    expect(readFileSync(join(state, 'local-agent-token'), 'utf8')).toBe(`agent-${hostname()}.token\n`);
  });

  it('never replaces a token: a second run (the other package, an upgrade) keeps it', () => {
    ok('local-agent');
    expect(existsSync(join(etc, 'agent.token'))).toBe(false); // only the agent's postinst links
    const first = readFileSync(join(etc, `agent-${hostname()}.token`), 'utf8');
    ok('local-agent', '--link');
    ok('local-agent');
    expect(readFileSync(join(etc, `agent-${hostname()}.token`), 'utf8')).toBe(first);
    expect(readFileSync(join(etc, 'agent.token'), 'utf8')).toBe(first);
  });

  it('two installs draw different tokens', () => {
    ok('local-agent');
    const a = readFileSync(join(etc, `agent-${hostname()}.token`), 'utf8');
    rmSync(join(etc, `agent-${hostname()}.token`));
    ok('local-agent');
    expect(readFileSync(join(etc, `agent-${hostname()}.token`), 'utf8')).not.toBe(a);
  });

  it('takes the host from agent.yaml when it is set there', () => {
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'agent.yaml'), '#host: web01\nhost: "web07.example"   # this server\nstate_dir: /x\n');
    ok('local-agent', '--link');
    expect(readFileSync(join(etc, 'agent-web07.example.token'), 'utf8')).toMatch(TOKEN_RE);
    expect(readlinkSync(join(etc, 'agent.token'))).toBe('agent-web07.example.token');
  });

  it('an agent.token copied from a remote controller stays, and the local controller gets the same token', () => {
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'agent.token'), 'copied-token-0123456789abcdef\n', { mode: 0o600 });
    ok('local-agent', '--link');
    expect(lstatSync(join(etc, 'agent.token')).isFile()).toBe(true);
    expect(readFileSync(join(etc, `agent-${hostname()}.token`), 'utf8')).toBe('copied-token-0123456789abcdef\n');
    expect(mode(join(etc, `agent-${hostname()}.token`))).toBe(0o600);
  });

  it('warns about an agent.token link that points nowhere', () => {
    mkdirSync(etc, { recursive: true });
    symlinkSync('agent-oldname.token', join(etc, 'agent.token'));
    const r = run('local-agent', '--link');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('points to a missing file (agent-oldname.token)');
    expect(readlinkSync(join(etc, 'agent.token'))).toBe('agent-oldname.token');
  });

  it('pairs the local agent with a local controller: agents.d/HOST.token links to the token, which the controller reads as is', () => {
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'agent.yaml'), 'host: web07\n');
    ok('local-agent');
    const pair = join(etc, 'agents.d/web07.token');
    expect(readlinkSync(pair)).toBe('../agent-web07.token');
    expect(mode(join(etc, 'agents.d'))).toBe(0o755);
    // What the controller makes of the directory: exactly this host, with this host's token.
    const agents = readAgentsDir(join(etc, 'agents.d'));
    expect(agents.agents.map((a) => [a.host, `${a.token}\n`])).toEqual([['web07', readFileSync(join(etc, 'agent-web07.token'), 'utf8')]]);
    // A second run (the other package, an upgrade) leaves an admin's own file there alone.
    rmSync(pair);
    writeFileSync(pair, 'admin-placed-token-0123456789\n', { mode: 0o600 });
    ok('local-agent', '--link');
    expect(readFileSync(pair, 'utf8')).toBe('admin-placed-token-0123456789\n');
    rmSync(pair);
    symlinkSync('../agent-gone.token', pair);
    expect(run('local-agent').stderr).toContain(`${pair} points to a missing file (../agent-gone.token)`);
  });

  it('admin: a 0600 token owned as asked, made once', () => {
    const file = join(etc, 'admin.token');
    const owner = `${process.getuid!()}:${process.getgid!()}`;
    ok('admin', file, owner);
    const first = readFileSync(file, 'utf8');
    expect(first).toMatch(TOKEN_RE);
    expect(mode(file)).toBe(0o600);
    expect(statSync(file).uid).toBe(process.getuid!());
    ok('admin', file, owner);
    expect(readFileSync(file, 'utf8')).toBe(first);
  });

  it('usage errors exit 2', () => {
    const r = run('bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: tokens.sh');
  });
});
