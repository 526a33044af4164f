// hostwardenctl files: the list and one file in words, from answers the API's schemas accept.
import { describe, expect, it } from 'vitest';
import { renderFile, renderFiles } from '../../../ctl/commands/files.js';
import { validator } from '../../../shared/validate.js';
import { QuarantinedFileSchema } from '../../../shared/wire/api.js';
import type { QuarantinedFile } from '../../../shared/wire/files.js';

const NOW = Date.UTC(2026, 11, 6, 12);
const FILE: QuarantinedFile = {
  id: '0b7d3c9e-3f43-4c1e-9a55-5b8c1f2e7a01',
  tenant: 'alice',
  host: 'web01',
  path: '/home/alice/public_html/shell.php',
  size: 2048,
  sha256: 'a'.repeat(64),
  signature: 'Php.Webshell-1',
  uid: 1001,
  gid: 1001,
  mode: 0o644,
  mtime: new Date(NOW - 86_400_000).toISOString(),
  quarantined_at: new Date(NOW - 3_600_000).toISOString(),
  scan: 'scan-1',
  state: 'quarantined',
  state_at: new Date(NOW - 3_600_000).toISOString(),
  reported_at: new Date(NOW - 3_590_000).toISOString(),
  request: { id: 'req-1', action: 'restore', host: 'web01', tenant: 'alice', file: '0b7d3c9e-3f43-4c1e-9a55-5b8c1f2e7a01', by: 'admin', created_at: new Date(NOW - 60_000).toISOString(), state: 'failed', state_at: new Date(NOW - 30_000).toISOString(), message: '/home/alice/public_html/shell.php is taken: something else is at that path now' },
};
const view = { width: 160, color: false, now: NOW };

describe('hostwardenctl files', () => {
  it('the fixture is what the API answers', () => {
    expect(validator(QuarantinedFileSchema).problems(FILE)).toEqual([]);
  });

  it('a row per file with the short id, state, signature, latest request and path', () => {
    const out = renderFiles([FILE], view);
    expect(out.split('\n')[0]).toMatch(/^ID\s+TENANT\s+HOST\s+STATE\s+SINCE\s+SIZE\s+SIGNATURE\s+REQUEST/);
    expect(out).toContain('path: /home/alice/public_html/shell.php');
    expect(out).toContain('0b7d3c9e');
    expect(out).toContain('restore failed: /home/alice/public_html/shell.php is taken');
    expect(renderFiles([], view)).toBe('no quarantined files match\n');
  });

  it('one file in full', () => {
    const out = renderFile(FILE, view);
    expect(out).toMatch(/owner:\s+uid 1001, gid 1001, mode 0644/);
    expect(out).toMatch(/request:\s+restore failed \(asked by admin/);
  });
});
