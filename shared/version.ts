// The version of hostwarden, read once from the package.json beside the code: ../package.json from the
// TypeScript sources (tests), ../../package.json from dist/shared (the build, the .deb's /usr/lib/hostwarden).
import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hostwarden' && pkg.version) return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0-unknown';
}

export const VERSION = readVersion();
