// One email rule on every way in and out: the same table of valid and hostile addresses is accepted or refused
// alike by shared/email.ts, the wire and API schemas (input and answers, through the shared validator()), the
// agent.yaml reader and the controller's admin copies; and through the controller itself, an address it
// accepts is listed again (no 500 after a 2xx), one it refuses is not stored.
import type { TSchema } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../agent/config.js';
import { buildApp, type App } from '../../../controller/http/app.js';
import { TokenRegistry } from '../../../controller/auth.js';
import { parseNoticesConfig } from '../../../controller/notices/config.js';
import { Section } from '../../../shared/config.js';
import { EMAIL_MAX_LENGTH, EMAIL_PATTERN, isEmail } from '../../../shared/email.js';
import { validator } from '../../../shared/validate.js';
import * as agentWire from '../../../shared/wire/agent.js';
import * as api from '../../../shared/wire/api.js';
import { report, tempStore } from '../controller/fixtures.js';

const long = (n: number) => 'a'.repeat(n);
/** An address of exactly `n` characters: a 64-character local part and labels of at most 63. */
function ofLength(n: number): string {
  const local = long(64);
  let domain = 'example.com';
  while (local.length + 1 + domain.length < n) domain = `${long(Math.min(63, n - local.length - 1 - domain.length - 1))}.${domain}`;
  return `${local}@${domain}`;
}

const VALID = [
  'alice@example.com',
  'UPPER@EXAMPLE.COM',
  'a.b-c+tag@sub.example.co.uk',
  "o'brien@example.ie",
  "x!#$%&'*+/=?^_`{|}~-y@example.org",
  'a@b.cd',
  '1@2.3',
  'user@xn--bcher-kva.example',
  `${long(64)}@example.com`,
  ofLength(EMAIL_MAX_LENGTH),
];

const HOSTILE = [
  // the addresses of the issue: accepted on input, then GET /v1/tenants answered 500
  'a@b',
  '"a b"@c.d',
  '"x\r\ny"@a.b',
  // no local part, no domain, two @
  '',
  '@example.com',
  'alice@',
  'alice',
  'a@@example.com',
  'a@b@example.com',
  // dots in the wrong places
  '.alice@example.com',
  'alice.@example.com',
  'a..b@example.com',
  'alice@example..com',
  'alice@.example.com',
  'alice@example.com.',
  // labels
  'alice@-example.com',
  'alice@example-.com',
  `alice@${long(64)}.com`,
  'alice@exa_mple.com',
  'root@localhost',
  // whitespace and control characters anywhere
  'a b@example.com',
  ' alice@example.com',
  'alice@example.com ',
  'alice@example.com\n',
  '\nalice@example.com',
  'alice@example.com\r\nBcc: victim@example.net',
  'al\tice@example.com',
  'a\u0000@example.com',
  'a\u001b[2J@example.com',
  'a\u009b31m@example.com',
  'a\u007f@example.com',
  'alice@example.com\u2028',
  // quoted strings, comments, display names, lists, literals, escapes
  '"alice"@example.com',
  'alice(comment)@example.com',
  'Alice <alice@example.com>',
  '<alice@example.com>',
  'alice@example.com, bob@example.com',
  'alice@[127.0.0.1]',
  'a\\@b@example.com',
  'a"b@example.com',
  // not ASCII (internationalized domains go in punycode)
  'ä@example.com',
  'alice@bücher.example',
  // lengths
  `${long(65)}@example.com`,
  ofLength(EMAIL_MAX_LENGTH + 1),
  `${long(64)}@${long(5000)}.com`,
];

describe('the email rule', () => {
  it('builds addresses of the lengths the table says', () => {
    expect([ofLength(EMAIL_MAX_LENGTH).length, ofLength(EMAIL_MAX_LENGTH + 1).length]).toEqual([EMAIL_MAX_LENGTH, EMAIL_MAX_LENGTH + 1]);
  });

  it.each(VALID)('accepts %j', (email) => expect(isEmail(email)).toBe(true));
  it.each(HOSTILE)('refuses %j', (email) => expect(isEmail(email)).toBe(false));

  it('is the same rule as a JSON Schema pattern with the unicode flag (how ajv and fast-json-stringify compile it)', () => {
    const u = new RegExp(EMAIL_PATTERN, 'u');
    for (const email of [...VALID, ...HOSTILE]) expect([email, u.test(email)]).toEqual([email, isEmail(email)]);
  });
});

/** Every schema exported by the wire modules, walked: each `email` property has the rule, none has `format: email`. */
function emailSchemas(): Array<[string, TSchema]> {
  const found: Array<[string, TSchema]> = [];
  const seen = new Set<unknown>();
  const walk = (where: string, s: unknown): void => {
    if (!s || typeof s !== 'object' || seen.has(s)) return;
    seen.add(s);
    const schema = s as Record<string, unknown>;
    if (schema.format === 'email') found.push([`${where} (format: email)`, schema as TSchema]);
    const props = schema.properties as Record<string, unknown> | undefined;
    if (props?.email) found.push([`${where}.email`, props.email as TSchema]);
    for (const [k, v] of Object.entries(schema)) if (typeof v === 'object') walk(`${where}.${k}`, v);
  };
  for (const [name, s] of [...Object.entries(agentWire), ...Object.entries(api)]) walk(name, s);
  return found;
}

