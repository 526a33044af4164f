import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CONTROLLER_CONFIG_REFERENCE, defaultParserThreads, loadControllerConfig, parseControllerConfig, parseListen } from '../../../controller/config.js';
import { ConfigError } from '../../../shared/errors.js';
import { safeDatabaseUrl } from '../../../controller/store/postgres/config.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('controller.yaml', () => {
  it('has a documented default for every key', () => {
    const c = parseControllerConfig({});
    expect(c).toMatchObject({
      listen: { host: '127.0.0.1', port: 8640 },
      stateDir: '/var/lib/hostwarden',
      database: '/var/lib/hostwarden/controller.db',
      adminTokenFile: '/etc/hostwarden/admin.token',
      agents: [],
      admins: [],
      smtp: undefined,
      retention: { rawMs: 48 * 3_600_000, minuteMs: 90 * 86_400_000, hourMs: 730 * 86_400_000, schedule: '*/15 * * * *' },
      fairness: { halfLifeMs: 24 * 3_600_000, activeThreshold: 0.001 },
      rollup: { flushIntervalMs: 15 * 60_000 },
      ingest: { maxReportSize: 32 * 1024 * 1024 },
      logLevel: 'info',
    });
    // The reference text is itself a valid configuration equal to the defaults.
    expect(parseControllerConfig(parseYaml(CONTROLLER_CONFIG_REFERENCE))).toEqual(c);
  });

  it('reads the keys of DESIGN section 5', () => {
    const c = parseControllerConfig(
      parseYaml(`
listen: "[::1]:9000"
state_dir: /srv/hw
admin_token_file: /srv/hw/admin.token
agents: [ { host: web01, token_file: /etc/hostwarden/agent-web01.token }, { host: web02, token_sha256: ${'AB'.repeat(32)} } ]
admins: [ { name: alice, token_file: /srv/alice.token } ]
smtp: { url: "smtp://127.0.0.1:25", from: "Hosting <noreply@example.com>" }
retention: { raw: 24h, minute: 30d, hour: 365d }
fairness: { half_life: 12h, active_threshold: 0.01 }
ingest: { parser_threads: 3, max_report_size: 8M }
log_level: debug
`),
    );
    expect(c.listen).toEqual({ host: '::1', port: 9000 });
    expect(c.database).toBe('/srv/hw/controller.db');
    expect(c.agents).toEqual([
      { key: 'agents[0]', host: 'web01', tokenFile: '/etc/hostwarden/agent-web01.token' },
      { key: 'agents[1]', host: 'web02', tokenSha256: 'ab'.repeat(32) },
    ]);
    expect(c.smtp).toEqual({ url: 'smtp://127.0.0.1:25', from: 'Hosting <noreply@example.com>' });
    expect(c.retention.rawMs).toBe(24 * 3_600_000);
    expect(c.fairness).toEqual({ halfLifeMs: 12 * 3_600_000, activeThreshold: 0.01 });
    expect(c.ingest).toEqual({ parserThreads: 3, maxReportSize: 8 * 1024 * 1024 });
  });

  it.each([
    ['listen: nope', 'listen', /address:port/],
    ['listen: "127.0.0.1:70000"', 'listen', /address:port/],
    ['retention: { raw: 2x }', 'retention.raw', /invalid duration "2x"/],
    ['retention: { rw: 2h }', 'retention.rw', /unknown key/],
    ['retention: { schedule: "every minute" }', 'retention.schedule', /cron/],
    ['retention: { raw: 10m }', 'retention.raw', /at least/],
    ['agents: [ { host: web01 } ]', 'agents[0]', /exactly one of token_file and token_sha256/],
    ['agents: [ { host: "bad host!", token_file: /x } ]', 'agents[0].host', /host name/],
    ['agents: [ { host: a, token_file: /x }, { host: a, token_file: /y } ]', 'agents[1].host', /twice/],
    ['agents: [ { host: a, token_sha256: abc } ]', 'agents[0].token_sha256', /64 hex/],
    ['agents: { host: a }', 'agents', /must be a list/],
    ['admins: [ { name: admin, token_file: /x } ]', 'admins[0].name', /used twice/],
    ['smtp: { url: "http://mail", from: x }', 'smtp.url', /smtp:\/\//],
    ['smtp: { url: "smtp://mail" }', 'smtp.from', /required/],
    ['smtp: { url: "smtp://mail", from: x, port: 25 }', 'smtp.port', /unknown key/],
    ['fairness: { active_threshold: 2 }', 'fairness.active_threshold', /at most 1/],
    ['fairness: { half_life: soon }', 'fairness.half_life', /invalid duration/],
    ['rollup: { flush_interval: 30h }', 'rollup.flush_interval', /half of retention.raw/],
    ['ingest: { parser_threads: 1.5 }', 'ingest.parser_threads', /whole number/],
    ['ingest: { max_report_size: 1K }', 'ingest.max_report_size', /at least 64K/],
    ['log_level: loud', 'log_level', /one of fatal, error/],
    ['notices: { intervl: 1h }', 'notices.intervl', /unknown key/],
    ['tenants: { unmanaged_ttl: 10m }', 'tenants.unmanaged_ttl', /0 \(never\) or at least 1h/],
    ['tenants: { max_per_host: 0 }', 'tenants.max_per_host', /at least 1/],
    ['tenants: { max_host: 10 }', 'tenants.max_host', /unknown key/],
    ['database: { url: "mysql://db/hw" }', 'database.url', /must be a postgresql:\/\/ URL/],
    ['database: { url: "postgresql://hw:pw@/hw?host=/run/postgresql", password_file: /etc/pw }', 'database.password_file', /has a password already/],
    ['database: { url: "not a url" }', 'database.url', /postgresql:\/\/ URL/],
    ['database: { password_file: /etc/pw }', 'database.password_file', /needs database.url/],
    ['database: { ca_file: /etc/ca.pem }', 'database.ca_file', /needs database.url/],
    ['database: { url: "postgresql://hw:secret@db/hw", password_file: /etc/pw }', 'database.password_file', /has a password already/],
    ['database: { url: "postgresql://hw@db/hw?sslmode=require", ca_file: /etc/ca.pem }', 'database.ca_file', /sets sslmode/],
    ['database: { url: "postgresql://hw@db/hw", pool_size: 0 }', 'database.pool_size', /at least 1/],
    ['database: { uri: "postgresql://hw@db/hw" }', 'database.uri', /unknown key/],
  ])('%s -> names %s', (yaml, key, message) => {
    let err: unknown;
    try {
      parseControllerConfig(parseYaml(yaml));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe(key);
    expect((err as ConfigError).message).toMatch(message);
    expect((err as ConfigError).message).toContain(`config key "${key}"`);
  });

  it('selects PostgreSQL with database.url (SQLite without), with its password file and CA', () => {
    expect(parseControllerConfig({}).postgres).toBeUndefined();
    expect(parseControllerConfig({ database: {} }).postgres).toBeUndefined();
    expect(parseControllerConfig(parseYaml('database: { url: "postgresql://hw@db1:5432/hw", password_file: /etc/hostwarden/db.password, ca_file: /etc/hostwarden/db-ca.pem }')).postgres).toEqual({
      url: 'postgresql://hw@db1:5432/hw',
      passwordFile: '/etc/hostwarden/db.password',
      caFile: '/etc/hostwarden/db-ca.pem',
      poolSize: 10,
    });
    expect(parseControllerConfig({ database: { url: 'postgres:///hw?host=/run/postgresql', pool_size: 3 } }).postgres).toMatchObject({ poolSize: 3, caFile: undefined });
    // A user on a Unix socket (an empty host, which WHATWG's URL refuses but libpq and pg take).
    expect(parseControllerConfig({ database: { url: 'postgresql://hw@/hw?host=/run/postgresql', password_file: '/etc/pw' } }).postgres?.passwordFile).toBe('/etc/pw');
    expect(safeDatabaseUrl('postgresql://hw:s3cret@db1:5432/hw')).toBe('postgresql://hw:***@db1:5432/hw');
    expect(safeDatabaseUrl('postgresql://hw:s3cret@/hw?host=/run/postgresql')).toBe('postgresql://hw:***@/hw?host=/run/postgresql');
  });

  it('runs on embedded defaults when the default file is missing, but not when a given file is', () => {
    expect(loadControllerConfig(undefined, join(dir, 'absent.yaml')).source).toBe('embedded defaults');
    expect(() => loadControllerConfig(join(dir, 'absent.yaml'))).toThrow(ConfigError);
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'listen: 127.0.0.1:0\n');
    expect(loadControllerConfig(file).config.listen.port).toBe(0);
    writeFileSync(file, 'listen: [1, 2\n');
    expect(() => loadControllerConfig(file)).toThrow(/not valid YAML/);
  });

  it('parses listen addresses and picks parser threads from the cores', () => {
    expect(parseListen(':8640')).toEqual({ host: '0.0.0.0', port: 8640 });
    expect(parseListen('[::]:1')).toEqual({ host: '::', port: 1 });
    expect([1, 2, 3, 4, 8, 64].map((n) => defaultParserThreads(n))).toEqual([0, 1, 1, 2, 4, 4]);
  });
});
