// A manual throttle queued through the controller's API reaches the running agent, is applied in the
// kernel, and is shown as applied by the API; a release undoes it. Real daemons, users, cgroups, HTTP.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { burner, Cleanup, createUser, type TestUser, waitFor } from '../helpers/system.js';

describeWith(missing([needRoot, needV1Cgroups]), 'manual actions from the API to the kernel', () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  let user: TestUser;
  const quota = () => Number(readFileSync(`/sys/fs/cgroup/cpu/${stack.parent}/${user.name}/cpu.cfs_quota_us`, 'utf8'));
  const api = (method: string, path: string, body?: unknown) => stack.api(method, path, body);

  beforeAll(async () => {
    user = createUser(cleanup);
    burner(cleanup, user);
    stack = await startStack(cleanup, {
      host: 'manual',
      interval: '1s',
      agent: ['tenants:', `  - { name: ${user.name}, users: [${user.name}], plan: basic }`, 'plans: { basic: { cpu: 100 } }'],
    });
    await waitFor('the plan cap in the kernel', () => quota() === 100_000, 20_000);
  });

  afterAll(async () => expect(await cleanup.run()).toEqual([]));

  it('throttle: queued, applied in the kernel, shown as applied; release: back to the plan', async () => {
    await waitFor('the tenant known to the controller', async () => (await api('GET', `/v1/tenants/${user.name}`)).status === 200, 20_000);
    const queued = await api('POST', `/v1/tenants/${user.name}/actions`, { action: 'throttle', level: 1, reason: 'abuse report #42', ttl: '10m' });
    expect(queued.status).toBe(201);
    expect(queued.body).toMatchObject({ tenant: user.name, action: 'throttle', level: 1, state: 'pending', host: 'manual' });
    const id = queued.body.id as string;
    // Level 1 of a manual throttle: half the plan's cpu (100% of one core) = 50000 us per 100000 us period.
    await waitFor('the throttle in the kernel', () => quota() === 50_000, 20_000);
    const applied = await waitFor('the API shows it applied', async () => {
      const r = await api('GET', `/v1/actions/${id}`);
      return r.body?.state === 'applied' ? r.body : undefined;
    }, 20_000);
    expect(applied).toMatchObject({ id, state: 'applied', reason: 'abuse report #42' });

    const release = await api('POST', `/v1/tenants/${user.name}/actions`, { action: 'release', reason: 'customer fixed the cron job' });
    expect(release.status).toBe(201);
    await waitFor('back to the plan cap', () => quota() === 100_000, 20_000);
    await waitFor('the throttle shown as released', async () => (await api('GET', `/v1/actions/${id}`)).body?.state === 'released', 20_000);
    // The incident the action made, with its explanation and the admin's reason, ended by the release.
    const incidents = (await api('GET', `/v1/incidents?tenant=${user.name}`)).body.incidents as Array<Record<string, unknown>>;
    const manual = incidents.find((i) => i.rule === 'manual')!;
    expect(manual).toBeDefined();
    const detail = await api('GET', `/v1/incidents/${manual.id}`);
    expect(detail.status).toBe(200);
    expect(JSON.stringify(detail.body)).toContain('abuse report #42');
    expect(detail.body.state).toBe('released');
  });
});
