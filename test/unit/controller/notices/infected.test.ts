// The tenant's notice of infected files (rule infected, from the scanner's event): it lists the files, says
// what was done and what to do, shows no measured use, and escapes a file name that holds HTML.
import { describe, expect, it } from 'vitest';
import { releaseEvent } from '../../../../agent/malware/incidents.js';
import { infectedEvent } from '../../../../agent/malware/service.js';
import type { ScanOutcome } from '../../../../agent/malware/scanner.js';
import { loadTemplates, renderWith } from '../../../../controller/notices/templates.js';
import { classify, noticeView, type ViewContext } from '../../../../controller/notices/view.js';
import type { InfectedFile } from '../../../../shared/wire/files.js';
import { stored } from './events.js';

const ctx: ViewContext = { support: { email: 'support@example.com' }, usageUrl: undefined, usageCommand: 'hostwardenctl usage {tenant}', intervalMs: 3_600_000 };

describe('notice of infected files', () => {
  it('lists the files, what was done and what to do', () => {
    const files: InfectedFile[] = [
      { path: '/home/alice/public_html/wp-content/uploads/x.php', signature: 'Php.Webshell-1', sha256: 'a'.repeat(64), size: 120, action: 'quarantined', id: 'f1' },
      { path: '/home/alice/<b>odd</b>.php', signature: 'HW.Custom', sha256: 'b'.repeat(64), size: 10, action: 'quarantined', id: 'f2' },
    ];
    const o = { tenant: 'alice', scan: 'scan-1', engine: 'clamscan' } as ScanOutcome;
    const ev = stored(infectedEvent(o, files, Date.UTC(2026, 11, 6, 12), 'quarantine'));
    const cls = classify(ev, 0);
    const m = renderWith(loadTemplates().notice, noticeView(ev, { host: ev.host, agent_incident: ev.incident }, cls, ctx, 0));
    expect(m.subject).toContain('infected files moved aside');
    expect(m.text).not.toContain('fair share');
    expect(m.text).toContain('/home/alice/public_html/wp-content/uploads/x.php (Php.Webshell-1)');
    expect(m.text).toContain('moved into the file quarantine');
    expect(m.text).toMatch(/Update the applications/);
    expect(m.text).not.toMatch(/MEASURED|threshold/i);
    expect(m.html).toContain('&lt;b&gt;odd&lt;/b&gt;.php');
    expect(m.html).not.toContain('<b>odd</b>');
  });

  it('the release says the files are dealt with, never that they were just moved', () => {
    const files: InfectedFile[] = [{ path: '/home/alice/x.php', signature: 'Php.Webshell-1', sha256: 'a'.repeat(64), size: 120, action: 'quarantined', id: 'f1' }];
    const o = { tenant: 'alice', scan: 'scan-2', engine: 'clamscan' } as ScanOutcome;
    const opened = infectedEvent(o, files, Date.UTC(2026, 11, 6, 12), 'quarantine');
    const ev = stored(releaseEvent(opened, [{ path: '/home/alice/x.php', sha256: 'a'.repeat(64), action: 'quarantined', id: 'f1', settled: 'restored' }], Date.UTC(2026, 11, 6, 13)));
    const cls = classify(ev, 0);
    expect(cls.category).toBe('release');
    const m = renderWith(loadTemplates().notice, noticeView(ev, { host: ev.host, agent_incident: ev.incident }, cls, ctx, 0));
    expect(m.subject).toContain('infected files dealt with');
    expect(m.text).toContain('are all dealt with');
    expect(m.text).toContain('1 restored');
    expect(m.subject).not.toContain('moved aside');
  });
});
