// With no SMTP configured (the embedded default, and what `npm start` generates), the built controller writes
// one readable .eml file per notice into <state_dir>/outbox: mailparser reads subject, recipients, both parts.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing } from '../../../helpers/env.js';
import { Cleanup, listeningUrl, ROOT, startDaemon, tempDir, waitFor, writeToken } from '../../../helpers/system.js';
import { ladderEvents, ladderSubjects } from '../../../unit/controller/notices/events.js';
import { agentReport, postReport } from './smtp.js';

const BIN = 'controller/bin/hostwarden-controller.js';
const built = existsSync(join(ROOT, 'dist', BIN));

describeWith(missing([[built, 'needs a build (npx tsc -b)']]), 'notices without SMTP', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let url: string;
  let agent: string;

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-notices-outbox-');
    agent = writeToken(join(dir, 'agent.token'));
    // The controller.yaml `npm start` writes (scripts/start.ts): no smtp key.
    writeFileSync(
      join(dir, 'controller.yaml'),
      `listen: 127.0.0.1:0
state_dir: ${join(dir, 'controller')}
admin_token_file: ${join(dir, 'admin.token')}
agents:
  - { host: web01, token_file: ${join(dir, 'agent.token')} }
# smtp: { url: smtp://127.0.0.1:25, from: "Hosting <noreply@example.com>" }   # absent: notices go to the outbox directory
`,
    );
    url = await listeningUrl(startDaemon(cleanup, BIN, ['--config', join(dir, 'controller.yaml')]));
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`)).ok, 20_000, 100);
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('writes one readable .eml file per notice to <state_dir>/outbox', async () => {
    const events = ladderEvents('alice', Date.now() - 5 * 60_000);
    expect(await postReport(url, agent, agentReport(1, events, [{ name: 'alice', email: 'alice@example.com' }]))).toBe(202);
    const outbox = join(dir, 'controller', 'outbox');
    const files = await waitFor('six .eml files', () => {
      const f = existsSync(outbox) ? readdirSync(outbox).filter((n) => n.endsWith('.eml')) : [];
      return f.length === 6 ? f.sort() : undefined;
    });
    expect(readdirSync(outbox).filter((n) => !n.endsWith('.eml'))).toEqual([]); // no temporary files left
    const mails = await Promise.all(files.map(async (f) => simpleParser(readFileSync(join(outbox, f)))));
    expect(mails.map((m) => m.subject)).toEqual(ladderSubjects('alice'));
    for (const m of mails) {
      expect(m.from?.value[0]).toMatchObject({ name: 'hostwarden', address: 'hostwarden@localhost' });
      expect(m.to && !Array.isArray(m.to) ? m.to.text : '').toBe('alice@example.com');
      expect(m.text).toContain('Hello alice,');
      expect(m.html).toContain('<p>Hello alice,</p>');
    }
    // Readable as it is: plain-text headers and body lines a person can read with less(1).
    const raw = readFileSync(join(outbox, files[1]!), 'utf8');
    expect(raw).toMatch(/^Subject: \[web01\] alice: cpu throttled \(level 1\)$/m);
    expect(raw).toMatch(/^To: alice@example.com$/m);
    expect(raw).toContain('Content-Type: text/plain; charset=utf-8');
    expect(raw).toContain('WHAT WAS MEASURED');
  });
});
