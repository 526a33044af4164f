// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core; nothing is
// downloaded): a built controller fed by a real agent governing two real users (one burning CPU), the built
// pages (dist/ui) served as UI-CONTRACT.md says. The admin logs in, opens every page, a chart's plotted values
// (data-series) equal the API's for the same range, a manual throttle made in the page reaches the kernel and
// shows on the chart, a change with the cookie but without the CSRF token is refused, logout ends the session.
// A tenant link shows that tenant only; an altered, expired or revoked link is refused.
// Screenshots of each page go to test-output/screenshots/ (git-ignored).
//
// The pages are the controller's own (/ui/ and /t/); an expired link is one signed with the controller's key
// (read from its database, as the controller reads it) with an expiry in the past: links last at least 1 h.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing, needRoot, needV1Cgroups } from '../../helpers/env.js';
import { startStack, type Stack } from '../../helpers/stack.js';
import { burner, Cleanup, createUser, ROOT, spawnAs, type TestUser, waitFor } from '../../helpers/system.js';
import Database from 'better-sqlite3';
import { newLinkId, signTenantLink, TENANT_LINK_KEY } from '../../../controller/ui/tenant-link.js';
import { ensureUiBuilt } from '../../helpers/ui-build.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-output/screenshots');
/** expect.poll waits 1 s by default: too short for a page's round trips on a loaded machine. */
const POLL = { timeout: 20_000, interval: 200 };
/** In the page (the tests have no DOM types): every chart has drawn. */
const CHARTS_DRAWN = "[...document.querySelectorAll('figure.chart')].every((c) => c.dataset.ready === '1')";

interface Plotted {
  metric: string;
  unit: string;
  from: string;
  to: string;
  step_seconds: number;
  t: number[];
  avg: Array<number | null>;
  max: Array<number | null>;
  cap: number | null;
  throttle: Array<[number, number, string]>;
}
interface Usage {
  from: string;
  to: string;
  step_seconds: number;
  times: string[];
  series: Record<string, { avg: Array<number | null>; max: Array<number | null> }>;
}

