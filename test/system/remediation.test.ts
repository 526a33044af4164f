// A remediation case walked through its whole lifecycle with real parts: the built controller and agent on
// loopback, a real Linux user running a CPU burner in a real cgroup, a real SMTP server receiving every notice,
// and hostwardenctl. open (notice with a signed link) -> acknowledged through the link (GET changes nothing,
// POST acknowledges; notice) -> reminder (notice) -> overdue (notice) -> the step (throttle level 2) applied
// by the agent in the kernel (the administrator-action notice, naming the case) -> resolved with hostwardenctl
// (notice) -> the throttle lifted by a release (the lift notice) and the plan's cap back in the kernel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { burner, Cleanup, createUser, runProgram, type TestUser, waitFor } from '../helpers/system.js';
import { TestSmtp, type Received } from './controller/notices/smtp.js';

const PUBLIC_URL = 'http://hostwarden.test:8640';

describeWith(missing([needRoot, needV1Cgroups]), 'a remediation case from opening to the lifted throttle', () => {
  const cleanup = new Cleanup();
  const smtp = new TestSmtp();
  let stack: Stack;
  let user: TestUser;
  const quota = () => Number(readFileSync(`/sys/fs/cgroup/cpu/${stack.parent}/${user.name}/cpu.cfs_quota_us`, 'utf8'));
  const api = (method: string, path: string, body?: unknown) => stack.api(method, path, body);
  /** The one mail whose subject matches, once it arrived. */
  const mail = (subject: RegExp): Promise<Received> =>
    waitFor(`a mail "${subject.source}"`, () => {
      const m = smtp.with(subject);
      return m.length ? m : undefined;
    }, 30_000).then((m) => {
      expect(m, `one mail "${subject.source}"`).toHaveLength(1);
      return m[0]!;
    });

  beforeAll(async () => {
    await smtp.start();
    cleanup.add('stop the SMTP server', () => smtp.stop());
    user = createUser(cleanup);
    burner(cleanup, user);
    stack = await startStack(cleanup, {
      host: 'remedy',
      interval: '1s',
      agent: ['tenants:', `  - { name: ${user.name}, users: [${user.name}], email: ${user.name}@example.com, plan: basic }`, 'plans: { basic: { cpu: 100 } }'],
      controller: [
        `smtp: { url: "smtp://127.0.0.1:${smtp.port}", from: "Hosting <noreply@example.com>" }`,
        `public_url: ${PUBLIC_URL}`,
        // The overdue job every second, so a deadline of seconds is seen on time.
        'remediation: { schedule: "* * * * * *", reminder_before: 15s, overdue_step: { action: throttle, level: 2 } }',
      ],
    });
    await waitFor('the plan cap in the kernel', () => quota() === 100_000, 20_000);
    await waitFor('the tenant and its address known to the controller', async () => {
      const t = await api('GET', `/v1/tenants/${user.name}`);
      return t.status === 200 && (t.body.reported as { email?: string } | null)?.email === `${user.name}@example.com`;
    }, 20_000);
  });

  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('open -> acknowledged -> reminder -> overdue -> throttle applied -> resolved -> throttle lifted, each with a notice', async () => {
    const tenant = user.name;
    const what = 'Your backup script <backup.sh> runs every minute & loads the server: run it once a night.';
    const opened = await api('POST', '/v1/remediation-cases', { tenant, what, deadline: '40s' });
    expect(opened.status).toBe(201);
    const id = opened.body.id as number;
    expect(opened.body).toMatchObject({ state: 'open', host: 'remedy', step: { action: 'throttle', level: 2 }, opened_by: 'admin' });

    // 1. Opened: the mail says what, by when, and carries the signed link built from public_url.
    const first = await mail(/please fix an issue with your account/);
    expect(first.mail.subject).toMatch(new RegExp(`^\\[remedy\\] ${tenant}: please fix an issue with your account by \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC$`));
    expect(first.to).toEqual([`${tenant}@example.com`]);
    expect(first.mail.text).toContain('runs every minute & loads the server');
    expect(first.mail.html).toContain('&lt;backup.sh&gt;');
    const link = new RegExp(`${PUBLIC_URL.replace(/[.:/]/g, '\\$&')}(/remediation/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)`).exec(first.mail.text ?? '');
    expect(link, 'the link in the mail').not.toBeNull();
    const page = `${stack.url}${link![1]}`;

    // 2. The tenant opens the link: a page with a button, nothing changed; the button acknowledges.
    const shown = await fetch(page, { headers: { accept: 'text/html' } });
    expect(shown.status).toBe(200);
    const html = await shown.text();
    expect(html).toContain('&lt;backup.sh&gt;');
    expect(html).toContain('<form method="post">');
    expect((await api('GET', `/v1/remediation-cases/${id}`)).body.state).toBe('open');
    const tampered = await fetch(page.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), { method: 'POST' });
    expect(tampered.status).toBe(404);
    const confirmed = await fetch(page, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: '' });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('your acknowledgement is recorded');
    expect((await api('GET', `/v1/remediation-cases/${id}`)).body).toMatchObject({ state: 'acknowledged' });
    const ack = await mail(/your acknowledgement of case/);
    expect(ack.mail.subject).toBe(`[remedy] ${tenant}: thank you: your acknowledgement of case ${id} is recorded`);

    // 3. The reminder before the deadline, then overdue: the step is queued as a manual action.
    const reminder = await mail(/reminder: an issue with your account is due/);
    expect(reminder.mail.text).toContain(`case ${id}`);
    const overdue = await mail(/is overdue/);
    expect(overdue.mail.subject).toBe(`[remedy] ${tenant}: case ${id} is overdue: your account is throttled (level 2)`);
    const caseOverdue = await waitFor('the step queued', async () => {
      const c = (await api('GET', `/v1/remediation-cases/${id}`)).body;
      return c.step_state === 'applied' ? c : undefined;
    }, 20_000);
    expect(caseOverdue.state).toBe('overdue');

    // 4. The agent applies it in the kernel: level 2 is a quarter of the plan's 100% of one core.
    await waitFor('the throttle in the kernel', () => quota() === 25_000, 30_000);
    const action = (await api('GET', `/v1/actions/${caseOverdue.step_action_id as string}`)).body;
    expect(action).toMatchObject({ action: 'throttle', level: 2, by: `remediation:${id}` });
    await waitFor('the action shown applied', async () => (await api('GET', `/v1/actions/${action.id as string}`)).body.state === 'applied', 20_000);
    const throttled = await mail(/throttled by an administrator/);
    expect(throttled.mail.text).toContain(`remediation case ${id} is overdue`);

    // 5. Resolved with hostwardenctl: the case's notice, then a release lifts the throttle.
    const ctl = runProgram('ctl/bin/hostwardenctl.js', ['--url', stack.url, '--token-file', join(stack.dir, 'admin.token'), 'remediation', 'resolve', String(id), '--note', 'the script runs nightly now']);
    expect([ctl.code, ctl.stderr]).toEqual([0, '']);
    expect(ctl.stdout).toMatch(/^state: +resolved$/m);
    const resolved = await mail(/is resolved/);
    expect(resolved.mail.subject).toBe(`[remedy] ${tenant}: case ${id} is resolved`);
    expect(resolved.mail.text).toContain('the script runs nightly now');
    await waitFor('back to the plan cap', () => quota() === 100_000, 30_000);
    const lifted = await mail(/limits lifted/);
    expect(lifted.mail.text).toContain(`remediation case ${id} is resolved`);
    const final = (await api('GET', `/v1/remediation-cases/${id}`)).body;
    expect(final).toMatchObject({ state: 'resolved', step_state: 'lifted' });
    expect((final.history as Array<{ type: string }>).map((e) => e.type)).toEqual(['opened', 'acknowledged', 'reminded', 'overdue', 'step_applied', 'resolved', 'step_lifted']);

    // Every notice of the case, in order, and each admin call in the audit log.
    const listed = (await api('GET', `/v1/notices?tenant=${tenant}`)).body.notices as Array<{ event_type: string; state: string }>;
    expect(listed.filter((n) => n.event_type.startsWith('remediation_')).map((n) => [n.event_type, n.state]).reverse()).toEqual([
      ['remediation_opened', 'sent'],
      ['remediation_acknowledged', 'sent'],
      ['remediation_reminder', 'sent'],
      ['remediation_overdue', 'sent'],
      ['remediation_resolved', 'sent'],
    ]);
    const audit = (await api('GET', '/v1/audit?who=admin')).body.entries as Array<{ method: string; path: string; status: number }>;
    expect(audit.filter((e) => e.path.startsWith('/v1/remediation-cases') && e.method === 'POST').map((e) => [e.path, e.status]).reverse()).toEqual([
      ['/v1/remediation-cases', 201],
      [`/v1/remediation-cases/${id}/resolve`, 200],
    ]);
  });
});
