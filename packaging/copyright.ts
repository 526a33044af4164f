// The machine-readable copyright file (DEP-5, copyright-format 1.0) of the hostwarden Debian packages, made
// at build time from what the package holds: hostwarden itself, the pinned Node.js runtime and every bundled
// production module, each with the copyright lines of its own licence file and the licence of its
// package.json (SPDX, translated to Debian's short names), then one stand-alone paragraph with the text of
// each licence named (packaging/licenses/). Run by the pinned Node 24:
//
//   node packaging/copyright.ts NODE_MODULES_DIR MODULES_TXT YEAR [--modules | --ui]
//
// MODULES_TXT: prod-modules.ts's output (`NAME VERSION LICENSE` per line). Without --modules only
// hostwarden's own paragraph and the Apache-2.0 licence (the agent and controller packages); --ui adds the
// modules bundled into the dashboard's built assets (UI_BUNDLED, read from NODE_MODULES_DIR: the controller
// package, which carries dist/ui). Exits 1 naming a module whose licence has no text in packaging/licenses.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LICENSES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'licenses');

/** SPDX identifiers as Debian's copyright format names them. */
const DEBIAN_NAME: Record<string, string> = {
  MIT: 'Expat',
  'MIT-0': 'MIT-0',
  ISC: 'ISC',
  'BSD-2-Clause': 'BSD-2-clause',
  'BSD-3-Clause': 'BSD-3-clause',
  'Apache-2.0': 'Apache-2.0',
  WTFPL: 'WTFPL',
};

/** An SPDX expression of identifiers joined by OR / AND (parentheses dropped) as a DEP-5 License value. */
export function debianLicense(spdx: string): { value: string; names: string[] } {
  const words = spdx.replace(/[()]/g, ' ').trim().split(/\s+/).filter(Boolean);
  const names: string[] = [];
  const out: string[] = [];
  for (const w of words) {
    if (w === 'OR' || w === 'AND') {
      out.push(w.toLowerCase());
      continue;
    }
    const name = DEBIAN_NAME[w];
    if (!name) throw new Error(`licence "${w}" (in "${spdx}") has no Debian name in packaging/copyright.ts`);
    out.push(name);
    names.push(name);
  }
  if (names.length === 0) throw new Error(`empty licence expression "${spdx}"`);
  return { value: out.join(' '), names };
}

/** The copyright lines of a licence file, without the word "Copyright" ("2016-2024 Matteo Collina"). */
export function copyrightLines(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^(?:copyright\s*(?:\(c\)|©)?|\(c\)|©)\s*[:,]?\s*(.+)$/i.exec(line);
    if (!m) continue;
    const rest = m[1]!.replace(/\s+/g, ' ').trim();
    // "Copyright notice and this permission notice ..." and the like are licence text, not a notice.
    if (!/\d{4}|[A-Z][a-z]/.test(rest) || /^(?:notice|holders?|and|owner|the above)\b/i.test(rest)) continue;
    if (!out.includes(rest)) out.push(rest);
  }
  return out;
}

