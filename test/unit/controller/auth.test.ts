import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureAdminToken, hashToken, readTokenFile, TokenRegistry } from '../../../controller/auth.js';
import { ConfigError } from '../../../shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tokens', () => {
  it('authenticates by hash and tells missing, malformed and unknown apart', () => {
    const reg = new TokenRegistry();
    reg.addToken('admin-token-0123456789', { kind: 'admin', name: 'admin' });
    reg.addHash(hashToken('agent-token-web01-xyz').toString('hex'), { kind: 'agent', name: 'agent:web01', host: 'web01' });
    expect(reg.authenticate('Bearer admin-token-0123456789')).toEqual({ ok: true, principal: { kind: 'admin', name: 'admin' } });
    expect(reg.authenticate('bearer   agent-token-web01-xyz ')).toEqual({ ok: true, principal: { kind: 'agent', name: 'agent:web01', host: 'web01' } });
    expect(reg.authenticate(undefined)).toEqual({ ok: false, reason: 'missing' });
    expect(reg.authenticate('Basic YWRtaW4=')).toEqual({ ok: false, reason: 'malformed' });
    expect(reg.authenticate('Bearer admin-token-012345678')).toEqual({ ok: false, reason: 'unknown' });
    expect(() => reg.addToken('admin-token-0123456789', { kind: 'admin', name: 'bob' })).toThrow(/same token/);
  });

  it('generates the admin token file once, mode 0600, in a new directory', () => {
    const file = join(dir, 'etc', 'hostwarden', 'admin.token');
    const first = ensureAdminToken(file);
    expect(first.generated).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const second = ensureAdminToken(file);
    expect(second).toEqual({ token: first.token, generated: false });
    expect(readFileSync(file, 'utf8').trim()).toBe(first.token);
  });

  it('refuses unreadable, short or spaced tokens naming the key', () => {
    expect(() => readTokenFile(join(dir, 'none'), 'agents[0].token_file')).toThrow(ConfigError);
    expect(() => readTokenFile(join(dir, 'none'), 'agents[0].token_file')).toThrow(/config key "agents\[0\].token_file": cannot read token file/);
    writeFileSync(join(dir, 'short'), 'abc\n');
    expect(() => readTokenFile(join(dir, 'short'), 'k')).toThrow(/shorter than 16/);
    writeFileSync(join(dir, 'spaced'), 'abcdefgh ijklmnopqrst\n');
    expect(() => readTokenFile(join(dir, 'spaced'), 'k')).toThrow(/white space/);
  });
});