describe('the schemas', () => {
  it('carry the one rule wherever an email is declared, and no looser or stricter `format: email`', () => {
    const found = emailSchemas();
    expect(found.map(([where]) => where)).toEqual(expect.arrayContaining(['TenantInfoWireSchema.email', 'TenantSpecSchema.email', 'TenantPutSchema.email']));
    for (const [where, s] of found) {
      const e = s as { anyOf?: unknown; pattern?: string; maxLength?: number; format?: string };
      expect([where, e.format, e.pattern, e.maxLength]).toEqual([where, undefined, EMAIL_PATTERN, EMAIL_MAX_LENGTH]);
    }
  });

  const spec = (email: string) => ({ name: 'yolanda', users: ['yolanda'], plan: 'basic', email });
  const listed = (email: string) => ({
    name: 'yolanda',
    host: 'web01',
    managed: true,
    plan: 'basic',
    weight: 1,
    spec: spec(email),
    reported: { name: 'yolanda', email, source: 'config' },
    first_seen: null,
    last_seen: null,
    debt: 0,
    open_incidents: 0,
  });
  const cases: Array<[string, TSchema, (email: string) => unknown]> = [
    ['PUT /v1/tenants body', api.TenantPutSchema, (email) => ({ users: ['yolanda'], plan: 'basic', email })],
    ['tenant directory of a report', agentWire.ReportSchema, (email) => report('web01', 1, Date.UTC(2025, 0, 31), [], { tenants: [{ name: 'yolanda', email }] })],
    ['tenant spec of the policy', agentWire.TenantSpecSchema, spec],
    ['GET /v1/tenants answer', api.TenantListSchema, (email) => ({ tenants: [listed(email)], total: 1 })],
    ['GET /v1/tenants/{tenant} answer', api.TenantDetailSchema, (email) => ({ ...listed(email), latest: null })],
  ];

  it.each(cases)('%s: accepts exactly what isEmail accepts', (_what, schema, body) => {
    const v = validator(schema);
    for (const email of [...VALID, ...HOSTILE]) expect([email, v.check(body(email))]).toEqual([email, isEmail(email)]);
  });

  it('agent.yaml tenants and the controller admin copies use it too', () => {
    const agentAccepts = (email: string) => {
      try {
        readAgentConfig({ host: 'web01', tenants: [{ name: 'yolanda', users: ['yolanda'], email }] });
        return true;
      } catch {
        return false;
      }
    };
    const bccAccepts = (email: string) => {
      try {
        parseNoticesConfig(Section.root({ admin_bcc: [email] }, 'notices'));
        return true;
      } catch {
        return false;
      }
    };
    for (const email of [...VALID, ...HOSTILE]) expect([email, agentAccepts(email)]).toEqual([email, isEmail(email)]);
    // an admin copy may carry a display name around the address, which must itself pass
    for (const email of [...VALID, ...HOSTILE].filter((e) => !/[<>,"()\\\s]/.test(e))) expect([email, bccAccepts(email)]).toEqual([email, isEmail(email)]);
    expect(bccAccepts('Ops <ops@example.com>')).toBe(true);
    expect(bccAccepts('Ops <root@localhost>')).toBe(false);
  });
});

describe('through the controller', () => {
  const ADMIN = 'admin-token-for-email-tests';
  const AGENT = 'agent-token-for-email-tests';
  let app: App;
  let t: ReturnType<typeof tempStore>;
  beforeAll(async () => {
    const tokens = new TokenRegistry();
    tokens.addToken(ADMIN, { kind: 'admin', name: 'admin' });
    tokens.addToken(AGENT, { kind: 'agent', name: 'agent:web01', host: 'web01' });
    t = tempStore();
    app = await buildApp({ store: t.store, tokens });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await t.dispose();
  });

  it('stores and lists what it accepts, refuses the rest with 400 and stores nothing: never a 500', async () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    expect((await app.inject({ method: 'PUT', url: '/v1/plans/basic', headers: admin, payload: { cpu: 100, weight: 1 } })).statusCode).toBe(201);
    let n = 0;
    for (const email of [...VALID, ...HOSTILE]) {
      const name = `t${n++}`;
      const put = await app.inject({ method: 'PUT', url: `/v1/tenants/${name}`, headers: admin, payload: { users: [name], plan: 'basic', host: 'web01', email } });
      expect([email, put.statusCode]).toEqual([email, isEmail(email) ? put.statusCode : 400]);
      expect([email, put.statusCode < 300, put.body]).toEqual([email, isEmail(email), put.body]);
      const one = await app.inject({ method: 'GET', url: `/v1/tenants/${name}`, headers: admin });
      expect([email, one.statusCode]).toEqual([email, isEmail(email) ? 200 : 404]);
      if (isEmail(email)) expect(one.json().spec.email).toBe(email);
    }
    const list = await app.inject({ method: 'GET', url: '/v1/tenants', headers: admin });
    expect(list.statusCode).toBe(200);
    expect((list.json() as { tenants: Array<{ spec: { email: string } }> }).tenants.map((x) => x.spec.email).sort()).toEqual([...VALID].sort());
  });

  it('takes a tenant directory with a valid address from an agent and lists it', async () => {
    const body = report('web01', 1, Date.now(), [], { tenants: [{ name: 'walter', email: 'walter@example.com', source: 'config' }] });
    const res = await app.inject({ method: 'POST', url: '/v1/reports', headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json' }, payload: body });
    expect(res.statusCode).toBe(202);
    const one = await app.inject({ method: 'GET', url: '/v1/tenants/walter', headers: { authorization: `Bearer ${ADMIN}` } });
    expect([one.statusCode, one.json().reported?.email]).toEqual([200, 'walter@example.com']);
    expect((await app.inject({ method: 'GET', url: '/v1/tenants', headers: { authorization: `Bearer ${ADMIN}` } })).statusCode).toBe(200);
  });
});
