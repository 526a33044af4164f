// The pure parts of the Debian packaging: which files of a module are shipped (packaging/prod-modules.ts),
// the DEP-5 copyright file (packaging/copyright.ts) and the manual pages made from --help (packaging/man/man.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyrightLines, debianLicense, makeCopyright } from '../../../packaging/copyright.js';
import { makeManPage, parseHelp, roff } from '../../../packaging/man/man.js';
import { binFiles, isRuntimeFile } from '../../../packaging/prod-modules.js';
import { Cleanup, tempDir } from '../../helpers/system.js';

describe('prod-modules: what of a module is shipped', () => {
  it.each([
    ['lib/index.js', false, true],
    ['index.d.ts', false, false],
    ['lib/index.js.map', false, false],
    ['README.md', false, false],
    ['LICENSE', false, true],
    ['LICENSE.md', false, true],
    ['license', false, true],
    ['.gitattributes', false, false],
    ['.npmignore', false, false],
    ['.eslintrc.yml', false, false],
    ['spec/.eslintrc.yml', false, false],
    ['dist/.eslintrc.cjs', false, false],
    ['eslint.config.js', false, false],
    ['tsconfig.json', false, false],
    ['.travis.yml', false, false],
    ['test', true, false],
    ['test/a.js', false, false],
    ['benchmarks/x.js', false, false],
    ['docs', true, false],
    ['integration/test.sh', false, false],
    ['.github', true, false],
    ['lib/.github/x.yml', false, false],
    // The same names deeper down are run-time code (typebox/build/type/types, yaml/dist/doc).
    ['build/type/types', true, true],
    ['build/type/types/index.mjs', false, true],
    ['dist/doc/createNode.js', false, true],
    ['lib/spec/openapi.js', false, true],
    ['index.html', false, false],
    ['package.json', false, true],
  ])('%s (dir %s) -> %s', (rel, dir, shipped) => {
    expect(isRuntimeFile(rel, dir)).toBe(shipped);
  });

  it('drops a module\'s own CLI unless it is its main', () => {
    expect(binFiles({ main: 'pino.js', bin: { pino: './bin.js' } })).toEqual(['bin.js']);
    expect(binFiles({ main: './dist/index.js', bin: './bin.mjs' })).toEqual(['bin.mjs']);
    expect(binFiles({ main: 'cli.js', bin: './cli.js' })).toEqual([]);
    expect(binFiles({ bin: { x: '../escape.js' } })).toEqual([]);
    expect(binFiles({})).toEqual([]);
  });
});

describe('copyright (DEP-5)', () => {
  const cleanup = new Cleanup();
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('translates SPDX expressions to Debian short names', () => {
    expect(debianLicense('MIT')).toEqual({ value: 'Expat', names: ['Expat'] });
    expect(debianLicense('(MIT OR WTFPL)')).toEqual({ value: 'Expat or WTFPL', names: ['Expat', 'WTFPL'] });
    expect(debianLicense('(BSD-2-Clause OR MIT OR Apache-2.0)').value).toBe('BSD-2-clause or Expat or Apache-2.0');
    expect(() => debianLicense('GPL-3.0-only')).toThrow(/GPL-3.0-only.*no Debian name/);
    expect(() => debianLicense('')).toThrow(/empty/);
  });

  it('takes the copyright lines of a licence file, not the licence text that says "copyright"', () => {
    const mit = 'The MIT License (MIT)\n\nCopyright (c) 2016-2024 Matteo Collina and contributors\nCopyright © 2015 Someone Else\n\nThe above copyright notice and this permission notice shall be included\n';
    expect(copyrightLines(mit)).toEqual(['2016-2024 Matteo Collina and contributors', '2015 Someone Else']);
    expect(copyrightLines('Copyright notice and this permission notice appear in all copies.')).toEqual([]);
  });

  it('covers every module with its holders and licence, and carries the text of each licence named', () => {
    const nm = join(tempDir(cleanup, 'hw-copyright-'), 'node_modules');
    mkdirSync(join(nm, 'alpha'), { recursive: true });
    writeFileSync(join(nm, 'alpha/LICENSE'), 'Copyright (c) 2020 Alpha Author\n');
    mkdirSync(join(nm, '@s/beta'), { recursive: true });
    writeFileSync(join(nm, '@s/beta/package.json'), JSON.stringify({ author: 'Beta Person <b@example.com>' }));
    const text = makeCopyright({ nodeModules: nm, modules: ['alpha 1.0.0 MIT', '@s/beta 2.0.0 (ISC OR MIT)'], year: '2026' });
    expect(text).toMatch(/^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/\n/);
    expect(text).toContain('Files: *\nCopyright: 2026 hostwarden contributors\nLicense: Apache-2.0\n');
    expect(text).toContain('Files: usr/lib/hostwarden/node_modules/alpha/*\nCopyright: 2020 Alpha Author\nLicense: Expat\n');
    expect(text).toContain('Files: usr/lib/hostwarden/node_modules/@s/beta/*\nCopyright: Beta Person\nLicense: ISC or Expat\n');
    for (const l of ['Apache-2.0', 'Expat', 'ISC']) expect(text).toMatch(new RegExp(`\\n\\nLicense: ${l}\\n [^\\n]+`));
    expect(text).not.toMatch(/\n\nLicense: WTFPL/);
    // Field continuation lines are indented, empty ones are " ."; paragraphs are separated by one empty line.
    expect(text).not.toMatch(/\n\n\n/);
    for (const para of text.trim().split('\n\n')) for (const line of para.split('\n').slice(1)) expect(line, line).toMatch(/^(?: \S.*| \.|[A-Z][A-Za-z-]+: .*)$/);
  });
});

