// The built `npm start` (dist/scripts/start.js) refuses a symbolic link in HOSTWARDEN_HOME before it starts
// anything: exit 2, one line saying which path and why, no daemon started, the link's target untouched.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeWith, missing } from '../../helpers/env.js';
import { Cleanup, ROOT, runProgram, tempDir } from '../../helpers/system.js';

const START = 'scripts/start.js';
const built = existsSync(join(ROOT, 'dist', START));

describeWith(missing([[built, 'needs a build (npx tsc -b)']]), 'npm start with links in HOSTWARDEN_HOME', () => {
  const cleanup = new Cleanup();
  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('a home that is a symbolic link: exit 2 before anything runs', () => {
    const dir = tempDir(cleanup, 'hw-start-');
    mkdirSync(join(dir, 'real'));
    symlinkSync(join(dir, 'real'), join(dir, 'home'));
    const r = runProgram(START, [], { env: { HOSTWARDEN_HOME: join(dir, 'home'), HOSTWARDEN_LISTEN: '127.0.0.1:0' }, timeoutMs: 30_000 });
    expect(r).toEqual({ code: 2, stdout: '', stderr: `[start] HOSTWARDEN_HOME ${join(dir, 'home')} is a symbolic link (to "${join(dir, 'real')}"): npm start writes tokens there and follows no link; point HOSTWARDEN_HOME at the real directory\n` });
    expect(existsSync(join(dir, 'real', 'admin.token'))).toBe(false);
  });

  it('a token file that is a symbolic link to a file elsewhere: exit 2, the file untouched and not used', () => {
    const dir = tempDir(cleanup, 'hw-start-');
    mkdirSync(join(dir, 'home'), { mode: 0o750 });
    writeFileSync(join(dir, 'secret'), 'not a token of ours\n', { mode: 0o600 });
    symlinkSync(join(dir, 'secret'), join(dir, 'home', 'admin.token'));
    const r = runProgram(START, [], { env: { HOSTWARDEN_HOME: join(dir, 'home'), HOSTWARDEN_LISTEN: '127.0.0.1:0' }, timeoutMs: 30_000 });
    expect([r.code, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toMatch(/^\[start\] .*admin\.token is a symbolic link .*\n$/);
    expect(readFileSync(join(dir, 'secret'), 'utf8')).toBe('not a token of ours\n');
    expect(existsSync(join(dir, 'home', 'controller.yaml'))).toBe(false);
  });
});
