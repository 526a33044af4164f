// Notices end to end: the built controller binary on a real port, incident events posted over HTTP as the
// agent sends them (made by the agent's own policy engine), a real SMTP server on loopback, and mailparser
// reading what arrives. Content (subject, recipients and Bcc in the envelope, both parts, measured values,
// the explanation, <script> escaped); the mail server down and the controller killed and restarted in
// between (each notice arrives exactly once); 100 violations in an hour (one email per step, every
// quarantine and release, one digest).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { IncidentEvent, TenantInfoWire } from '../../../../shared/wire/agent.js';
import { describeWith, missing } from '../../../helpers/env.js';
import { Cleanup, listeningUrl, ROOT, startDaemon, tempDir, waitFor, writeToken, type Daemon } from '../../../helpers/system.js';
import { apiQueue, ladderEvents, ladderSubjects, queuedManualEvents, SCRIPT_COMMAND } from '../../../unit/controller/notices/events.js';
import { agentReport, postReport, TestSmtp } from './smtp.js';

const BIN = 'controller/bin/hostwarden-controller.js';
const built = existsSync(join(ROOT, 'dist', BIN));
const INTERVAL_S = 20;

interface NoticeJson {
  id: number;
  tenant: string;
  kind: string;
  event_type: string | null;
  level: number | null;
  state: string;
  message_id: string;
  attempts: number;
  error: string | null;
  subject: string;
}

