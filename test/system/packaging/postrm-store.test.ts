// Purging hostwarden-agent keeps a file quarantine store that still holds files, and says where; an empty one
// goes with the rest of the agent's state. The maintainer script runs for real, on a copy whose absolute paths
// point into a temp directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const POSTRM = join(import.meta.dirname, '../../../packaging/agent/postrm');

describe('hostwarden-agent postrm purge and the file quarantine store', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function purge(): { stderr: string; status: number | null } {
    const script = readFileSync(POSTRM, 'utf8').replaceAll('/var/lib/hostwarden', `${root}/var/lib/hostwarden`).replaceAll('/etc/hostwarden', `${root}/etc/hostwarden`);
    writeFileSync(join(root, 'postrm'), script);
    const r = spawnSync('sh', [join(root, 'postrm'), 'purge'], { encoding: 'utf8' });
    return { stderr: r.stderr, status: r.status };
  }

  it('keeps a non-empty store and says where; removes the rest', () => {
    root = mkdtempSync(join(tmpdir(), 'hw-postrm-'));
    const state = join(root, 'var/lib/hostwarden/agent');
    mkdirSync(join(state, 'file-quarantine'), { recursive: true });
    writeFileSync(join(state, 'agent.db'), '');
    writeFileSync(join(state, 'malware.db'), '');
    writeFileSync(join(state, 'file-quarantine/abc.json'), '{}');
    writeFileSync(join(state, 'file-quarantine/abc.data'), 'x');
    const r = purge();
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`kept the file quarantine store ${state}/file-quarantine`);
    expect(existsSync(join(state, 'file-quarantine/abc.data'))).toBe(true);
    expect(existsSync(join(state, 'agent.db'))).toBe(false);
    expect(existsSync(join(state, 'malware.db'))).toBe(false);
  });

  it('an empty store goes with the state', () => {
    root = mkdtempSync(join(tmpdir(), 'hw-postrm-'));
    const state = join(root, 'var/lib/hostwarden/agent');
    mkdirSync(join(state, 'file-quarantine'), { recursive: true });
    const r = purge();
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(existsSync(state)).toBe(false);
  });
});
