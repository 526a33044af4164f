// /etc/passwd: the accounts tenants are made of. A pure parser and a thin reader; the file is a parameter
// (passwd_file in agent.yaml) so tests use their own.
import { readFileSync } from 'node:fs';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** Parse /etc/passwd text. Malformed lines are skipped (the file is the system's, not ours to judge). */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function readPasswd(file: string): PasswdEntry[] {
  return parsePasswd(readFileSync(file, 'utf8'));
}