/** A field's continuation lines: each indented by one space, empty lines as " .". */
function body(text: string): string {
  return text
    .replace(/\s+$/, '')
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l.replace(/\s+$/, '')}`))
    .join('\n');
}

function licenseFile(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const name = readdirSync(dir).find((f) => /^licen[cs]e(?:[.-].*)?$/i.test(f));
  return name ? readFileSync(join(dir, name), 'utf8') : undefined;
}

function authorOf(dir: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { author?: string | { name?: string } };
    const a = typeof pkg.author === 'string' ? pkg.author : pkg.author?.name;
    return a?.replace(/\s*[<(].*$/, '').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** npm modules bundled (minified) into dist/ui/assets by the vite build of ui/: the controller package carries them. */
export const UI_BUNDLED = ['uplot'];

export function makeCopyright(opts: { nodeModules?: string; modules?: string[]; year: string; bundled?: { files: string; nodeModules: string; names: string[] } }): string {
  const used = new Set<string>(['Apache-2.0']);
  const paras: string[] = [
    ['Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/', 'Upstream-Name: hostwarden', 'Source: the hostwarden repository (this package is built from it by packaging/build-deb.sh)'].join('\n'),
    ['Files: *', `Copyright: ${opts.year} hostwarden contributors`, 'License: Apache-2.0'].join('\n'),
  ];
  if (opts.nodeModules !== undefined) {
    paras.push(
      [
        'Files: usr/lib/hostwarden/node/*',
        'Copyright: Node.js contributors, and the authors of the libraries built into its binary',
        'License: Node.js',
      ].join('\n'),
    );
    for (const line of opts.modules ?? []) {
      const [name, version, ...rest] = line.trim().split(/\s+/);
      if (!name) continue;
      const spdx = rest.join(' ');
      const dir = join(opts.nodeModules, name);
      const lic = debianLicense(spdx);
      for (const n of lic.names) used.add(n);
      const text = licenseFile(dir);
      let holders = text ? copyrightLines(text) : [];
      if (holders.length === 0) holders = [authorOf(dir) ?? `the authors of ${name}`];
      paras.push(
        [
          `Files: usr/lib/hostwarden/node_modules/${name}/*`,
          `Copyright: ${holders[0]}${holders.slice(1).map((h) => `\n ${h}`).join('')}`,
          `License: ${lic.value}`,
          `Comment: ${name} ${version ?? '?'} from the npm registry${text ? '; its licence file is kept beside it' : ''}.`,
        ].join('\n'),
      );
    }
  }
  for (const name of opts.bundled?.names ?? []) {
    const dir = join(opts.bundled!.nodeModules, name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string; license?: string };
    const lic = debianLicense(pkg.license ?? '');
    for (const n of lic.names) used.add(n);
    const text = licenseFile(dir);
    let holders = text ? copyrightLines(text) : [];
    if (holders.length === 0) holders = [authorOf(dir) ?? `the authors of ${name}`];
    paras.push(
      [
        `Files: ${opts.bundled!.files}`,
        `Copyright: ${holders[0]}${holders.slice(1).map((h) => `\n ${h}`).join('')}`,
        `License: ${lic.value}`,
        `Comment: ${name} ${pkg.version ?? '?'} from the npm registry, bundled into the dashboard's assets by vite (with hostwarden's own code, under Apache-2.0).`,
      ].join('\n'),
    );
  }
  if (opts.nodeModules !== undefined) {
    paras.push(
      `License: Node.js\n${body('Node.js is under the Expat licence; the libraries built into the binary (V8, libuv, OpenSSL,\nzlib, ICU, and others) are under their own licences. The full texts are in\n/usr/lib/hostwarden/node/LICENSE.')}`,
    );
  }
  for (const name of [...used].sort()) {
    const file = join(LICENSES_DIR, name);
    if (!existsSync(file)) throw new Error(`licence ${name} has no text in ${LICENSES_DIR}`);
    paras.push(`License: ${name}\n${body(readFileSync(file, 'utf8'))}`);
  }
  return `${paras.join('\n\n')}\n`;
}

if (import.meta.main) {
  const [nodeModules, modulesTxt, year, flag] = process.argv.slice(2);
  if (!nodeModules || !modulesTxt || !year) {
    process.stderr.write('usage: node packaging/copyright.ts NODE_MODULES_DIR MODULES_TXT YEAR [--modules]\n');
    process.exit(2);
  }
  try {
    const modules = flag === '--modules' ? readFileSync(modulesTxt, 'utf8').split('\n').filter((l) => l.trim()) : undefined;
    const bundled = flag === '--ui' ? { files: 'usr/lib/hostwarden/dist/ui/assets/*', nodeModules, names: UI_BUNDLED } : undefined;
    process.stdout.write(makeCopyright({ ...(modules ? { nodeModules, modules } : {}), ...(bundled ? { bundled } : {}), year }));
  } catch (err) {
    process.stderr.write(`copyright: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
