import { describe, expect, it } from 'vitest';
import { readAgentConfig } from '../../../agent/config.js';
import { parsePasswd } from '../../../agent/kernel/passwd.js';
import { resolveTenants } from '../../../agent/tenants.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash
alice-ftp:x:1002:1001::/home/alice:/usr/sbin/nologin
bob:x:1003:1003::/home/bob:/bin/sh
svc:x:1004:1004::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken line
`;

describe('tenants', () => {
  const passwd = parsePasswd(PASSWD);

  it('parses passwd and skips malformed lines', () => {
    expect(passwd.map((e) => e.name)).toEqual(['root', 'daemon', 'alice', 'alice-ftp', 'bob', 'svc', 'nobody']);
    expect(passwd[2]).toEqual({ name: 'alice', uid: 1001, gid: 1001, home: '/home/alice', shell: '/bin/bash' });
  });

  it('resolves configured tenants to UIDs and homes, with plans', () => {
    const cfg = readAgentConfig({
      tenants: [{ name: 'alice', users: ['alice', 'alice-ftp'], plan: 'basic', email: 'a@example.com' }, { name: 'ghost', users: ['ghost'] }],
      plans: { basic: { cpu: 50 } },
    });
    const r = resolveTenants({ uidMin: 1000, configured: cfg.tenants, plans: cfg.plans, discovery: cfg.discovery, passwd });
    expect(r.tenants.find((t) => t.name === 'alice')).toMatchObject({ uids: [1001, 1002], homes: ['/home/alice'], planName: 'basic', plan: { cpu: 50, weight: 1 }, email: 'a@example.com' });
    expect(r.tenants.find((t) => t.name === 'ghost')?.uids).toEqual([]);
    expect(r.problems).toEqual([{ tenant: 'ghost', message: 'user "ghost" does not exist (yet); its processes are not placed' }]);
  });

  it('never governs root or system UIDs, even when named', () => {
    const r = resolveTenants({ uidMin: 1000, configured: [{ name: 'evil', users: ['root', 'daemon'] }], plans: {}, discovery: { enabled: false, shells: [] }, passwd });
    expect(r.tenants[0]!.uids).toEqual([]);
    expect(r.problems.map((p) => p.message)).toEqual([
      'user "root" has UID 0, below uid_min 1000: never governed',
      'user "daemon" has UID 1, below uid_min 1000: never governed',
    ]);
  });

  it('discovers accounts with a login shell above uid_min, not claimed ones', () => {
    const r = resolveTenants({
      uidMin: 1000,
      configured: [{ name: 'alice', users: ['alice'] }],
      plans: {},
      discovery: { enabled: true, shells: [] },
      passwd,
    });
    expect(r.tenants.map((t) => [t.name, t.source, t.uids])).toEqual([
      ['alice', 'config', [1001]],
      ['bob', 'discovered', [1003]],
    ]);
  });

  it('lets controller-managed tenants override configured ones and refuses a UID claimed twice', () => {
    const r = resolveTenants({
      uidMin: 1000,
      configured: [{ name: 'alice', users: ['alice'], plan: 'basic' }],
      managed: [{ name: 'alice', users: ['alice'], plan: 'gold' }, { name: 'carol', users: [1001] }].map((t) => ({ plan: 'gold', ...t })),
      plans: { basic: { weight: 1 }, gold: { weight: 4, cpu: 200 } },
      discovery: { enabled: false, shells: [] },
      passwd,
    });
    expect(r.tenants.find((t) => t.name === 'alice')).toMatchObject({ source: 'controller', planName: 'gold', uids: [1001] });
    expect(r.tenants.find((t) => t.name === 'carol')?.uids).toEqual([]);
    expect(r.problems).toEqual([{ tenant: 'carol', message: 'UID 1001 already belongs to tenant "alice"' }]);
  });
});
