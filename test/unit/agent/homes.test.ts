// Tenant homes: absolute and normalised wherever they come from (agent.yaml, the controller's policy, the
// passwd file); a bad one is a config error naming its key, or is dropped with a problem naming the tenant.
import { describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../agent/config.js';
import { cleanHomes, normaliseHome } from '../../../agent/homes.js';
import { parsePasswd } from '../../../agent/kernel/passwd.js';
import { resolveTenants } from '../../../agent/tenants.js';
import { ConfigError } from '../../../shared/errors.js';

describe('tenant homes', () => {
  it.each([
    ['/home/alice', '/home/alice'],
    ['/home//alice/', '/home/alice'],
    ['//home/./alice//www///', '/home/alice/www'],
    ['/srv/a.b/..c/c..', '/srv/a.b/..c/c..'],
  ])('normalises %j to %j', (raw, path) => {
    expect(normaliseHome(raw)).toEqual({ ok: true, path });
  });

  it.each([
    ['home/alice', /is not an absolute path/],
    ['./alice', /is not an absolute path/],
    ['', /is not an absolute path/],
    ['/home/alice/../../etc', /contains a "\.\." segment/],
    ['/home/..', /contains a "\.\." segment/],
    ['/', /is the root directory, never a home/],
    ['//', /is the root directory, never a home/],
    ['/./', /is the root directory, never a home/],
    ['/home/a\0b', /contains a NUL character/],
    [`/${'x'.repeat(5000)}`, /is longer than 4096 characters/],
    [42, /must be a path, got number/],
  ])('refuses %j', (raw, reason) => {
    const r = normaliseHome(raw);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });

  it('drops bad homes with a message each, keeping the good ones once', () => {
    const dropped: string[] = [];
    expect(cleanHomes(['/home/a/', '../x', '/home/a', '/'], (m) => dropped.push(m))).toEqual(['/home/a']);
    expect(dropped).toEqual(['home "../x" is not an absolute path: ignored', 'home "/" is the root directory, never a home: ignored']);
  });

  it('agent.yaml: a bad home is a config error naming its key; good ones are normalised', () => {
    const tenants = (homes: unknown[]) => ({ tenants: [{ name: 'alice', users: [1001] }, { name: 'bob', users: [1002], homes }] });
    expect(readAgentConfig(tenants(['/home//bob/', '/srv/bob'])).tenants[1]!.homes).toEqual(['/home/bob', '/srv/bob']);
    for (const [homes, key, message] of [
      [['/srv/bob', 'www/bob'], 'tenants[1].homes[1]', /is not an absolute path/],
      [['/home/bob/../alice'], 'tenants[1].homes[0]', /contains a "\.\." segment/],
      [['/'], 'tenants[1].homes[0]', /root directory/],
    ] as const) {
      let err: unknown;
      try {
        readAgentConfig(tenants([...homes]));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).key).toBe(key);
      expect((err as ConfigError).message).toMatch(message);
    }
  });

  it("the controller's homes: bad ones are dropped with a problem naming the tenant, good ones normalised", () => {
    const passwd = parsePasswd('alice:x:1001:1001::/home/alice:/bin/bash\n');
    const r = resolveTenants({
      uidMin: 1000,
      configured: [],
      managed: [{ name: 'alice', users: ['alice'], plan: 'p', homes: ['/home/alice//', 'public_html', '/home/alice/../bob', '/'] }],
      plans: { p: { weight: 1 } },
      discovery: { enabled: false, shells: [] },
      passwd,
    });
    expect(r.tenants[0]!.homes).toEqual(['/home/alice']);
    expect(r.problems).toEqual([
      { tenant: 'alice', message: 'home "public_html" is not an absolute path: ignored' },
      { tenant: 'alice', message: 'home "/home/alice/../bob" contains a ".." segment: ignored' },
      { tenant: 'alice', message: 'home "/" is the root directory, never a home: ignored' },
    ]);
  });

  it('a passwd home of "/" is never walked: dropped with a problem naming the tenant and the user', () => {
    const passwd = parsePasswd('web:x:1002:1002::/:/bin/bash\n');
    const r = resolveTenants({ uidMin: 1000, configured: [{ name: 'web', users: ['web'] }], plans: {}, discovery: { enabled: false, shells: [] }, passwd });
    expect(r.tenants[0]!.homes).toEqual([]);
    expect(r.problems).toEqual([{ tenant: 'web', message: 'home "/" is the root directory, never a home: ignored (user "web" in the passwd file)' }]);
  });
});
