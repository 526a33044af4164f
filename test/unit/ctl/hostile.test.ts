// Text from the controller is data, never terminal control: every command of hostwardenctl against a
// controller (a real HTTP server on loopback) whose answers carry escape sequences in every string the API
// lets through (process names, command lines, reasons, messages, summaries, record keys): clear screen,
// window titles (OSC 0), OSC 8 links, BEL, the 8-bit CSI and OSC (U+009B, U+009D), NUL, backspace, CR/LF, DEL.
// Nothing but the CLI's own newlines and colours may reach the terminal, with colour on or off, in tables,
// fields, explain, charts, --json and errors that quote the server.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TSchema } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonForTerminal, printable, printableDeep, terminalSafe } from '../../../ctl/format.js';
import { runCli } from '../../../ctl/main.js';
import { validator } from '../../../shared/validate.js';
import {
  ActionListSchema,
  ActionStatusSchema,
  AuditListSchema,
  FairnessRankingSchema,
  HostDetailSchema,
  HostListSchema,
  IncidentDetailSchema,
  IncidentListSchema,
  PlanListSchema,
  SeriesResponseSchema,
  TenantDetailSchema,
  TenantListSchema,
} from '../../../shared/wire/api.js';
import { ACTIONS, FAIRNESS, HOST_DETAIL, HOSTS, INCIDENT, MANUAL_INCIDENT, NOW, PLANS, TENANT, TENANTS, USAGE } from './fixtures.js';

/** Every kind of control a hostile string may carry; "owned" and "click" stay visible once the controls are gone. */
const HOSTILE =
  '\x1b[2J\x1b[H' + // clear the screen, cursor home
  '\x1b]0;owned\x07' + // window title, BEL-terminated
  '\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\' + // OSC 8 link, ST-terminated
  '\x9b31m\x9d0;c1 title\x9c' + // 8-bit CSI and OSC/ST
  '\x00\x07\b\b\r\nX\x7f\x85\t\v\f' + // NUL, BEL, backspaces, CR LF, DEL, NEL, tabs, feeds
  '\x1b[31mred\x1b[0m\x1b[?1049h';

/** The CLI's own colours (chart.ts): the only escape sequences allowed in its output. */
const OWN_COLOURS = /\x1b\[(?:36|33|39)m/g;
// eslint-disable-next-line no-control-regex
const FORBIDDEN = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

function forbidden(text: string): string[] {
  const rest = text.replace(OWN_COLOURS, '');
  return [...rest].flatMap((c, i) => (FORBIDDEN.test(c) ? [`U+${c.charCodeAt(0).toString(16).padStart(4, '0')} at ${i}: ${JSON.stringify(rest.slice(Math.max(0, i - 20), i + 20))}`] : []));
}

/**
 * `value` with HOSTILE appended to every string the schema still accepts so (names, timestamps and enums keep
 * their pattern), and a HOSTILE key added to every object that takes any key.
 */
function poison<T>(value: T, schema: TSchema): T {
  const v = validator(schema);
  const root = structuredClone(value) as unknown;
  if (!v.check(root)) throw new Error(`fixture is not a valid answer: ${v.problems(root).join('; ')}`);
  const tryValue = (node: Record<string | number, unknown>, key: string | number, next: unknown) => {
    const had = Object.hasOwn(node, key);
    const old = node[key];
    node[key] = next;
    if (v.check(root)) return;
    if (had) node[key] = old;
    else delete node[key];
  };
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    const obj = node as Record<string | number, unknown>;
    for (const key of Object.keys(obj)) {
      const x = obj[key];
      if (typeof x === 'string') tryValue(obj, key, `${x}${HOSTILE}`);
      else visit(x);
    }
    if (!Array.isArray(node)) {
      const first = Object.keys(obj)[0];
      if (first !== undefined) tryValue(obj, `${first}${HOSTILE}`, obj[first]);
    }
  };
  visit(root);
  return root as T;
}

const summaryOf = (i: typeof INCIDENT) => {
  const { explanation: _e, history: _h, ...summary } = i;
  return summary;
};
const AUDIT = { id: 1, at: new Date(NOW - 2000).toISOString(), who: 'admin', method: 'POST', path: '/v1/tenants/alice/actions', status: 201, ip: '127.0.0.1', detail: '{"action":"throttle"}' };

const ANSWERS = {
  hosts: poison({ hosts: HOSTS }, HostListSchema),
  host: poison(HOST_DETAIL, HostDetailSchema),
  tenants: poison(TENANTS, TenantListSchema),
  tenant: poison(TENANT, TenantDetailSchema),
  usage: poison(USAGE, SeriesResponseSchema),
  fairness: poison(FAIRNESS, FairnessRankingSchema),
  incidents: poison({ incidents: [summaryOf(INCIDENT), summaryOf(MANUAL_INCIDENT)] }, IncidentListSchema),
  incident: poison(INCIDENT, IncidentDetailSchema),
  manual: poison(MANUAL_INCIDENT, IncidentDetailSchema),
  actions: poison({ actions: ACTIONS }, ActionListSchema),
  action: poison(ACTIONS[0]!, ActionStatusSchema),
  audit: poison({ entries: [AUDIT] }, AuditListSchema),
  plans: poison({ plans: PLANS }, PlanListSchema),
};

