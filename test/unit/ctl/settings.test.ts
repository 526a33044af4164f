import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CtlConfigError } from '../../../ctl/errors.js';
import { parseCtlConfig } from '../../../ctl/ctl-config.js';
import { CTL_CONFIG_REFERENCE, readToken, resolveSettings, tokenOrigin } from '../../../ctl/settings.js';
import { ConfigError } from '../../../shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-ctl-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const ABSENT = join(dir, 'absent.yaml');

async function failure(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CtlConfigError);
    return (err as Error).message;
  }
  throw new Error('no CtlConfigError');
}

describe('settings: flags > environment > ctl.yaml > defaults', () => {
  const yaml = file('ctl.yaml', 'url: http://ctl-yaml:1/\ntoken_file: /from/yaml.token\ntimeout: 3s\n');

  it('uses the defaults when nothing is set and the default ctl.yaml does not exist', async () => {
    expect(await resolveSettings({}, {}, ABSENT)).toEqual({
      url: 'http://127.0.0.1:8640',
      urlSource: 'the default',
      token: { kind: 'file', file: '/etc/hostwarden/admin.token', source: 'the default' },
      timeoutMs: 10_000,
      configFile: undefined,
    });
  });

  it('reads the default ctl.yaml when it exists', async () => {
    const s = await resolveSettings({}, {}, yaml);
    expect(s).toMatchObject({ url: 'http://ctl-yaml:1', token: { kind: 'file', file: '/from/yaml.token' }, timeoutMs: 3000, configFile: yaml });
    expect(s.urlSource).toBe(`${yaml} url`);
  });

  it('lets the environment override ctl.yaml, and flags override both', async () => {
    const env = { HOSTWARDEN_URL: 'https://env:2', HOSTWARDEN_TOKEN_FILE: '/from/env.token', HOSTWARDEN_TIMEOUT: '4s' };
    expect(await resolveSettings({}, env, yaml)).toMatchObject({ url: 'https://env:2', urlSource: 'HOSTWARDEN_URL', token: { file: '/from/env.token', source: 'HOSTWARDEN_TOKEN_FILE' }, timeoutMs: 4000 });
    const flags = { url: 'http://flag:3/base/', tokenFile: '/from/flag.token', timeout: '5s' };
    expect(await resolveSettings(flags, env, yaml)).toMatchObject({ url: 'http://flag:3/base', urlSource: '--url', token: { file: '/from/flag.token', source: '--token-file' }, timeoutMs: 5000 });
  });

  it('takes the token itself from HOSTWARDEN_TOKEN before HOSTWARDEN_TOKEN_FILE, but --token-file before both', async () => {
    const env = { HOSTWARDEN_TOKEN: ' s3cret \n', HOSTWARDEN_TOKEN_FILE: '/from/env.token' };
    const s = await resolveSettings({}, env, yaml);
    expect(s.token).toEqual({ kind: 'value', value: 's3cret', source: 'HOSTWARDEN_TOKEN' });
    expect(readToken(s.token)).toBe('s3cret');
    expect(tokenOrigin(s.token)).toBe('HOSTWARDEN_TOKEN');
    expect((await resolveSettings({ tokenFile: '/f' }, env, yaml)).token).toMatchObject({ kind: 'file', file: '/f' });
  });

  it('treats empty environment variables as unset', async () => {
    expect(await resolveSettings({}, { HOSTWARDEN_URL: '', HOSTWARDEN_TOKEN: '' }, ABSENT)).toMatchObject({ url: 'http://127.0.0.1:8640', token: { kind: 'file' } });
  });

  it('reads a ctl.yaml named by --config or HOSTWARDEN_CTL_CONFIG instead of the default, and refuses a missing one', async () => {
    const other = file('other.yaml', 'url: http://other:4\n');
    expect((await resolveSettings({ config: other }, {}, yaml)).url).toBe('http://other:4');
    expect((await resolveSettings({}, { HOSTWARDEN_CTL_CONFIG: other }, yaml)).url).toBe('http://other:4');
    expect(await failure(() => resolveSettings({ config: ABSENT }, {}, yaml))).toBe(`--config: ${ABSENT} does not exist`);
    expect(await failure(() => resolveSettings({}, { HOSTWARDEN_CTL_CONFIG: ABSENT }, yaml))).toBe(`HOSTWARDEN_CTL_CONFIG: ${ABSENT} does not exist`);
  });

  it.each([
    ['an unknown key', 'url: http://a:1\ntoken: abc\n', 'config key "token": unknown key'],
    ['a bad url', 'url: ftp://x\n', 'config key "url": "ftp://x" must start with http:// or https://'],
    ['not a url', 'url: 127.0.0.1:8640\n', 'config key "url": "127.0.0.1:8640" is not a URL (e.g. http://127.0.0.1:8640)'],
    ['a bad timeout', 'timeout: soon\n', 'config key "timeout": invalid duration "soon"'],
    ['a list', '- url\n', 'must be a mapping'],
    ['broken YAML', 'url: [\n', 'is not valid YAML'],
  ])('names the file and the key of %s (exit 2)', async (_name, text, message) => {
    const f = file('bad.yaml', text);
    const m = await failure(() => resolveSettings({}, {}, f));
    expect(m).toContain(f);
    expect(m).toContain(message);
  });

  it('refuses a bad --url, HOSTWARDEN_URL or --timeout, naming where it came from', async () => {
    expect(await failure(() => resolveSettings({ url: 'localhost:8640' }, {}, ABSENT))).toBe('--url: "localhost:8640" must start with http:// or https://');
    expect(await failure(() => resolveSettings({}, { HOSTWARDEN_URL: 'http://u:p@h:1' }, ABSENT))).toContain('HOSTWARDEN_URL: "http://u:p@h:1" must not hold credentials');
    expect(await failure(() => resolveSettings({ url: 'http://h:1/?x=1' }, {}, ABSENT))).toContain('must not have a query');
    expect(await failure(() => resolveSettings({ timeout: '0s' }, {}, ABSENT))).toBe('--timeout: must be more than zero, got "0s"');
  });

  it('takes the CA file from --ca-file, then HOSTWARDEN_CA_FILE, then ctl.yaml ca_file; none: the system store', async () => {
    const withCa = file('ca.yaml', 'ca_file: /from/yaml-ca.pem\n');
    expect((await resolveSettings({}, {}, ABSENT)).ca).toBeUndefined();
    expect((await resolveSettings({}, {}, withCa)).ca).toEqual({ file: '/from/yaml-ca.pem', source: `${withCa} ca_file` });
    expect((await resolveSettings({}, { HOSTWARDEN_CA_FILE: '/from/env-ca.pem' }, withCa)).ca).toEqual({ file: '/from/env-ca.pem', source: 'HOSTWARDEN_CA_FILE' });
    expect((await resolveSettings({ caFile: '/flag-ca.pem' }, { HOSTWARDEN_CA_FILE: '/from/env-ca.pem' }, withCa)).ca).toEqual({ file: '/flag-ca.pem', source: '--ca-file' });
    expect((await resolveSettings({}, { HOSTWARDEN_CA_FILE: '' }, ABSENT)).ca).toBeUndefined();
  });

  it('documents every key of ctl.yaml in its reference and in the packaged ctl.yaml', () => {
    const packaged = readFileSync(join(import.meta.dirname, '../../../packaging/controller/ctl.yaml'), 'utf8');
    for (const key of ['url', 'token_file', 'timeout', 'ca_file']) {
      expect([key, CTL_CONFIG_REFERENCE.includes(`${key}: `)]).toEqual([key, true]);
      expect([key, new RegExp(`^#+ (?:e\\.g\\. )?${key}: `, 'm').test(packaged)]).toEqual([key, true]);
    }
    expect(parseCtlConfig({ ca_file: '/etc/hostwarden/ca.pem' })).toEqual({ caFile: '/etc/hostwarden/ca.pem' });
  });

  it('documents every key it reads, with the real defaults', async () => {
    expect(parseCtlConfig(parseYaml(CTL_CONFIG_REFERENCE))).toEqual({ url: 'http://127.0.0.1:8640', tokenFile: '/etc/hostwarden/admin.token', timeoutMs: 10_000 });
    expect(() => parseCtlConfig({ url: 5 })).toThrow(ConfigError);
  });
});

describe('the token file', () => {
  it('is read and trimmed', async () => {
    expect(readToken({ kind: 'file', file: file('t1', '  abc123\n'), source: '--token-file' })).toBe('abc123');
  });

  it('says which file, where it came from and why it cannot be used', async () => {
    expect(await failure(() => readToken({ kind: 'file', file: join(dir, 'none.token'), source: 'the default' }))).toBe(
      `cannot read the token file ${join(dir, 'none.token')} (from the default): it does not exist`,
    );
    expect(await failure(() => readToken({ kind: 'file', file: dir, source: '--token-file' }))).toContain('it is a directory');
    expect(await failure(() => readToken({ kind: 'file', file: file('t2', '\n\n'), source: '--token-file' }))).toContain('is empty');
    expect(await failure(() => readToken({ kind: 'file', file: file('t3', 'a b\n'), source: '--token-file' }))).toContain('holds more than one word');
  });
});
