// A manual throttle queued through the controller's API reaches the running agent, is applied in the
// kernel, and is shown as applied by the API; a release undoes it. Real daemons, users, cgroups, HTTP.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDriver } from '../../agent/cgroup/detect.js';
import { describeWith, missing, needRoot, needV1Cgroups } from '../helpers/env.js';
import { burner, Cleanup, createUser, freePort, startDaemon, tempDir, type TestUser, uniq, waitFor, writeToken } from '../helpers/system.js';

describeWith(missing([needRoot, needV1Cgroups]), 'manual actions from the API to the kernel', () => {
  const cleanup = new Cleanup();
  const parent = uniq('hostwarden-t');
  let url = '';
  let admin = '';
  let user: TestUser;
  const quota = () => Number(readFileSync(`/sys/fs/cgroup/cpu/${parent}/${user.name}/cpu.cfs_quota_us`, 'utf8'));
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const dir = tempDir(cleanup, 'hw-manual-');
    cleanup.add(`remove cgroups under ${parent}`, () => {
      const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
      for (const t of d.list()) d.remove(t, { kill: true });
      d.teardown();
    });
    user = createUser(cleanup);
    burner(cleanup, user);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    admin = writeToken(join(dir, 'admin.token'));
    writeToken(join(dir, 'agent.token'));
    writeFileSync(
      join(dir, 'controller.yaml'),
      `listen: 127.0.0.1:${port}\nstate_dir: ${join(dir, 'controller')}\nadmin_token_file: ${join(dir, 'admin.token')}\nagents: [ { host: manual, token_file: ${join(dir, 'agent.token')} } ]\nlog_level: warn\n`,
    );
    writeFileSync(
      join(dir, 'agent.yaml'),
      [
        'host: manual',
        'interval: 1s',
        `state_dir: ${join(dir, 'agent')}`,
        `controller: { url: "${url}", token_file: ${join(dir, 'agent.token')} }`,
        `cgroup: { parent: ${parent} }`,
        'bandwidth: { enabled: false }',
        'log_level: warn',
        'tenants:',
        `  - { name: ${user.name}, users: [${user.name}], plan: basic }`,
        'plans: { basic: { cpu: 100 } }',
        '',
      ].join('\n'),
    );
    startDaemon(cleanup, 'controller/bin/hostwarden-controller.js', ['--config', join(dir, 'controller.yaml')]);
    await waitFor('controller', async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok, 20_000);
    startDaemon(cleanup, 'agent/bin/hostwarden-agent.js', ['--config', join(dir, 'agent.yaml')]);
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