describeWith(missing([[built, 'needs a build (npx tsc -b)']]), 'notices by email', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let url: string;
  let admin: string;
  let agent: string;
  let config: string;
  let daemon: Daemon;
  let smtp: TestSmtp;
  let seq = 0;

  const h = (token: string) => ({ authorization: `Bearer ${token}` });
  async function post(events: IncidentEvent[], tenants?: TenantInfoWire[]): Promise<void> {
    expect(await postReport(url, agent, agentReport(++seq, events, tenants))).toBe(202);
  }
  async function notices(query = ''): Promise<NoticeJson[]> {
    const res = await fetch(`${url}/v1/notices?limit=10000${query}`, { headers: h(admin) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { notices: NoticeJson[] }).notices;
  }
  async function start(): Promise<void> {
    daemon = startDaemon(cleanup, BIN, ['--config', config]);
    url = await listeningUrl(daemon); // a new port at every start (listen on 0)
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`)).ok, 20_000, 100);
  }

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-notices-');
    smtp = new TestSmtp();
    await smtp.start();
    cleanup.add('stop the SMTP server', () => smtp.stop());
    agent = writeToken(join(dir, 'agent-web01.token'));
    config = join(dir, 'controller.yaml');
    writeFileSync(
      config,
      `listen: 127.0.0.1:0
state_dir: ${join(dir, 'state')}
admin_token_file: ${join(dir, 'admin.token')}
agents: [ { host: web01, token_file: ${join(dir, 'agent-web01.token')} } ]
smtp: { url: "smtp://127.0.0.1:${smtp.port}", from: "Hosting <noreply@example.com>", timeout: 5s }
notices:
  interval: ${INTERVAL_S}s
  admin_bcc: [abuse@example.com]
  support: { email: support@example.com }
  usage_url: https://panel.example.com/usage/{tenant}
  retry: { min: 300ms, max: 1s }
ingest: { parser_threads: 0 }
`,
    );
    await start();
    admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
  });
  afterAll(async () => {
    const errors = await cleanup.run();
    expect(errors).toEqual([]);
  });

  it('sends each step of an incident: subject, recipients, Bcc, both parts, what was measured, the explanation, escaped HTML', async () => {
    const ladder = ladderEvents('alice', Date.now() - 5 * 60_000);
    await post(ladder, [{ name: 'alice', email: 'alice@example.com' }]);
    await waitFor('six notices of alice', () => smtp.with(/alice/).length >= 6, 20_000);
    expect(smtp.with(/alice/).map((r) => r.mail.subject)).toEqual(ladderSubjects('alice'));

    const [got] = smtp.with('[web01] alice: cpu throttled (level 1)');
    const ev = ladder[1]!;
    const m = got!.mail;
    // The envelope carries the admin copy; the headers do not show it.
    expect(got!.from).toBe('noreply@example.com');
    expect(got!.to.sort()).toEqual(['abuse@example.com', 'alice@example.com']);
    expect(m.from?.value[0]).toMatchObject({ name: 'Hosting', address: 'noreply@example.com' });
    expect(m.to && !Array.isArray(m.to) ? m.to.text : '').toBe('alice@example.com');
    expect(m.bcc).toBeUndefined();
    expect(m.replyTo?.text).toBe('support@example.com');
    expect(m.headers.get('auto-submitted')).toBe('auto-generated');
    expect(m.headers.get('x-hostwarden-incident')).toBe(`web01/${ev.incident}`);
    expect(String(m.headers.get('content-type') && (m.headers.get('content-type') as { value: string }).value)).toBe('multipart/alternative');
    // Both parts: what was measured, against what, over which window, the explanation, what to do.
    const measured = `${ev.explanation.measured.value}% of one core`;
    for (const part of [m.text!, m.html as string]) {
      expect(part).toContain(measured);
      expect(part).toContain('averaged over 30s');
      expect(part).toContain(`${ev.explanation.threshold.value}% of one core`);
      expect(part).toContain('other customers waited for cpu 42% of the time (threshold 20%)');
      expect(part).toContain('Throttled (level 1): cpu limited to 75% of one core');
      expect(part).toContain('https://panel.example.com/usage/alice');
      expect(part).toContain('Heavy cron jobs');
    }
    expect(m.text).toContain(ev.explanation.summary);
    expect(m.html).toContain(ev.explanation.summary.replace(/'/g, '&#39;'));
    // A command line with markup arrives escaped in HTML, as it is in plain text.
    expect(m.html).not.toContain('<script>');
    expect(m.html).toContain('php-fpm: pool alice &lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;');
    expect(m.text).toContain(SCRIPT_COMMAND);
    // The quarantine says until when.
    const [q] = smtp.with(/quarantined/);
    expect(q!.mail.text).toContain(`How long: until ${ladder[3]!.until!.slice(0, 19).replace('T', ' ')} UTC`);

    // The API shows them sent, each with the Message-ID that arrived.
    const listed = (await notices('&tenant=alice')).reverse();
    expect(listed.map((n) => [n.event_type, n.level, n.state, n.attempts])).toEqual([
      ['opened', 0, 'sent', 1],
      ['escalated', 1, 'sent', 1],
      ['escalated', 2, 'sent', 1],
      ['escalated', 3, 'sent', 1],
      ['relaxed', 2, 'sent', 1],
      ['released', 0, 'sent', 1],
    ]);
    expect(smtp.with(/alice/).map((r) => r.mail.messageId)).toEqual(listed.map((n) => n.message_id));
  });

  it("an administrator's quarantine says so and quotes the reason", async () => {
    await post(await queuedManualEvents(apiQueue(url, admin), 'quarantine', { tenant: 'alice', now: Date.now() - 1000, reason: 'phishing kit in ~/public_html/<x>' }));
    const [got] = await waitFor('the manual quarantine', () => {
      const r = smtp.with('[web01] alice: quarantined by an administrator, processes frozen (all resources)');
      return r.length ? r : undefined;
    });
    expect(got!.mail.text).toContain('An administrator has quarantined your account alice on web01');
    expect(got!.mail.text).toContain('"phishing kit in ~/public_html/<x>"');
    expect(got!.mail.html).toContain('phishing kit in ~/public_html/&lt;x&gt;');
  });

  it('while the mail server is down notices wait; after a controller crash and restart each arrives exactly once', async () => {
    await smtp.stop();
    const before = smtp.received.length;
    const t0 = Date.now() - 5 * 60_000;
    const events = [...ladderEvents('dave', t0).slice(0, 3), ...(await queuedManualEvents(apiQueue(url, admin), 'throttle', { tenant: 'erin', now: Date.now() - 1000, level: 2 }))];
    await post(events, [
      { name: 'dave', email: 'dave@example.com' },
      { name: 'erin', email: 'erin@example.com' },
    ]);
    const waiting = await waitFor('failed attempts recorded', async () => {
      const n = (await notices()).filter((x) => x.tenant === 'dave' || x.tenant === 'erin');
      return n.length === 4 && n.every((x) => x.state === 'queued' && x.attempts >= 2 && x.error) ? n : undefined;
    });
    expect(waiting[0]!.error).toMatch(/ECONNREFUSED|connect/);

    // The controller dies (SIGKILL) and comes back while the mail server is still down: nothing is lost.
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    await start();
    // The restarted sender may be trying one of them right now ('sending'): both states are "waiting".
    const attempts = new Map((await notices()).filter((n) => n.state === 'queued' || n.state === 'sending').map((n) => [n.id, n.attempts]));
    expect(attempts.size).toBe(4);
    await waitFor('attempts after the restart', async () => (await notices()).some((x) => attempts.has(x.id) && x.state === 'queued' && x.attempts > attempts.get(x.id)!));

    await smtp.start();
    await waitFor('the four notices', () => smtp.received.length >= before + 4, 20_000);
    // Stop and start once more: nothing is sent again.
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    await start();
    const sent = await waitFor('all sent', async () => {
      const n = (await notices()).filter((x) => x.tenant === 'dave' || x.tenant === 'erin');
      return n.every((x) => x.state === 'sent') ? n : undefined;
    });
    // A retry cycle and more: anything sent twice would have arrived by now.
    await new Promise((r) => setTimeout(r, 2500));
    const arrived = smtp.received.slice(before).map((r) => r.mail.messageId);
    expect(arrived.sort()).toEqual(sent.map((n) => n.message_id).sort());
    expect(new Set(arrived).size).toBe(4);
  });

  it('100 violations of one tenant within an hour: one email per step, every quarantine and release, and a digest', async () => {
    const start = Date.now() - 3_600_000;
    const events = Array.from({ length: 17 }, (_, i) => ladderEvents('bob', start + i * 210_000)).flat();
    expect(events).toHaveLength(102);
    await post([], [{ name: 'bob', email: 'bob@example.com' }]);
    // As the agent reports them: a few events per report.
    for (let i = 0; i < events.length; i += 6) await post(events.slice(i, i + 6));
    const bob = () => smtp.with(/\] bob: /);
    await waitFor('the digest', () => bob().some((r) => /held back/.test(r.mail.subject ?? '')), (INTERVAL_S + 20) * 1000, 250);
    const subjects = bob().map((r) => r.mail.subject!.replace('[web01] bob: ', ''));
    const count = (s: string | RegExp) => subjects.filter((x) => (typeof s === 'string' ? x === s : s.test(x))).length;
    expect(count('cpu use above its fair share (warning, nothing limited yet)')).toBe(1);
    expect(count('cpu throttled (level 1)')).toBe(1);
    expect(count('cpu throttled (level 2)')).toBe(1);
    expect(count('quarantine over, cpu still throttled (level 2)')).toBe(1);
    expect(count('quarantined, processes frozen (cpu)')).toBe(17);
    expect(count('cpu limits lifted')).toBe(17);
    expect(count(/^64 notices held back since /)).toBe(1);
    expect(subjects).toHaveLength(4 + 17 + 17 + 1);
    const [digest] = bob().filter((r) => /held back/.test(r.mail.subject ?? ''));
    expect(digest!.mail.text).toMatch(/cpu +warnings +x16 /);
    expect(digest!.mail.text).toMatch(/cpu +throttle level 2 +x16 /);
    expect(digest!.to.sort()).toEqual(['abuse@example.com', 'bob@example.com']);
    const listed = await notices('&tenant=bob');
    expect(listed.filter((n) => n.state === 'digested')).toHaveLength(64);
    expect(listed.filter((n) => n.state === 'sent')).toHaveLength(39);
  });
});
