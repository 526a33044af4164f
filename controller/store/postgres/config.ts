// The `database` section of controller.yaml (DESIGN 5): absent, the embedded SQLite store in state_dir; with
// `url`, PostgreSQL (issue 15). The password and the CA certificate come from files of their own, so the
// config file holds no secret and a rotated certificate needs no edit of it.
import { readFileSync } from 'node:fs';
import type { Section } from '../../../shared/config.js';
import { ConfigError } from '../../../shared/errors.js';

export interface PostgresConfig {
  /** postgres:// or postgresql:// URL (host, port, database, user; a Unix socket directory as ?host=/dir). */
  url: string;
  /** A file holding the password alone (a trailing newline is dropped); undefined: the URL's, or none. */
  passwordFile: string | undefined;
  /**
   * CA certificate(s) (PEM) the server's certificate must chain to: TLS with the certificate and its host name
   * verified. Undefined: TLS only as the URL asks for it (sslmode).
   */
  caFile: string | undefined;
  /** Connections one controller keeps open at most. */
  poolSize: number;
}

export const DATABASE_CONFIG_REFERENCE = `database:                                    # absent: the embedded SQLite store, <state_dir>/controller.db
  # url: postgresql://hostwarden@db1.example.com:5432/hostwarden   # PostgreSQL (issue 15); ?host=/run/postgresql for a socket
  # password_file: /etc/hostwarden/db.password  # the password alone (mode 0600); not in the url then
  # ca_file: /etc/hostwarden/db-ca.pem        # TLS to the server, its certificate verified against this CA
  # pool_size: 10                             # connections this controller keeps open at most
`;

/** TLS settings in the URL that ca_file replaces: pg lets the URL's win, so both at once is refused. */
const URL_TLS_PARAMS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'ssl'];

/** The `database` section; undefined when it has no url (SQLite). */
export function parseDatabaseConfig(s: Section): PostgresConfig | undefined {
  const url = s.string('url');
  const passwordFile = s.string('password_file');
  const caFile = s.string('ca_file');
  const poolSize = s.number('pool_size', 10, { min: 1, max: 1000, integer: true });
  s.done();
  if (url === undefined) {
    if (passwordFile !== undefined) s.fail('password_file', 'needs database.url (without a url the store is SQLite)');
    if (caFile !== undefined) s.fail('ca_file', 'needs database.url (without a url the store is SQLite)');
    return undefined;
  }
  const parsed = splitDatabaseUrl(url);
  if (!parsed) return s.fail('url', 'must be a postgresql:// URL (postgresql://USER@HOST:PORT/DATABASE, or postgresql://USER@/DATABASE?host=/run/postgresql)');
  if (passwordFile !== undefined && parsed.password) s.fail('password_file', 'the url has a password already: give one of them (the file keeps it out of controller.yaml)');
  if (caFile !== undefined) {
    const inUrl = URL_TLS_PARAMS.filter((p) => parsed.params.has(p));
    if (inUrl.length) s.fail('ca_file', `the url sets ${inUrl.join(', ')}: with ca_file, TLS is configured by ca_file alone`);
  }
  return { url, passwordFile, caFile, poolSize };
}

/** Read the password file (config errors name the key: the binary exits 2). */
export function readPasswordFile(file: string, key = 'database.password_file'): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(key, `cannot read ${file}: ${(err as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '' || /[\r\n]/.test(password)) throw new ConfigError(key, `${file} must hold the password alone, on one line`);
  return password;
}

export function readCaFile(file: string, key = 'database.ca_file'): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(key, `cannot read ${file}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(key, `${file} holds no PEM certificate`);
  return pem;
}

/**
 * The parts of a libpq-style URL the checks need. Not WHATWG's URL: it refuses a user with an empty host
 * (postgresql://hw@/db?host=/run/postgresql, a Unix socket), which libpq and pg take.
 */
export function splitDatabaseUrl(url: string): { userinfo: string; password: boolean; params: URLSearchParams } | undefined {
  const m = /^postgres(?:ql)?:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/.exec(url);
  if (!m) return undefined;
  const authority = m[1]!;
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  return { userinfo, password: userinfo.includes(':'), params: new URLSearchParams(m[3] ?? '') };
}

/** A URL fit for logs: the password replaced. */
export function safeDatabaseUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/?#]*):[^@/?#]*@/, '$1:***@');
}
