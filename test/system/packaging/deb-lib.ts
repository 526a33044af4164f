// Shared by the Debian package tests: the packages' names and version, readers of a .deb, a minimal-
// environment runner, and the checks of the packages' documentation and of lintian.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { hasCommand } from '../../helpers/env.js';
import { type Cleanup, ROOT, tempDir } from '../../helpers/system.js';

export type Pkg = 'common' | 'agent' | 'controller';
export const PKGS: Pkg[] = ['common', 'agent', 'controller'];
export const UPSTREAM = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
export const VERSION = UPSTREAM.replace('-', '~');
export const LOCK = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; optional?: boolean }> };
export const HAS_CTL = existsSync(join(ROOT, 'dist/ctl/bin/hostwardenctl.js'));
export const LIB = '/usr/lib/hostwarden';

export interface Entry {
  mode: string;
  owner: string;
  size: number;
  link?: string;
}

/** `dpkg-deb --contents`: path (without the leading ".") -> mode, owner, size, link target. */
export function contents(deb: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const line of execFileSync('dpkg-deb', ['--contents', deb], { maxBuffer: 64 << 20 }).toString().trim().split('\n')) {
    const m = /^(\S+)\s+(\S+)\s+(\d+)\s+\S+\s+\S+\s+\.(\/.*?)(?: -> (.*))?$/.exec(line);
    if (!m) throw new Error(`cannot parse dpkg-deb --contents line: ${line}`);
    const path = m[4]!.replace(/\/$/, '') || '/';
    out.set(path, { mode: m[1]!, owner: m[2]!, size: Number(m[3]), ...(m[5] !== undefined ? { link: m[5] } : {}) });
  }
  return out;
}

export function field(deb: string, name: string): string {
  return execFileSync('dpkg-deb', ['--field', deb, name]).toString().trim();
}

/** Runs a command to completion with a minimal environment: its status, stdout and stderr. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string, timeout = 120_000): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, encoding: 'utf8', timeout, input, maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function ok(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): string {
  const r = run(cmd, args, env, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The changelog, the DEP-5 copyright file and the manual pages of the built packages. */
export function checkDocs(debs: Record<Pkg, string>, cleanup: Cleanup): void {
  const root = tempDir(cleanup, 'hw-deb-docs-');
  for (const p of PKGS) execFileSync('dpkg-deb', ['-x', debs[p], root]);
  for (const p of PKGS) {
    const log = execFileSync('gzip', ['-dc', join(root, `usr/share/doc/hostwarden-${p}/changelog.gz`)]).toString();
    expect(log.split('\n')[0]).toBe(`hostwarden (${VERSION}) unstable; urgency=medium`);
    expect(log).toMatch(/\n -- .+ <[^>]+>  \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\n$/);
    const copyright = readFileSync(join(root, `usr/share/doc/hostwarden-${p}/copyright`), 'utf8');
    expect(copyright).toMatch(/^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/\n/);
    expect(copyright).toMatch(/\nFiles: \*\nCopyright: \d{4} hostwarden contributors\nLicense: Apache-2\.0\n/);
  }
  // The controller's dashboard assets bundle uPlot: named, with its licence and the licence's text.
  const ctlCopyright = readFileSync(join(root, 'usr/share/doc/hostwarden-controller/copyright'), 'utf8');
  expect(ctlCopyright).toMatch(/\nFiles: usr\/lib\/hostwarden\/dist\/ui\/assets\/\*\nCopyright: .*Leon Sorokin.*\nLicense: Expat\nComment: uplot /);
  expect(ctlCopyright).toContain('\n\nLicense: Expat\n ');
  const copyright = readFileSync(join(root, 'usr/share/doc/hostwarden-common/copyright'), 'utf8');
  const installed = Object.keys(LOCK.packages).filter((p) => p && !LOCK.packages[p]!.dev && existsSync(join(ROOT, p)));
  for (const p of installed) expect(copyright, p).toMatch(new RegExp(`\\nFiles: usr/lib/hostwarden/${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\*\\nCopyright: .+\\n(?: .+\\n)*License: \\S`));
  expect(copyright).toContain('\nFiles: usr/lib/hostwarden/node/*\n');
  // Every licence a Files paragraph names has its stand-alone paragraph with the text.
  const named = new Set([...copyright.matchAll(/^License: (.+)$/gm)].flatMap((m) => m[1]!.split(/ or | and /)));
  const texts = new Set([...copyright.matchAll(/\n\nLicense: (\S+)\n /g)].map((m) => m[1]!));
  expect([...named].filter((l) => !texts.has(l))).toEqual([]);
  if (hasCommand('man')) {
    for (const page of ['hostwarden-agent', 'hostwarden-controller', ...(HAS_CTL ? ['hostwardenctl'] : [])]) {
      const file = join(root, `usr/share/man/man1/${page}.1.gz`);
      const r = run('man', ['--warnings', '-E', 'UTF-8', '-l', '-Tutf8', '-Z', file], { LC_ALL: 'C.UTF-8', MANWIDTH: '80' });
      expect({ code: r.code, warnings: r.stderr }, page).toEqual({ code: 0, warnings: '' });
      const text = run('man', ['-l', file], { MANWIDTH: '100' }).stdout;
      for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'EXIT STATUS', 'FILES', 'SEE ALSO']) expect(text, `${page} ${section}`).toMatch(new RegExp(`^${section}$`, 'm'));
      expect(text).toContain('--version');
    }
  }
}

/** lintian on the three packages: no error; every override with a comment above it. */
export function checkLintian(debs: Record<Pkg, string>): void {
  const r = run('lintian', ['--tag-display-limit', '0', '--fail-on', 'none', debs.common, debs.agent, debs.controller], {}, undefined, 600_000);
  const tags = r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
  const count = (k: string) => tags.filter((l) => l.startsWith(`${k}: `)).length;
  console.log(`lintian: ${count('E')} errors, ${count('W')} warnings${tags.length ? `\n${tags.join('\n')}` : ''}`);
  expect(r.code, r.stderr).toBe(0);
  expect(tags.filter((l) => l.startsWith('E: '))).toEqual([]);
  // Each override has a comment above it.
  const overrides = readFileSync(join(ROOT, 'packaging/common/lintian-overrides'), 'utf8').split('\n');
  overrides.forEach((line, i) => {
    if (/^hostwarden-/.test(line)) expect(overrides[i - 1], line).toMatch(/^# /);
  });
}
