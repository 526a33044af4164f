// The whole way with real parts: an administrator's throttle queued through the API, applied by the running
// agent to a real user's processes, reported as an incident event with the reason; the controller (no SMTP:
// the embedded default) writes the tenant's notice to its outbox directory, addressed from the email the
// agent reported for the tenant; the release makes a second notice.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing, needRoot, needV1Cgroups } from '../../../helpers/env.js';
import { startStack, type Stack } from '../../../helpers/stack.js';
import { burner, Cleanup, createUser, type TestUser, waitFor } from '../../../helpers/system.js';

describeWith(missing([needRoot, needV1Cgroups]), 'notices of an agent-applied action', () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  let user: TestUser;

  async function mails(n: number): Promise<ParsedMail[]> {
    const outbox = join(stack.dir, 'controller', 'outbox');
    const files = await waitFor(`${n} notices in ${outbox}`, () => {
      const f = existsSync(outbox) ? readdirSync(outbox).filter((x) => x.endsWith('.eml')).sort() : [];
      return f.length >= n ? f : undefined;
    }, 30_000);
    return Promise.all(files.map((f) => simpleParser(readFileSync(join(outbox, f)))));
  }

  beforeAll(async () => {
    user = createUser(cleanup);
    burner(cleanup, user);
    stack = await startStack(cleanup, {
      host: 'noticehost',
      interval: '1s',
      agent: ['tenants:', `  - { name: ${user.name}, users: [${user.name}], email: ${user.name}@example.com, plan: basic }`, 'plans: { basic: { cpu: 100 } }'],
    });
  });
  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('the tenant is told that an administrator throttled it, why, and when it is lifted', async () => {
    await waitFor('the tenant and its address known to the controller', async () => {
      const t = await stack.api('GET', `/v1/tenants/${user.name}`);
      return t.status === 200 && (t.body.reported as { email?: string } | null)?.email === `${user.name}@example.com`;
    }, 20_000);
    const queued = await stack.api('POST', `/v1/tenants/${user.name}/actions`, { action: 'throttle', level: 2, reason: 'your cron job <backup.sh> runs every minute', ttl: '10m' });
    expect(queued.status).toBe(201);
    const [throttled] = await mails(1);
    expect(throttled!.subject).toBe(`[noticehost] ${user.name}: all resources throttled by an administrator (level 2)`);
    expect(throttled!.to && !Array.isArray(throttled!.to) ? throttled!.to.text : '').toBe(`${user.name}@example.com`);
    expect(throttled!.text).toContain('"your cron job <backup.sh> runs every minute"');
    expect(throttled!.html).toContain('your cron job &lt;backup.sh&gt; runs every minute');
    expect(throttled!.text).toMatch(/How long: until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);

    expect((await stack.api('POST', `/v1/tenants/${user.name}/actions`, { action: 'release', reason: 'the cron job was fixed' })).status).toBe(201);
    const all = await mails(2);
    expect(all[1]!.subject).toBe(`[noticehost] ${user.name}: all resources limits lifted`);
    expect(all[1]!.text).toContain('the cron job was fixed');
    const listed = (await stack.api('GET', `/v1/notices?tenant=${user.name}`)).body.notices as Array<Record<string, unknown>>;
    expect(listed.map((n) => [n.event_type, n.state, n.manual])).toEqual([
      ['released', 'sent', true],
      ['opened', 'sent', true],
    ]);
  });
});