const ERROR_BODY = JSON.stringify({ error: `bad_request${HOSTILE}`, message: `tenant is odd${HOSTILE}` });
const ROUTES: Record<string, [number, string, string?]> = {
  'GET /v1/hosts': [200, JSON.stringify(ANSWERS.hosts)],
  'GET /v1/hosts/web01': [200, JSON.stringify(ANSWERS.host)],
  'GET /v1/tenants': [200, JSON.stringify(ANSWERS.tenants)],
  'GET /v1/tenants/alice': [200, JSON.stringify(ANSWERS.tenant)],
  'GET /v1/tenants/alice/usage': [200, JSON.stringify(ANSWERS.usage)],
  'GET /v1/fairness': [200, JSON.stringify(ANSWERS.fairness)],
  'GET /v1/incidents': [200, JSON.stringify(ANSWERS.incidents)],
  'GET /v1/incidents/7': [200, JSON.stringify(ANSWERS.incident)],
  'GET /v1/incidents/8': [200, JSON.stringify(ANSWERS.manual)],
  'GET /v1/actions': [200, JSON.stringify(ANSWERS.actions)],
  [`GET /v1/actions/${ACTIONS[0]!.id}`]: [200, JSON.stringify(ANSWERS.action)],
  'POST /v1/tenants/alice/actions': [201, JSON.stringify(ANSWERS.action)],
  'GET /v1/audit': [200, JSON.stringify(ANSWERS.audit)],
  'GET /v1/plans': [200, JSON.stringify(ANSWERS.plans)],
  // errors that quote the server
  'GET /v1/tenants/eve': [400, ERROR_BODY],
  'GET /v1/tenants/mallory': [404, JSON.stringify({ error: 'not_found', message: `tenant mallory${HOSTILE} is not known` })],
  'GET /v1/tenants/oscar': [502, `Bad Gateway${HOSTILE}`, 'text/plain'],
  'GET /v1/tenants/trent': [401, ERROR_BODY],
  'GET /v1/tenants/weird': [200, JSON.stringify({ ...TENANT, latest: { at: TENANT.latest!.at, values: { 'cpu\x1b]0;owned\x07\x9b2J\x1b[2J': `x${HOSTILE}` } } })],
};

const COMMANDS: string[][] = [
  ['hosts'],
  ['host', 'web01'],
  ['tenants'],
  ['tenant', 'alice'],
  ['usage', 'alice', '--since', '1h'],
  ['usage', 'alice', '--since', '1h', '--chart', 'memory'],
  ['fairness'],
  ['incidents'],
  ['explain', '7'],
  ['explain', '8'],
  ['actions'],
  ['action', ACTIONS[0]!.id],
  ['action', ACTIONS[0]!.id.slice(0, 8)],
  ['throttle', 'alice', '--reason', 'loops'],
  ['audit'],
  ['plans'],
];

let server: Server;
let url = '';
const dir = mkdtempSync(join(tmpdir(), 'hw-ctl-hostile-'));
const token = join(dir, 'admin.token');
writeFileSync(token, 'tok\n');

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    const [status, body, type] = ROUTES[`${req.method} ${req.url!.split('?')[0]}`] ?? [404, '{"error":"not_found","message":"no route"}'];
    res.writeHead(status, { 'content-type': type ?? 'application/json' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[], tty: { color: boolean; columns: number }): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runCli([...argv, '--url', url, '--token-file', token], {
    env: tty.color ? { TERM: 'xterm-256color' } : { NO_COLOR: '1' },
    stdout: (t) => (out += t),
    stderr: (t) => (out += t),
    isTTY: true,
    columns: tty.columns,
    now: () => NOW,
    defaultConfig: join(dir, 'absent.yaml'),
  });
  return { code, out };
}

