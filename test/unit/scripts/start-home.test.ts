// `npm start`'s state directory: files created exclusively (tokens 0600), existing ones kept once checked to
// be regular files of ours, and a symbolic link planted anywhere it writes (the home itself, each file, the
// daemons' state directories) refused with exit 2, the link's target left untouched.
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { prepareHome, StartError, STATE_DIRS, yamlValue } from '../../../scripts/start-home.js';

const root = mkdtempSync(join(tmpdir(), 'hw-start-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh directory to hold a home (the home itself is not created). */
const place = () => {
  const d = join(root, `case${n++}`);
  mkdirSync(d);
  return d;
};
const options = (home: string) => ({ home, listen: '127.0.0.1:18640', host: 'web01' });
const FILES = ['admin.token', 'agent-web01.token', 'controller.yaml', 'agent.yaml'];
const isRoot = process.getuid?.() === 0;

function refusal(fn: () => unknown): StartError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StartError);
    return err as StartError;
  }
  throw new Error('not refused');
}

/** A file outside the home that a planted link points at: it must stay as it is. */
function victim(dir: string): { path: string; intact: () => boolean } {
  const path = join(dir, 'victim');
  writeFileSync(path, 'precious\n', { mode: 0o644 });
  return { path, intact: () => readFileSync(path, 'utf8') === 'precious\n' && (statSync(path).mode & 0o777) === 0o644 };
}

