import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../shared/errors.js';
import { readAgentConfig } from '../../../../agent/config.js';
import { desiredApiRate, desiredWebRate } from '../../../../agent/policy/desired.js';
import { readPolicyConfig } from '../../../../agent/policy/policy-config.js';
import { Section } from '../../../../shared/config.js';
import { apiPathRegex, hexName, INCLUDE_HEADER, nginxQuote, normalizeDomain, renderNginxInclude, retryAfterSeconds } from '../../../../agent/webserver/nginx.js';

const A = { tenant: 'alpha', perMinute: 600, domains: ['Alpha.test.', '*.alpha.test'], apiPaths: ['/api/', '/graphql'] };
const B = { tenant: 'beta', perMinute: 120, domains: ['beta.test'], apiPaths: ['/wp-json/'] };

describe('nginx include', () => {
  it('holds each tenant by virtual host and API path, with a per-client sub-limit and Retry-After', () => {
    const r = renderNginxInclude([B, A], { perClient: 0.5 });
    expect(r.problems).toEqual([]);
    expect(r.tenants).toEqual(['alpha', 'beta']);
    const t = r.text;
    expect(t.startsWith(INCLUDE_HEADER)).toBe(true);
    expect(t).toContain('map $host $hostwarden_tenant {\n    hostnames;\n    default "";\n    "alpha.test" "alpha";\n    "*.alpha.test" "alpha";\n    "beta.test" "beta";\n}');
    expect(t).toContain('"~^alpha:/api/" "alpha";');
    expect(t).toContain('"~^alpha:/graphql(?:/|$)" "alpha";');
    expect(t).toContain('"~^beta:/wp-json/" "beta";');
    const hex = hexName('alpha');
    expect(t).toContain(`limit_req_zone $hostwarden_t_${hex} zone=hostwarden_${hex}:32k rate=600r/m;`);
    expect(t).toContain(`limit_req_zone $hostwarden_c_${hex} zone=hostwarden_c_${hex}:1m rate=300r/m;`);
    expect(t).toContain(`"alpha" $binary_remote_addr;`);
    expect(t).toContain(`limit_req zone=hostwarden_${hex} burst=10 nodelay;`);
    expect(t).toContain('"429:alpha" 1;');
    expect(t).toContain('"429:beta" 1;');
    expect(t).toContain('limit_req_status 429;');
    expect(t).toContain('add_header Retry-After $hostwarden_retry_after always;');
  });

  it('names nobody when nobody is held, and is stable for the same input', () => {
    const empty = renderNginxInclude([], { perClient: 0.5 });
    expect(empty.text).toBe(`${INCLUDE_HEADER}\n# No tenant is held at the web server now.\n`);
    expect(renderNginxInclude([A, B], { perClient: 0.5 }).text).toBe(renderNginxInclude([B, A], { perClient: 0.5 }).text);
    expect(renderNginxInclude([B], { perClient: 0.5 }).text).not.toContain('alpha');
  });

  it('refuses a domain that is not a hostname, and a domain claimed twice goes to the first tenant', () => {
    for (const bad of ['a.test; }', 'a"b.test', 'a b', 'a\nb', '*.*.a', 'a.*.b', '-a.test', '', '$host', 'a{b}', "a'b", 'x'.repeat(254)]) {
      expect('problem' in normalizeDomain(bad), bad).toBe(true);
    }
    expect(normalizeDomain(' WWW.Example.COM. ')).toEqual({ domain: 'www.example.com' });
    const r = renderNginxInclude([{ ...A, domains: ['alpha.test', 'evil.test;} server {'] }, { ...B, tenant: 'zeta', domains: ['alpha.test'] }], { perClient: 0.5 });
    expect(r.tenants).toEqual(['alpha']);
    expect(r.text).not.toContain('evil');
    expect(r.problems.join('\n')).toMatch(/evil.*not a hostname/);
    expect(r.problems.join('\n')).toMatch(/zeta.*alpha.test is also tenant alpha's/);
  });

  it('quotes API paths so no character leaves its string or its regular expression', () => {
    const path = '/we"ird;{$x}\\ (a|b)*.php?';
    const re = apiPathRegex('t.1', path);
    // The regular expression (PCRE and JavaScript agree on these escapes) matches the path literally.
    const compiled = new RegExp(re);
    expect(compiled.test(`t.1:${path}`)).toBe(true);
    expect(compiled.test(`t.1:${path}/x`)).toBe(true);
    expect(compiled.test('tx1:/we"ird;{$x}\\ (a|b)*.php?')).toBe(false);
    expect(compiled.test(`t.1:${path}x`)).toBe(false);
    const quoted = nginxQuote(`~${re}`);
    // Inside the quotes every " and \ is escaped: the string ends only at its last character.
    expect(/^"(?:[^"\\]|\\.)*"$/.test(quoted)).toBe(true);
    const r = renderNginxInclude([{ ...A, apiPaths: [path] }], { perClient: 0.5 });
    expect(r.text).toContain(nginxQuote(`~${apiPathRegex('alpha', path)}`));
  });

  it('refuses a tenant name or a rate it cannot write', () => {
    const r = renderNginxInclude([{ ...A, tenant: 'a"b' }, { ...B, perMinute: 0.5 }], { perClient: 0.5 });
    expect(r.tenants).toEqual([]);
    expect(r.problems).toHaveLength(2);
  });

  it('holds web bytes per response through a map of limit_rate, apart from API calls', () => {
    const r = renderNginxInclude([{ ...A, bytesPerSecond: 204800 }, { tenant: 'gamma', bytesPerSecond: 1024, domains: ['gamma.test'], apiPaths: ['/api/'] }], { perClient: 0.5 });
    expect(r.problems).toEqual([]);
    expect(r.tenants).toEqual(['alpha', 'gamma']);
    expect(r.text).toContain('map $hostwarden_tenant $hostwarden_limit_rate {\n    default 0;\n    "alpha" 204800;\n    "gamma" 1024;\n}\nlimit_rate $hostwarden_limit_rate;');
    expect(r.text).toContain('"gamma.test" "gamma";');
    // gamma's API calls are not held: no zone, no API path of its.
    expect(r.text).not.toContain(hexName('gamma'));
    expect(r.text).not.toContain('~^gamma:');
    // Only bytes held: no API maps or limit_req at all.
    const bytesOnly = renderNginxInclude([{ tenant: 'gamma', bytesPerSecond: 1024, domains: ['gamma.test'], apiPaths: ['/api/'] }], { perClient: 0.5 }).text;
    expect(bytesOnly).not.toContain('limit_req');
    expect(bytesOnly).not.toContain('$hostwarden_api');
    expect(bytesOnly).toContain('limit_rate $hostwarden_limit_rate;');
    // Neither held: the tenant is not in the include.
    expect(renderNginxInclude([{ tenant: 'gamma', domains: ['gamma.test'], apiPaths: [] }], { perClient: 0.5 }).tenants).toEqual([]);
    expect(renderNginxInclude([{ ...A, bytesPerSecond: 0.5 }], { perClient: 0.5 }).problems.join()).toMatch(/not a whole number of bytes per second/);
  });

  it('says Retry-After as the per-client wait, at least 1 s', () => {
    expect(retryAfterSeconds(600, 0.5)).toBe(1);
    expect(retryAfterSeconds(10, 0.5)).toBe(12);
    expect(retryAfterSeconds(1, 0.5)).toBe(60);
  });
});

