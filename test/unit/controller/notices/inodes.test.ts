// Notices of inode caps (rule inode_cap), from the events the agent's policy/inodes.ts makes: a warning near
// the cap, the cap held by the quota (new files refused), the cap where nothing holds the tenant (said
// plainly), back below the cap, released. A count is not a use averaged over a window: no "measured use" block.
import { describe, expect, it } from 'vitest';
import { evaluateInodeCaps, type InodeCapState } from '../../../../agent/policy/inodes.js';
import { loadTemplates, renderWith } from '../../../../controller/notices/templates.js';
import { classify, noticeView, type ViewContext } from '../../../../controller/notices/view.js';
import type { IncidentEvent } from '../../../../shared/wire/agent.js';
import type { StoredEvent } from '../../../../shared/wire/api.js';
import { stored } from './events.js';

const templates = loadTemplates();
const ctx: ViewContext = { support: { email: 'support@example.com' }, usageUrl: undefined, usageCommand: 'hostwardenctl usage {tenant}', intervalMs: 12 * 3_600_000 };

/** The events of one tenant's counts (cap 1000). */
function events(counts: number[], held: boolean): StoredEvent[] {
  let state: Record<string, InodeCapState> = {};
  const out: IncidentEvent[] = [];
  counts.forEach((count, i) => {
    const r = evaluateInodeCaps({ config: { warn: 0.9, release: 0.85, refreshMs: 600_000 }, tenants: new Map([['alice', { count, cap: 1000, partial: false, held }]]), state, now: Date.UTC(2026, 11, 6, 12, i) });
    state = r.state;
    out.push(...r.events);
  });
  return out.map((e) => stored(e));
}

function render(ev: StoredEvent, maxLevel: number) {
  const cls = classify(ev, maxLevel);
  return { cls, ...renderWith(templates.notice, noticeView(ev, { host: ev.host, agent_incident: ev.incident }, cls, ctx, maxLevel)) };
}

describe('notices of inode caps', () => {
  it('held by the quota: a warning, then new files refused, then below the cap, then released', () => {
    const [warn, cap, below, released] = events([950, 1000, 900, 100], true);
    const w = render(warn!, -1);
    expect(w.cls).toEqual({ category: 'warning', informational: false, limited: true });
    expect(w.subject).toMatch(/alice: inodes near the plan's limit \(warning, nothing limited yet\)/);
    expect(w.text).toContain('owns 950 inodes (files and directories), 95% of its plan\'s limit of 1,000');
    expect(w.text).not.toContain('WHAT WAS MEASURED');
    expect(w.text).toContain('remove caches');
    const c = render(cap!, 0);
    expect(c.cls.category).toBe('throttle');
    expect(c.subject).toMatch(/inodes at the plan's limit, new files refused/);
    expect(c.text).toContain('Disk quota exceeded');
    expect(c.text).toContain('until the account holds fewer files');
    expect(render(below!, 1).subject).toMatch(/inodes below the plan's limit again/);
    const r = render(released!, 1);
    expect(r.cls.category).toBe('release');
    expect(r.subject).toMatch(/inodes back below the plan's limit/);
  });

  it('where no quota holds the tenant, the notice says so plainly, and an opt-out does not silence it', () => {
    const [warn, over] = events([950, 1200], false);
    expect(render(warn!, -1).text).toContain('This server cannot hold you at the limit; please remove files.');
    const o = render(over!, 0);
    expect(o.cls).toEqual({ category: 'warning', informational: false, limited: true });
    expect(o.subject).toMatch(/alice: inodes over the plan's limit/);
    expect(o.text).toContain('This server cannot hold you at the limit; please remove files.');
    expect(o.html).toContain('This server cannot hold you at the limit; please remove files.');
  });
});