describeWith(missing([needRoot, needV1Cgroups, [existsSync(CHROMIUM), 'needs chromium (scripts/install-prereqs.sh installs it)']]), 'the dashboard in a browser', () => {
  const cleanup = new Cleanup();
  let stack: Stack;
  /** Origin of the UI: the admin app is `${ui.url}/ui/`. */
  let ui: { url: string };
  let busy: TestUser;
  let other: TestUser;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const quota = () => Number(readFileSync(`/sys/fs/cgroup/cpu/${stack.parent}/${busy.name}/cpu.cfs_quota_us`, 'utf8'));
  /** The API as a script would call it (bearer token, straight to the controller). */
  const api = (method: string, path: string, body?: unknown) => stack.api(method, path, body);
  /** The same through the UI's origin with the bearer token (contract routes such as tenant links). */
  const uiApi = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${ui.url}${path}`, { method, headers: { authorization: `Bearer ${stack.admin}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> };
  };
  const shot = async (p: Page, name: string) => p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** Open an admin page by its hash and wait until it says it has loaded (and its charts have drawn). */
  const open = async (hash: string) => {
    // The same hash again fires no hashchange: the page is asked to draw itself anew then.
    await page.evaluate(`document.getElementById('page')?.removeAttribute('data-loaded');
      if (location.hash === ${JSON.stringify(hash)}) window.dispatchEvent(new HashChangeEvent('hashchange')); else location.hash = ${JSON.stringify(hash)};`);
    await page.waitForSelector('#page[data-loaded="1"]', { timeout: 30_000 });
    await page.waitForFunction(CHARTS_DRAWN, null, { timeout: 30_000 });
    const err = await page.locator('#page > p.error').allTextContents();
    expect(err, `errors on ${hash}`).toEqual([]);
  };
  /** When the busy tenant's first sample was taken (ms). */
  const firstSample = async () => Date.parse(((await api('GET', `/v1/tenants/${busy.name}/usage?from=1h&resources=cpu_percent`)).body.times as string[])[0]!);
  const plottedOf = async (p: Page, metric: string, range?: string): Promise<Plotted> =>
    JSON.parse((await p.locator(`${range ? `section[data-range="${range}"] ` : ''}figure.chart[data-metric="${metric}"]`).getAttribute('data-series'))!) as Plotted;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    busy = createUser(cleanup, 'hwui');
    other = createUser(cleanup, 'hwuo');
    burner(cleanup, busy);
    spawnAs(cleanup, other, 'sleep', ['600']);
    stack = await startStack(cleanup, {
      host: 'uidash',
      interval: '1s',
      agent: ['tenants:', `  - { name: ${busy.name}, users: [${busy.name}], email: ${busy.name}@example.com, plan: basic }`, `  - { name: ${other.name}, users: [${other.name}], plan: basic }`, 'plans: { basic: { cpu: 100 } }'],
    });
    await waitFor('the plan cap in the kernel', () => quota() === 100_000, 30_000);
    await waitFor('both tenants known to the controller', async () => (await api('GET', `/v1/tenants/${busy.name}`)).status === 200 && (await api('GET', `/v1/tenants/${other.name}`)).status === 200, 30_000);
    // The plan, also through the API, so the pages have a cap to draw.
    expect((await api('PUT', '/v1/plans/basic', { cpu: 100, weight: 1 })).status).toBeLessThan(300);
    ensureUiBuilt();
    ui = { url: stack.url };
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    cleanup.add('close the browser', () => browser.close());
    context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
    page = await context.newPage();
    // A CSP violation or a script error on any page fails the test at the end (not the refusals the tests
    // provoke on purpose, which the browser logs too: a wrong token, a hostile name, calls after logout).
    page.on('console', (m) => m.type() === 'error' && !/\b(400|401|403|410)\b/.test(m.text()) && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // Let a couple of minutes of samples... a few seconds are enough for the raw tier.
    await waitFor('a few samples of the busy tenant', async () => ((await api('GET', `/v1/tenants/${busy.name}/usage?from=5m&resources=cpu_percent`)).body.times as string[]).length >= 5, 30_000);
  });

  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('refuses a wrong token, logs in with the admin token, serves the pages under the CSP', async () => {
    const res = await page.goto(`${ui.url}/ui/`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(res?.headers()['x-content-type-options']).toBe('nosniff');
    await page.waitForSelector('#page[data-page="login"]');
    await shot(page, '01-login');
    await page.fill('#token', 'not-the-token');
    await page.click('form#login button[type=submit]');
    await expect.poll(() => page.textContent('#login-error'), POLL).toContain('not an admin token');
    await page.fill('#token', stack.admin);
    await page.click('form#login button[type=submit]');
    await page.waitForSelector('#page[data-page="fleet"][data-loaded="1"]');
    const cookie = (await context.cookies()).find((c) => c.name === 'hw_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    // The cookie is out of the page's reach.
    expect(await page.evaluate('document.cookie')).not.toContain('hw_session');
  });

  it('fleet: the host with its cores, CPU, memory, PSI, Jain, last report, open incidents; sortable', async () => {
    await open('#/fleet');
    const row = page.locator('tr[data-key="uidash"]');
    await expect.poll(() => row.count(), POLL).toBe(1);
    const host = (await api('GET', '/v1/hosts/uidash')).body as { host_stats: { cores: number } };
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toBe('uidash');
    expect(cells[1]).toBe(String(host.host_stats.cores));
    expect(cells[2]).toMatch(/%$/);
    expect(cells[3]).toMatch(/iB \/ .*iB$/);
    expect(cells[9]).toMatch(/ago|just now/);
    await page.click('th:has-text("Cores")');
    await expect.poll(() => page.getAttribute('th:has-text("Cores")', 'aria-sort'), POLL).toBeTruthy();
    await shot(page, '02-fleet');
  });

  it('tenants: plan, usage now, debt, incidents; the filter keeps the matching ones', async () => {
    await open('#/tenants');
    await expect.poll(() => page.locator(`tr[data-key="${busy.name}"]`).count(), POLL).toBe(1);
    expect(await page.locator(`tr[data-key="${other.name}"]`).count()).toBe(1);
    expect(await page.locator(`tr[data-key="${busy.name}"] td`).nth(2).textContent()).toBe('basic');
    await shot(page, '03-tenants');
    await page.fill('#filter', busy.name);
    await expect.poll(() => page.locator(`tr[data-key="${other.name}"]`).count(), POLL).toBe(0);
    expect(await page.locator(`tr[data-key="${busy.name}"]`).count()).toBe(1);
  });

  it("tenant: each chart plots exactly the API's values for the same range, with the plan cap", async () => {
    // A custom range ending 15 s ago: every report of it has arrived, so the API answers the same twice. It
    // must hold a few samples (1 s apart): on a quick run the stack has not been up that long yet.
    await waitFor('samples older than 20 s', async () => Date.now() - (await firstSample()) > 25_000, 60_000);
    const to = new Date(Date.now() - 15_000);
    const from = new Date(await firstSample());
    await open(`#/tenant/${busy.name}?from=${from.toISOString()}&to=${to.toISOString()}`);
    const metrics = ['cpu_percent', 'memory_current', 'io_read_bps', 'io_write_bps', 'processes'];
    const usage = (await api('GET', `/v1/tenants/${busy.name}/usage?from=${from.toISOString()}&to=${to.toISOString()}&resources=${metrics.join(',')},throttle_level,frozen`)).body as unknown as Usage;
    expect(usage.times.length).toBeGreaterThanOrEqual(5);
    for (const m of metrics) {
      const p = await plottedOf(page, m);
      expect(p.t, m).toEqual(usage.times.map((t) => Math.round(Date.parse(t) / 1000)));
      expect(p.avg, m).toEqual(usage.series[m]!.avg);
      expect(p.max, m).toEqual(usage.series[m]!.max);
    }
    const cpu = await plottedOf(page, 'cpu_percent');
    expect(cpu.cap).toBe(100);
    // The burner's real CPU use was drawn (how much depends on the machine's load: only that it is not idle).
    expect(Math.max(...cpu.avg.filter((v): v is number => v !== null))).toBeGreaterThan(1);
    await shot(page, '04-tenant-custom');
    // The presets ask for the range they name (30 d: hour points).
    await open(`#/tenant/${busy.name}?range=30d`);
    const month = await plottedOf(page, 'cpu_percent');
    expect(month.step_seconds).toBe(3600);
    expect(Date.parse(month.to) - Date.parse(month.from)).toBeGreaterThanOrEqual(30 * 86_400_000 - 3_600_000);
  });

  it('a manual throttle from the actions page (after its confirmation step) reaches the agent and shows on the chart', async () => {
    await open(`#/actions?tenant=${busy.name}`);
    expect(await page.inputValue('#action-tenant')).toBe(busy.name);
    await page.selectOption('#action-kind', 'throttle');
    await page.selectOption('#action-level', '1');
    await page.fill('#action-ttl', '10m');
    await page.fill('#action-reason', 'UI test: cron job hogging the CPU');
    await page.click('#action-review');
    await page.waitForSelector('#confirm:not([hidden])');
    expect(await page.textContent('#confirm')).toContain(`throttle ${busy.name} at level 1 for 10m`);
    // Nothing is sent before the confirmation.
    expect(((await api('GET', `/v1/tenants/${busy.name}/actions`)).body.actions as unknown[]).length).toBe(0);
    await shot(page, '05-actions-confirm');
    await page.click('#confirm-yes');
    const id = await (await page.waitForSelector('#action-result [data-action-id]')).getAttribute('data-action-id');
    // Level 1: half the plan's 100 % of a core.
    await waitFor('the throttle in the kernel', () => quota() === 50_000, 30_000);
    await waitFor('the action applied', async () => (await api('GET', `/v1/actions/${id}`)).body.state === 'applied', 30_000);
    const action = (await api('GET', `/v1/actions/${id}`)).body;
    expect(action).toMatchObject({ action: 'throttle', level: 1, reason: 'UI test: cron job hogging the CPU' });
    // The throttle on the chart: the agent reports throttle_level 1, the chart shades it.
    const shown = await waitFor('the throttle period on the chart', async () => {
      await open(`#/tenant/${busy.name}?range=1h`);
      const p = await plottedOf(page, 'cpu_percent');
      return p.throttle.length > 0 ? p : undefined;
    }, 40_000, 2000);
    expect(shown.throttle.at(-1)![2]).toBe('throttle 1');
    // For the screenshot: the span the stack has data for, the throttle in it.
    await open(`#/tenant/${busy.name}?from=${new Date(await firstSample()).toISOString()}&to=${new Date().toISOString()}`);
    expect((await plottedOf(page, 'cpu_percent')).throttle.length).toBeGreaterThan(0);
    expect(await page.locator('figure.chart[data-metric="cpu_percent"] .throttled').textContent()).toContain('throttle 1');
    // The page lists the action, and the incident it opened is in the timeline.
    await expect.poll(async () => page.locator(`tr[data-key="${id}"]`).count(), POLL).toBe(1);
    await shot(page, '06-tenant-throttled');
  });

  it('incident: the explanation in full and each step of the ladder', async () => {
    const incidents = (await api('GET', `/v1/incidents?tenant=${busy.name}`)).body.incidents as Array<{ id: number; rule: string }>;
    const manual = incidents.find((i) => i.rule === 'manual')!;
    expect(manual).toBeDefined();
    await open(`#/incident/${manual.id}`);
    const text = (await page.textContent('#page'))!;
    for (const s of ['Explanation', 'Measured', 'Threshold', 'What was done', 'What would have avoided it', 'Each step of the ladder', 'UI test: cron job hogging the CPU']) expect(text).toContain(s);
    expect(await page.locator('.ladder li').count()).toBeGreaterThanOrEqual(1);
    await shot(page, '07-incident');
  });

  it('fairness ranking and the audit log (the UI action under the admin name)', async () => {
    await open('#/fairness');
    await expect.poll(() => page.locator(`tr[data-key="${busy.name}"]`).count(), POLL).toBe(1);
    await shot(page, '08-fairness');
    await open('#/audit');
    const rows = await page.locator('tbody tr').allTextContents();
    expect(rows.some((r) => r.includes(`POST /v1/tenants/${busy.name}/actions`) && r.includes('201'))).toBe(true);
    await shot(page, '09-audit');
  });

  it('hostile addresses: an unknown page is the fleet, markup in a tenant name stays text', async () => {
    await open('#/constructor');
    expect(await page.getAttribute('#page', 'data-page')).toBe('fleet');
    const evil = '<img src=x onerror="document.title=1">';
    await page.evaluate(`location.hash = ${JSON.stringify(`#/tenant/${encodeURIComponent(evil)}`)}`);
    await page.waitForSelector('#page[data-page="tenant"][data-loaded="1"]');
    expect(await page.textContent('#page h1')).toContain(evil);
    expect(await page.locator('#page img').count()).toBe(0);
    expect(await page.textContent('#page p.error')).toMatch(/tenant/);
  });

  it('a change with the session cookie but without the CSRF token is refused, also from another site', async () => {
    const before = ((await api('GET', `/v1/tenants/${busy.name}/actions`)).body.actions as unknown[]).length;
    // The browser context's own request client sends the session cookie, as a forged request would.
    const forged = await context.request.post(`${ui.url}/v1/tenants/${busy.name}/actions`, { data: { action: 'quarantine', reason: 'forged' } });
    expect(forged.status()).toBe(403);
    expect(((await forged.json()) as { error: string }).error).toBe('csrf');
    // A page of another site (localhost is another site than 127.0.0.1) posting a form to the API.
    const evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<form id=f method=post action="${ui.url}/v1/tenants/${busy.name}/actions" enctype="text/plain"><input name='{"action":"quarantine","reason":"x","a":"' value='"}'></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
    cleanup.add('stop the other site', () => new Promise((r) => evil.close(r)));
    const evilPage = await context.newPage();
    const answer = evilPage.waitForResponse((r) => r.url().includes('/actions'));
    await evilPage.goto(`http://localhost:${(evil.address() as { port: number }).port}/`);
    expect([401, 403]).toContain((await answer).status());
    await evilPage.close();
    expect(((await api('GET', `/v1/tenants/${busy.name}/actions`)).body.actions as unknown[]).length).toBe(before);
  });

  it('logout ends the session: the cookie no longer opens anything', async () => {
    const cookie = (await context.cookies()).find((c) => c.name === 'hw_session')!;
    await page.click('#logout');
    await page.waitForSelector('#page[data-page="login"]');
    expect(await page.textContent('#page')).toContain('Signed out');
    // The old cookie value, replayed by hand: the session is gone on the server, not only in the browser.
    for (const path of ['/ui/api/session', '/v1/tenants']) {
      const r = await fetch(`${ui.url}${path}`, { headers: { cookie: `hw_session=${cookie.value}` } });
      expect(r.status, path).toBe(401);
    }
    await page.reload();
    await page.waitForSelector('#page[data-page="login"]');
  });

  it("a tenant link shows that tenant's usage, incidents, contact and remediation request, and no other tenant", async () => {
    const opened = await api('POST', '/v1/remediation-cases', { tenant: busy.name, what: 'Update the WordPress plugin that the cron job runs', deadline: '7d' });
    expect(opened.status, JSON.stringify(opened.body)).toBe(201);
    const link = await uiApi('POST', `/v1/tenants/${busy.name}/links`, {});
    expect(link.status).toBe(201);
    const tpage = await context.newPage();
    tpage.on('pageerror', (e) => problems.push(`tenant page error: ${e.message}`));
    const linkUrl = new URL(link.body.url as string, ui.url);
    expect(linkUrl.pathname).toMatch(/^\/t\/[A-Za-z0-9_.-]+$/);
    const res = await tpage.goto(`${ui.url}${linkUrl.pathname}`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    await tpage.waitForSelector('#page[data-loaded="1"]', { timeout: 30_000 });
    await tpage.waitForFunction(CHARTS_DRAWN);
    const text = (await tpage.textContent('#page'))!;
    expect(text).toContain(busy.name);
    expect(text).not.toContain(other.name);
    expect(text).toContain('Whom to contact');
    expect(text).toContain('Update the WordPress plugin');
    // The manual throttle of the admin test, in the tenant's words.
    expect(text).toContain('UI test: cron job hogging the CPU');
    expect(text).toContain('What to change');
    // Its 24 h chart plots the API's minute points for the same range (but the newest minutes, still filling).
    const day = await plottedOf(tpage, 'cpu_percent', '24h');
    expect(day.step_seconds).toBe(60);
    const usage = (await api('GET', `/v1/tenants/${busy.name}/usage?from=${day.from}&to=${day.to}&step=1m&resources=cpu_percent`)).body as unknown as Usage;
    const settled = (t: number) => t * 1000 < Date.parse(day.to) - 120_000;
    const api24 = usage.times.map((t, k) => [Math.round(Date.parse(t) / 1000), usage.series.cpu_percent!.avg[k]] as const).filter(([t]) => settled(t));
    const page24 = day.t.map((t, k) => [t, day.avg[k]] as const).filter(([t]) => settled(t));
    expect(page24).toEqual(api24);
    expect(await tpage.locator('section[data-range="30d"] figure.chart').count()).toBe(5);
    // The request acknowledged from the page.
    await tpage.click('button.ack');
    await expect.poll(() => tpage.textContent('article.case [role=status]'), POLL).toContain('Thank you');
    expect((await api('GET', `/v1/remediation-cases/${opened.body.id}`)).body.state).toBe('acknowledged');
    await tpage.reload();
    await tpage.waitForSelector('#page[data-loaded="1"]');
    await tpage.waitForFunction(CHARTS_DRAWN);
    await shot(tpage, '10-tenant-page');

    // Altered (one character of the MAC), expired, revoked: refused, page and API alike.
    const token = linkUrl.pathname.replace(/^\/t\//, '');
    const altered = token.slice(0, -2) + (token.at(-2) === 'A' ? 'B' : 'A') + token.at(-1);
    const bad = await tpage.goto(`${ui.url}/t/${altered}`);
    expect(bad?.status()).toBe(403);
    expect(await tpage.textContent('body')).toMatch(/altered|not valid/i);
    await shot(tpage, '11-tenant-link-altered');
    expect((await fetch(`${ui.url}/t/${altered}/api/usage`)).status).toBe(403);
    // Expired: a link the controller's key signed, past its expiry (signed here, as the controller signs).
    const db = new Database(join(stack.dir, 'controller', 'controller.db'), { readonly: true, fileMustExist: true });
    const key = Buffer.from((db.prepare('SELECT value FROM meta WHERE key = ?').get(`ui_key:${TENANT_LINK_KEY}`) as { value: string }).value, 'hex');
    db.close();
    const past = signTenantLink(key, { id: newLinkId(), tenant: busy.name, issuedAt: Date.now() - 7_200_000, expiresAt: Date.now() - 3_600_000 });
    const expired = await tpage.goto(`${ui.url}/t/${past}`);
    expect(expired?.status()).toBe(410);
    expect(await tpage.textContent('body')).toMatch(/expired/);
    await shot(tpage, '12-tenant-link-expired');
    expect((await fetch(`${ui.url}/t/${past}/api/summary`)).status).toBe(410);
    // The same claims unexpired pass: the refusal above is the expiry, not the key.
    const fresh = signTenantLink(key, { id: newLinkId(), tenant: busy.name, issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
    expect((await fetch(`${ui.url}/t/${fresh}/api/summary`)).status).toBe(200);
    expect((await uiApi('DELETE', `/v1/tenant-links/${link.body.id as string}`)).status).toBe(204);
    expect((await fetch(`${ui.url}${linkUrl.pathname}/api/summary`)).status).toBe(410);
    expect((await tpage.goto(`${ui.url}${linkUrl.pathname}`))?.status()).toBe(410);
    await tpage.close();
  });

  it('no page broke the CSP or threw', () => {
    expect(problems).toEqual([]);
  });
});