describe('desiredApiRate', () => {
  const config = readPolicyConfig(new Section({}, 'policy'));
  it('is the plan cap, lowered by a manual throttle level', () => {
    expect(desiredApiRate(undefined, undefined, config)).toBeUndefined();
    expect(desiredApiRate({ weight: 1 }, undefined, config)).toBeUndefined();
    expect(desiredApiRate({ weight: 1, api: 600 }, undefined, config)).toBe(600);
    const manual = { actionId: 'x', action: 'throttle', level: 1 } as Parameters<typeof desiredApiRate>[1];
    expect(desiredApiRate({ weight: 1, api: 600 }, manual, config)).toBe(Math.round(600 * config.throttle.level1));
    expect(desiredApiRate({ weight: 1, api: 1 }, { ...manual!, level: 2 }, config)).toBe(1);
  });
  it('web bytes: the plan bandwidth cap, lowered by a manual throttle (at least 1 KiB/s)', () => {
    expect(desiredWebRate({ weight: 1 }, undefined, config)).toBeUndefined();
    expect(desiredWebRate({ weight: 1, bandwidth: 1 << 20 }, undefined, config)).toBe(1 << 20);
    const manual = { actionId: 'x', action: 'throttle', level: 2 } as Parameters<typeof desiredWebRate>[1];
    expect(desiredWebRate({ weight: 1, bandwidth: 1 << 20 }, manual, config)).toBe((1 << 20) * config.throttle.level2);
    expect(desiredWebRate({ weight: 1, bandwidth: 2000 }, manual, config)).toBe(1024);
    expect(desiredWebRate({ weight: 1, bandwidth: 100 }, manual, config)).toBe(100);
    expect(desiredWebRate({ weight: 1, bandwidth: 1 << 20 }, { ...manual!, action: 'notice', level: 0 }, config)).toBe(1 << 20);
  });
});

