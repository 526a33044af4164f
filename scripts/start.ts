// `npm start`: the controller and the agent on this host with embedded defaults. State (SQLite files, the
// generated tokens and config files, the notices outbox) lives in ./.hostwarden (or $HOSTWARDEN_HOME) and is
// kept between starts. With no tenants configured the agent discovers local accounts (UID >= 1000 with a
// login shell) and only measures them: no limit is written.
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareHome, StartError, type HomeFiles } from './start-home.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const home = resolve(process.env.HOSTWARDEN_HOME ?? join(root, '.hostwarden'));
const listen = process.env.HOSTWARDEN_LISTEN ?? '127.0.0.1:8640';
const host = (hostname().split('.')[0] || 'localhost').replace(/[^A-Za-z0-9._-]/g, '-');

// The tokens and configs, created exclusively or checked to be ours (start-home.ts): never through a link.
let files: HomeFiles;
try {
  files = prepareHome({ home, listen, host });
} catch (err) {
  if (!(err instanceof StartError)) throw err;
  process.stderr.write(`[start] ${err.message}\n`);
  process.exit(err.exitCode);
}
const { adminTokenFile, controllerYaml, agentYaml, url } = files;

const node = process.execPath;
const children: ChildProcess[] = [];
let stopping = false;

function run(name: string, script: string, args: string[]): ChildProcess {
  const child = spawn(node, [join(root, 'dist', script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (stream: NodeJS.ReadableStream, out: NodeJS.WriteStream) => {
    let buf = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        out.write(`[${name}] ${buf.slice(0, i)}\n`);
        buf = buf.slice(i + 1);
      }
    });
  };
  prefix(child.stdout!, process.stdout);
  prefix(child.stderr!, process.stderr);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`[start] ${name} exited (${signal ?? `code ${code}`}); stopping\n`);
      stop(code === 2 ? 2 : 1);
    }
  });
  children.push(child);
  return child;
}

function stop(code = 0): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))))).then(() => process.exit(code));
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

run('controller', 'controller/bin/hostwarden-controller.js', ['--config', controllerYaml]);

async function waitForController(): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return true;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

if (!(await waitForController())) {
  process.stderr.write(`[start] the controller did not answer on ${url}/healthz within 10 s\n`);
  stop(1);
} else {
  const isRoot = process.getuid?.() === 0;
  if (isRoot) run('agent', 'agent/bin/hostwarden-agent.js', ['--config', agentYaml]);
  const ctl = join(root, 'bin/hostwardenctl');
  process.stdout.write(
    [
      '',
      `hostwarden is running (state in ${home}).`,
      `  API:          ${url}   (OpenAPI: ${url}/openapi.json, health: ${url}/healthz)`,
      `  admin token:  ${adminTokenFile}`,
      `  notices:      ${join(home, 'controller', 'outbox')} (one .eml file per notice; add smtp: to ${controllerYaml} to send them)`,
      `  agent:        ${isRoot ? `host "${host}", config ${agentYaml} (monitoring discovered accounts, enforcing nothing)` : 'NOT started: the agent needs root to manage cgroups (run npm start as root)'}`,
      '',
      'Try:',
      `  curl -s -H "Authorization: Bearer $(cat ${adminTokenFile})" ${url}/v1/tenants`,
      `  ${ctl} --url ${url} --token-file ${adminTokenFile} tenants`,
      `  ${ctl} --url ${url} --token-file ${adminTokenFile} usage <tenant> --since 1h`,
      '',
      'Stop with Ctrl-C (tenant processes keep running; `hostwarden-agent --release-all` undoes placement).',
      '',
    ].join('\n'),
  );
}
