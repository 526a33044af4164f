// Real certificates for TLS tests, made with the openssl command in a directory of the test's own: a test CA,
// server certificates it signs (for 127.0.0.1 and localhost by default), and as many other CAs as a test
// needs to show that a certificate from the wrong one is refused.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasCommand } from './env.js';

export const HAS_OPENSSL = hasCommand('openssl');

export interface TestCa {
  name: string;
  certFile: string;
  keyFile: string;
  pem: string;
}

export interface TestCert {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
  /** SHA-256 fingerprint as node:crypto and openssl print it (AA:BB:...). */
  fingerprint256: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe' });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA in `dir` (files <name>-ca.pem and <name>-ca.key). */
export function makeCa(dir: string, name: string): TestCa {
  const certFile = join(dir, `${name}-ca.pem`);
  const keyFile = join(dir, `${name}-ca.key`);
  openssl(['req', '-x509', ...EC, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=hostwarden test CA ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { name, certFile, keyFile, pem: readFileSync(certFile, 'utf8') };
}

/** A server certificate signed by `ca` (files <name>.pem and <name>.key in `dir`). */
export function makeServerCert(dir: string, ca: TestCa, name: string, opts: { san?: string; days?: number } = {}): TestCert {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `subjectAltName=${opts.san ?? 'IP:127.0.0.1,DNS:localhost'}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', ...EC, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', String(opts.days ?? 1), '-extfile', ext]);
  const cert = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, cert, key: readFileSync(keyFile, 'utf8'), fingerprint256: new X509Certificate(cert).fingerprint256 };
}