describe('answers full of escape sequences', () => {
  it('poisons every free-text field of the fixtures (the test is not vacuous)', () => {
    expect(JSON.stringify(ANSWERS.incident.explanation.top_processes[0]!.command)).toContain('\\u001b]0;owned');
    expect(ANSWERS.incident.explanation.summary).toContain(HOSTILE);
    expect(ANSWERS.action.reason).toContain(HOSTILE);
    expect(ANSWERS.host.inventory!.cpu!.model).toContain(HOSTILE);
    expect(Object.keys(ANSWERS.incident.explanation.limits ?? {}).some((k) => k.includes(HOSTILE))).toBe(true);
  });

  for (const tty of [
    { color: true, columns: 200 },
    { color: false, columns: 200 },
    { color: true, columns: 50 },
  ]) {
    it.each(COMMANDS)(`%s ... (colour ${tty.color ? 'on' : 'off'}, ${tty.columns} columns): shows the text, acts on none of it`, async (...argv) => {
      const r = await run(argv, tty);
      expect([argv, r.code]).toEqual([argv, 0]);
      expect(forbidden(r.out)).toEqual([]);
      // what these show of a host or a usage series is names, numbers and times only
      if (argv[0] !== 'hosts' && argv[0] !== 'usage') expect(r.out).toMatch(/owned|click|c1 title|red/);
    });
  }

  it('keeps its own colours in charts when colour is on, and writes none when it is off', async () => {
    expect((await run(['usage', 'alice'], { color: true, columns: 100 })).out).toContain('\x1b[36m');
    expect((await run(['usage', 'alice'], { color: false, columns: 100 })).out).not.toContain('\x1b');
  });

  it('--json: the same JSON value, with no control character a terminal acts on', async () => {
    for (const [argv, answer] of [
      [['explain', '7'], ANSWERS.incident],
      [['hosts'], ANSWERS.hosts],
      [['tenant', 'alice'], ANSWERS.tenant],
    ] as const) {
      const r = await run([...argv, '--json'], { color: true, columns: 80 });
      expect(r.code).toBe(0);
      expect(forbidden(r.out)).toEqual([]);
      expect(JSON.parse(r.out)).toEqual(answer);
    }
  });

  it.each([
    [['tenant', 'eve'], 'the controller refused the request (400 bad_request'],
    [['tenant', 'mallory'], 'tenant mallory'],
    [['tenant', 'oscar'], 'the controller failed (502 http_502): Bad Gateway'],
    [['tenant', 'trent'], 'the controller refused the token'],
    [['tenant', 'weird'], "the controller's answer to GET /v1/tenants/weird is not what this hostwardenctl expects"],
  ])('errors that quote the server: %j', async (argv, start) => {
    const r = await run(argv, { color: true, columns: 80 });
    expect(r.code).toBe(1);
    expect(r.out).toContain(start);
    expect(forbidden(r.out)).toEqual([]);
    expect(r.out.endsWith('\n')).toBe(true);
    expect(r.out.split('\n')).toHaveLength(2); // one line: the server cannot start lines of its own
  });

  it('cleans what a user typed, too, when an error repeats it', async () => {
    const r = await run(['tenant', `a${HOSTILE}`], { color: true, columns: 80 });
    expect(r.code).toBe(2);
    expect(forbidden(r.out)).toEqual([]);
  });
});

describe('the rules of format.ts', () => {
  it('printable: breaks become a space, every other C0/C1 control and DEL is dropped', () => {
    expect(printable('plain text, ünïcödé ✓')).toBe('plain text, ünïcödé ✓');
    expect(printable('a\r\nb\tc\x85d')).toBe('a b c d');
    expect(printable('\x1b[2Jx\x1b]0;t\x07y\x9b31mz\x00\b\x7f')).toBe('[2Jx]0;ty31mz');
    for (let c = 0; c <= 0xa0; c++) expect([c, FORBIDDEN.test(printable(`a${String.fromCharCode(c)}b`))]).toEqual([c, false]);
  });

  it('printableDeep: every string and key, __proto__ kept as a key, nesting bounded', () => {
    const value = JSON.parse('{"a\\u001bb":["x\\u009by",{"__proto__":"p\\u0007"}],"n":1,"t":true,"z":null}') as unknown;
    const clean = printableDeep(value) as Record<string, unknown>;
    expect(clean).toEqual({ ab: ['xy', JSON.parse('{"__proto__":"p"}')], n: 1, t: true, z: null });
    expect(Object.getPrototypeOf((clean.ab as unknown[])[1])).toBe(Object.prototype);
    let deep: unknown = 'leaf';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    expect(() => printableDeep(deep)).not.toThrow();
  });

  it('jsonForTerminal: C1 controls as escapes, the same JSON value', () => {
    const text = JSON.stringify({ s: 'a\x9b31m\x7fb\x1b', k: ['\x85'] });
    const safe = jsonForTerminal(text);
    expect(FORBIDDEN.test(safe)).toBe(false);
    expect(JSON.parse(safe)).toEqual(JSON.parse(text));
  });

  it('terminalSafe: only newlines, tabs and SGR colours pass', () => {
    expect(terminalSafe('a\x1b[36mb\x1b[39m\nc\td')).toBe('a\x1b[36mb\x1b[39m\nc\td');
    expect(terminalSafe('a\x1b[2Jb\x1b]0;t\x07c\x9b1md\re')).toBe('a[2Jb]0;tc1mde');
  });
});
