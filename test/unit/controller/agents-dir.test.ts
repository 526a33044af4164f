// agents_dir: one HOST.token file per agent (controller/agents-dir.ts), and how loadTokens merges it with
// agents:, on real temporary directories and files.
import { chmodSync, chownSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { readAgentsDir } from '../../../controller/agents-dir.js';
import { parseControllerConfig } from '../../../controller/config.js';
import { loadTokens } from '../../../controller/server.js';
import { ConfigError } from '../../../shared/errors.js';
import { Cleanup, tempDir } from '../../helpers/system.js';

const TOKEN_A = 'a'.repeat(64);
const TOKEN_B = 'b'.repeat(64);

describe('agents_dir', () => {
  const cleanup = new Cleanup();
  let base = '';
  let dir = '';
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });
  beforeEach(() => {
    base = tempDir(cleanup, 'hw-agents-dir-');
    dir = join(base, 'agents.d');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
  });
  const token = (name: string, text: string, mode = 0o600) => {
    const f = join(dir, name);
    writeFileSync(f, `${text}\n`, { mode });
    chmodSync(f, mode);
    return f;
  };
  const configError = (fn: () => unknown): ConfigError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('no ConfigError');
  };

  it('is off unless set; set, it must be an absolute path', () => {
    expect(parseControllerConfig({}).agentsDir).toBeUndefined();
    expect(parseControllerConfig({ agents_dir: null }).agentsDir).toBeUndefined();
    expect(parseControllerConfig({ agents_dir: '/etc/hostwarden/agents.d' }).agentsDir).toBe('/etc/hostwarden/agents.d');
    expect(configError(() => parseControllerConfig({ agents_dir: 'agents.d' })).key).toBe('agents_dir');
  });

  it('reads HOST.token files and links to them; skips other names; a missing directory is no agent', () => {
    token('web01.token', TOKEN_A);
    writeFileSync(join(base, 'agent-web02.token'), `${TOKEN_B}\n`, { mode: 0o600 });
    symlinkSync('../agent-web02.token', join(dir, 'web02.token'));
    token('README', 'not a token at all, and no trouble');
    token('web03.token.dpkg-old', TOKEN_B);
    const r = readAgentsDir(dir);
    expect(r.agents.map((a) => [a.host, a.token])).toEqual([
      ['web01', TOKEN_A],
      ['web02', TOKEN_B],
    ]);
    expect(r.skipped).toEqual(['README', 'web03.token.dpkg-old']);
    expect(readAgentsDir(join(base, 'nope'))).toEqual({ agents: [], skipped: [] });
  });

  it('refuses a directory others can write to, a token everyone can read, a bad host name, a dangling link', () => {
    chmodSync(dir, 0o775);
    expect(configError(() => readAgentsDir(dir)).message).toMatch(/writable by group or others.*chmod go-w/);
    chmodSync(dir, 0o755);
    const f = token('web01.token', TOKEN_A, 0o644);
    expect(configError(() => readAgentsDir(dir)).message).toMatch(/web01\.token is readable or writable by everyone.*chmod 0600/);
    chmodSync(f, 0o640);
    expect(readAgentsDir(dir).agents).toHaveLength(1);
    token('bad host!.token', TOKEN_B);
    expect(configError(() => readAgentsDir(dir)).message).toMatch(/"bad host!" is not a host name/);
  });

  it('refuses a dangling link and a directory owned by another user', () => {
    symlinkSync('../missing.token', join(dir, 'web09.token'));
    expect(configError(() => readAgentsDir(dir)).message).toMatch(/web09\.token is a link to a missing file/);
    rmSync(join(dir, 'web09.token'));
    if (process.getuid?.() !== 0) return; // chown needs root
    // Root's directory is accepted by a controller of any uid, its own user's too, anyone else's is not.
    expect(() => readAgentsDir(dir, 'agents_dir', 12345)).not.toThrow();
    chownSync(dir, 54321, 54321);
    expect(configError(() => readAgentsDir(dir, 'agents_dir', 12345)).message).toMatch(/owned by uid 54321, neither root nor this controller's user/);
    expect(() => readAgentsDir(dir, 'agents_dir', 54321)).not.toThrow();
  });

  it('loadTokens: an agent of the directory may report as its host; a host also in agents: must have the same token', () => {
    token('web01.token', TOKEN_A);
    const admin = join(base, 'admin.token');
    const cfg = (extra: Record<string, unknown>) => parseControllerConfig({ admin_token_file: admin, agents_dir: dir, ...extra });
    const tokens = loadTokens(cfg({}));
    expect(tokens.authenticate(`Bearer ${TOKEN_A}`)).toEqual({ ok: true, principal: { kind: 'agent', name: 'agent:web01', host: 'web01' } });
    expect([...tokens.agentHosts()]).toEqual(['web01']);
    // The admin followed the old advice and listed the same token file: fine.
    writeFileSync(join(base, 'same.token'), `${TOKEN_A}\n`, { mode: 0o600 });
    expect([...loadTokens(cfg({ agents: [{ host: 'web01', token_file: join(base, 'same.token') }] })).agentHosts()]).toEqual(['web01']);
    writeFileSync(join(base, 'other.token'), `${TOKEN_B}\n`, { mode: 0o600 });
    const e = configError(() => loadTokens(cfg({ agents: [{ host: 'web01', token_file: join(base, 'other.token') }] })));
    expect(e.key).toBe('agents_dir');
    expect(e.message).toMatch(/host web01 is also in agents: with another token/);
  });
});
