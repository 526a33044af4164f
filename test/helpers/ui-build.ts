// The built dashboard (dist/ui) the browser tests and the package test need: built on demand when missing
// (npm run build and scripts/test.sh build it before the tests).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NODE, ROOT } from './system.js';

export const UI_DIST = join(ROOT, 'dist/ui');

/** Build dist/ui when it is missing. */
export function ensureUiBuilt(): void {
  if (existsSync(join(UI_DIST, 'index.html')) && existsSync(join(UI_DIST, 'tenant.html'))) return;
  execFileSync(NODE, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(ROOT, 'ui/vite.config.ts')], { cwd: ROOT, timeout: 300_000, stdio: ['ignore', 'inherit', 'inherit'] });
}