describe('npm start: a new home', () => {
  it('creates the home (0750) and every file exclusively: tokens 0600 of 64 hex digits, configs 0640', () => {
    const home = join(place(), 'nested', 'home');
    const f = prepareHome(options(home));
    expect(lstatSync(home).mode & 0o777).toBe(0o750);
    for (const name of FILES) expect([name, lstatSync(join(home, name)).isFile()]).toEqual([name, true]);
    for (const t of [f.adminTokenFile, f.agentTokenFile]) {
      expect(statSync(t).mode & 0o777).toBe(0o600);
      expect(readFileSync(t, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    }
    expect(statSync(f.controllerYaml).mode & 0o777).toBe(0o640);
    expect(parseYaml(readFileSync(f.controllerYaml, 'utf8'))).toMatchObject({
      listen: '127.0.0.1:18640',
      state_dir: join(home, 'controller'),
      admin_token_file: f.adminTokenFile,
      agents: [{ host: 'web01', token_file: f.agentTokenFile }],
    });
    expect(parseYaml(readFileSync(f.agentYaml, 'utf8'))).toMatchObject({ host: 'web01', state_dir: join(home, 'agent'), controller: { url: 'http://127.0.0.1:18640', token_file: f.agentTokenFile } });
  });

  it('keeps what is there on the next start: the same tokens, the configs as the admin edited them', () => {
    const home = join(place(), 'home');
    const f = prepareHome(options(home));
    const tokens = [readFileSync(f.adminTokenFile, 'utf8'), readFileSync(f.agentTokenFile, 'utf8')];
    writeFileSync(f.controllerYaml, '# mine\n');
    prepareHome(options(home));
    expect([readFileSync(f.adminTokenFile, 'utf8'), readFileSync(f.agentTokenFile, 'utf8')]).toEqual(tokens);
    expect(readFileSync(f.controllerYaml, 'utf8')).toBe('# mine\n');
  });

  it('quotes paths YAML would misread (spaces, "#", ": ", quotes) and leaves plain ones as they were', () => {
    const home = join(place(), 'my home #1: "x"');
    const f = prepareHome(options(home));
    expect(parseYaml(readFileSync(f.controllerYaml, 'utf8'))).toMatchObject({ state_dir: join(home, 'controller'), admin_token_file: f.adminTokenFile, agents: [{ token_file: f.agentTokenFile }] });
    expect(parseYaml(readFileSync(f.agentYaml, 'utf8'))).toMatchObject({ state_dir: join(home, 'agent'), controller: { token_file: f.agentTokenFile } });
    expect([yamlValue('/var/lib/hostwarden'), yamlValue('127.0.0.1:8640'), yamlValue('http://127.0.0.1:8640')]).toEqual(['/var/lib/hostwarden', '127.0.0.1:8640', 'http://127.0.0.1:8640']);
    expect(yamlValue('a b')).toBe('"a b"');
  });
});

describe('npm start: links and strangers in the home are refused (exit 2)', () => {
  it('HOSTWARDEN_HOME itself a symbolic link (to a directory, or dangling): nothing is written through it', () => {
    const d = place();
    const target = join(d, 'target');
    mkdirSync(target);
    symlinkSync(target, join(d, 'home'));
    const e = refusal(() => prepareHome(options(join(d, 'home'))));
    expect([e.exitCode, e.message]).toEqual([2, `HOSTWARDEN_HOME ${join(d, 'home')} is a symbolic link (to "${target}"): npm start writes tokens there and follows no link; point HOSTWARDEN_HOME at the real directory`]);
    expect(execFileSync('ls', ['-A', target]).toString()).toBe('');
    symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
    expect(refusal(() => prepareHome(options(join(d, 'dangling')))).exitCode).toBe(2);
    expect(existsSync(join(d, 'nowhere'))).toBe(false);
  });

  it.each(FILES)('a symbolic link planted at %s (to a file, or dangling): refused, its target untouched', (name) => {
    const d = place();
    const home = join(d, 'home');
    mkdirSync(home, { mode: 0o750 });
    const v = victim(d);
    symlinkSync(v.path, join(home, name));
    const e = refusal(() => prepareHome(options(home)));
    expect([e.exitCode, e.message]).toEqual([2, `${join(home, name)} is a symbolic link (to "${v.path}"): npm start writes only files it creates or owns, never through a link; remove it (or point HOSTWARDEN_HOME elsewhere)`]);
    expect(v.intact()).toBe(true);

    const other = join(d, 'home2');
    mkdirSync(other, { mode: 0o750 });
    symlinkSync(join(d, 'created-through-link'), join(other, name));
    expect(refusal(() => prepareHome(options(other))).exitCode).toBe(2);
    expect(existsSync(join(d, 'created-through-link'))).toBe(false);
  });

  it.each(STATE_DIRS)('a symbolic link planted at the %s state directory: refused', (name) => {
    const d = place();
    const home = join(d, 'home');
    mkdirSync(home, { mode: 0o750 });
    mkdirSync(join(d, 'elsewhere'));
    symlinkSync(join(d, 'elsewhere'), join(home, name));
    const e = refusal(() => prepareHome(options(home)));
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain(`${join(home, name)} is a symbolic link`);
  });

  it('a FIFO or a directory where a file belongs: refused without hanging', () => {
    const d = place();
    const home = join(d, 'home');
    mkdirSync(home, { mode: 0o750 });
    execFileSync('mkfifo', [join(home, 'admin.token')]);
    expect(refusal(() => prepareHome(options(home))).message).toContain(`${join(home, 'admin.token')} is a FIFO, not a regular file`);
    rmSync(join(home, 'admin.token'));
    mkdirSync(join(home, 'agent.yaml'));
    expect(refusal(() => prepareHome(options(home))).message).toContain(`${join(home, 'agent.yaml')} is a directory, not a regular file`);
  });

  it('a home that is a file, or that every user may write in: refused', () => {
    const d = place();
    writeFileSync(join(d, 'file'), '');
    expect(refusal(() => prepareHome(options(join(d, 'file')))).message).toBe(`HOSTWARDEN_HOME ${join(d, 'file')} is a regular file, not a directory`);
    mkdirSync(join(d, 'open'));
    chmodSync(join(d, 'open'), 0o777);
    const e = refusal(() => prepareHome(options(join(d, 'open'))));
    expect([e.exitCode, e.message]).toEqual([2, `HOSTWARDEN_HOME ${join(d, 'open')} is writable by every user (mode 777): anyone could plant links there; chmod o-w it or use another directory`]);
  });

  it.skipIf(!isRoot)('a home, a file or a state directory owned by another user: refused', () => {
    const d = place();
    const home = join(d, 'home');
    prepareHome(options(home));
    chownSync(join(home, 'agent.yaml'), 65534, 65534);
    expect(refusal(() => prepareHome(options(home))).message).toContain(`${join(home, 'agent.yaml')} is owned by uid 65534, not by this user (uid 0)`);
    chownSync(join(home, 'agent.yaml'), 0, 0);
    mkdirSync(join(home, 'controller'));
    chownSync(join(home, 'controller'), 65534, 65534);
    expect(refusal(() => prepareHome(options(home))).message).toContain(`${join(home, 'controller')} is owned by uid 65534`);
    chownSync(home, 65534, 65534);
    expect(refusal(() => prepareHome(options(home))).message).toBe(`HOSTWARDEN_HOME ${home} is owned by uid 65534, not by this user (uid 0): use a directory of your own`);
  });

  it('checks ownership against the uid it is given (so a non-root run is covered too)', () => {
    const home = join(place(), 'home');
    prepareHome(options(home));
    const uid = lstatSync(home).uid + 1;
    expect(refusal(() => prepareHome({ ...options(home), uid })).message).toContain('is owned by uid');
  });
});