describe('web_server config', () => {
  it('is off unless set, and has defaults', () => {
    expect(readAgentConfig({}).webServer).toBeUndefined();
    expect(readAgentConfig({ web_server: { include: '/etc/nginx/conf.d/hostwarden-limits.conf' } }).webServer).toEqual({
      kind: 'nginx',
      include: '/etc/nginx/conf.d/hostwarden-limits.conf',
      check: ['nginx', '-t'],
      reload: ['nginx', '-s', 'reload'],
      perClient: 0.5,
      timeoutMs: 30_000,
      listenQueues: [80, 443],
      queueThreshold: 8,
    });
    expect(readAgentConfig({ web_server: { include: '/x/l.conf', listen_queues: ['443', '[::1]:8443', '127.0.0.1:80', '*:80', '/run/php/php8.2-fpm.sock'], queue_threshold: 32 } }).webServer).toMatchObject({
      listenQueues: [443, '[::1]:8443', '127.0.0.1:80', '*:80', '/run/php/php8.2-fpm.sock'],
      queueThreshold: 32,
    });
  });
  it('names the key that is wrong', () => {
    const keyOf = (ws: unknown) => {
      try {
        readAgentConfig({ web_server: ws });
      } catch (err) {
        if (err instanceof ConfigError) return err.key;
        throw err;
      }
      return undefined;
    };
    expect(keyOf({})).toBe('web_server.include');
    expect(keyOf({ include: 'relative.conf' })).toBe('web_server.include');
    expect(keyOf({ include: '/etc/nginx/../x.conf' })).toBe('web_server.include');
    expect(keyOf({ include: '/etc/x.conf', kind: 'apache' })).toBe('web_server.kind');
    expect(keyOf({ include: '/etc/x.conf', per_client: 0 })).toBe('web_server.per_client');
    expect(keyOf({ include: '/etc/x.conf', check: [] })).toBe('web_server.check');
    expect(keyOf({ include: '/etc/x.conf', reloadd: ['x'] })).toBe('web_server.reloadd');
    for (const bad of [0, 70000, 'example.com:80', 'run/php.sock', '/run/a b.sock', '1.2.3.4:99999', '']) expect(keyOf({ include: '/etc/x.conf', listen_queues: [bad] }), String(bad)).toBe('web_server.listen_queues[0]');
    expect(keyOf({ include: '/etc/x.conf', queue_threshold: 0 })).toBe('web_server.queue_threshold');
  });
  it('reads the plan key api under the plan rule', () => {
    expect(readAgentConfig({ plans: { p: { api: 600 } } }).plans['p']?.api).toBe(600);
    expect(() => readAgentConfig({ plans: { p: { api: 0 } } })).toThrow(/api/);
    expect(() => readAgentConfig({ plans: { p: { api: 1.5 } } })).toThrow(/api/);
    expect(readAgentConfig({ plans: { p: { bandwidth: '2M' } } }).plans['p']?.bandwidth).toBe(2 * 1024 * 1024);
    expect(() => readAgentConfig({ plans: { p: { bandwidth: 0 } } })).toThrow(/bandwidth/);
  });
});