describe('manual pages from --help', () => {
  const help = [
    'Usage: prog [--config FILE] [--once]',
    '',
    'Does things to tenants.',
    '',
    '  --config FILE   the config (default /etc/x.yaml; embedded defaults if that file',
    '                  is absent)',
    '  --once          one tick',
    '  -h, --help      this text',
    '',
    'Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.',
  ].join('\n');

  it('splits usage, paragraphs and option blocks (continuation lines joined)', () => {
    expect(parseHelp(help)).toEqual([
      { kind: 'usage', text: 'prog [--config FILE] [--once]' },
      { kind: 'para', text: 'Does things to tenants.' },
      {
        kind: 'items',
        header: undefined,
        items: [
          { term: '--config FILE', text: 'the config (default /etc/x.yaml; embedded defaults if that file is absent)' },
          { term: '--once', text: 'one tick' },
          { term: '-h, --help', text: 'this text' },
        ],
      },
      { kind: 'para', text: 'Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.' },
    ]);
  });

  it('escapes roff: backslashes, leading dots, option hyphens', () => {
    expect(roff('a\\b')).toBe('a\\eb');
    expect(roff('.hidden line')).toBe('\\&.hidden line');
    expect(roff('use --once or -h')).toBe('use \\-\\-once or \\-h');
  });

  it('makes a page with NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXIT STATUS and the hand-written sections', () => {
    const page = makeManPage({ name: 'prog', version: '1.2.3', date: '2026-12-06', help, fragment: 'summary: does things\n.SH FILES\n.I /etc/x.yaml\n' });
    expect(page).toMatch(/^\.\\" Generated by packaging\/man\/man\.ts/);
    expect(page).toContain('.TH PROG 1 "2026-12-06" "hostwarden 1.2.3" "hostwarden"\n.SH NAME\nprog \\- does things\n');
    expect(page).toContain('.SH SYNOPSIS\n.B prog\n[\\-\\-config FILE] [\\-\\-once]\n');
    expect(page).toContain('.SH DESCRIPTION\nDoes things to tenants.\n');
    expect(page).toContain('.TP\n\\fB\\-\\-config\\fR \\fIFILE\\fR\nthe config (default /etc/x.yaml; embedded defaults if that file is absent)\n');
    expect(page).toContain('.SH EXIT STATUS\n0 ok, 1 runtime failure, 2 usage or configuration error.\n');
    expect(page).toContain('.TP\n\\fB\\-h,\\fR \\fB\\-\\-help\\fR\nprint the help\n');
    expect(page.indexOf('.SH EXIT STATUS')).toBeLessThan(page.indexOf('.SH FILES'));
    expect(() => makeManPage({ name: 'prog', version: '1', date: 'd', help, fragment: '.SH FILES\n' })).toThrow(/no "summary:" line/);
  });
});
