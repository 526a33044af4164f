// hostwardenctl remediation: the table and one case rendered from a real-shaped answer (checked against the
// API's schema first), and the arguments refused before anything is sent.
import { describe, expect, it } from 'vitest';
import { renderCase, renderCases } from '../../../ctl/commands/remediation.js';
import { visibleLength } from '../../../ctl/format.js';
import { runCli } from '../../../ctl/main.js';
import { validator } from '../../../shared/validate.js';
import { RemediationCaseSchema, type RemediationCase } from '../../../shared/wire/api.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');
const view = (width: number) => ({ width, color: false, now: NOW });

const CASE: RemediationCase = {
  id: 4,
  tenant: 'alice',
  host: 'web01',
  state: 'overdue',
  what: 'The backup cron job runs every minute:\nrun it once a night.',
  rule: 'cpu-fair-share',
  opened_by: 'controller',
  opened_at: '2026-12-01T12:00:00.000Z',
  deadline: '2026-12-05T12:00:00.000Z',
  acknowledged_at: '2026-12-01T13:00:00.000Z',
  reminded_at: '2026-12-04T12:00:00.000Z',
  overdue_at: '2026-12-05T12:00:10.000Z',
  resolved_at: null,
  resolution: null,
  step: { action: 'throttle', level: 2 },
  step_state: 'applied',
  step_action_id: '0b7e4f36-4c1b-4f4e-9a53-3b8a5e0d1c2f',
  lift_action_id: null,
  evidence: {
    incidents: [{ id: 12, host: 'web01', rule: 'cpu-fair-share', resource: 'cpu', opened_at: '2026-11-30T10:00:00.000Z', summary: 'alice used 380% CPU while the host was contended' }],
    top_processes: [{ incident_id: 12, pid: 4242, command: 'php backup.php', cpu_percent: 180, rss_bytes: 104857600 }],
  },
  history: [
    { at: '2026-12-01T12:00:00.000Z', type: 'opened', by: 'controller', note: null },
    { at: '2026-12-05T12:00:10.000Z', type: 'overdue', by: 'controller', note: 'the deadline passed' },
  ],
};

describe('hostwardenctl remediation', () => {
  it('the fixture is an answer the API can give', () => {
    expect(validator(RemediationCaseSchema).problems(CASE, 5)).toEqual([]);
  });

  it('a table that fits the width', () => {
    for (const width of [80, 120]) {
      const text = renderCases([CASE], view(width));
      expect(text).toMatch(/^ID +TENANT +HOST +STATE +DEADLINE +STEP +BY/);
      expect(text).toContain('The backup cron job runs every minute');
      expect(text).toContain('overdue');
      expect(text).toContain('throttle 2 (applied)');
      expect(text.split('\n').every((l) => visibleLength(l) <= width)).toBe(true);
    }
    expect(renderCases([], view(80))).toBe('no remediation cases\n');
  });

  it('one case with its evidence and history', () => {
    const text = renderCase(CASE, view(100));
    expect(text).toMatch(/^case: +4$/m);
    expect(text).toMatch(/^state: +overdue$/m);
    expect(text).toContain('The backup cron job runs every minute: run it once a night.');
    expect(text).toContain('#12');
    expect(text).toContain('pid 4242 180% cpu (incident #12): php backup.php');
    expect(text).toMatch(/overdue by controller: the deadline passed/);
  });

  it('refuses bad arguments before anything is sent (exit 2)', async () => {
    const run = async (...argv: string[]) => {
      let err = '';
      const code = await runCli(['--url', 'http://127.0.0.1:1', ...argv], { stdout: () => {}, stderr: (t) => (err += t), env: { HOSTWARDEN_TOKEN: 'x' }, isTTY: false, columns: 80, defaultConfig: '/nonexistent/ctl.yaml' });
      return { code, err };
    };
    expect(await run('remediation', 'close', '4')).toMatchObject({ code: 2, err: expect.stringContaining('ACTION') });
    expect(await run('remediation', 'resolve', '4')).toMatchObject({ code: 2, err: expect.stringContaining('--note is required') });
    expect(await run('remediation', 'open', 'alice')).toMatchObject({ code: 2, err: expect.stringContaining('--what is required') });
    expect(await run('remediation', 'open', 'alice', '--what', 'x', '--step', 'freeze')).toMatchObject({ code: 2, err: expect.stringContaining('--step') });
    expect(await run('remediation', 'show', 'x')).toMatchObject({ code: 2, err: expect.stringContaining('ID') });
  });
});
