// agents_dir: agents allowed to report, one token file per host, named HOST.token (the packages put the
// token of the agent on the same server there, so a single-server install needs no edit of agents:).
// What a file there grants is what an agents: entry grants, so the directory must be as closed as the
// config: owned by root (or by the controller's own user) and writable by no one else, each token file
// readable by no one but its owner and group. Names not ending in ".token" are skipped (and reported), so
// a README or a dpkg leftover (.dpkg-old) is harmless.
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../shared/errors.js';
import { HOST_RE } from '../shared/wire/agent.js';
import { readTokenFile } from './auth.js';

export interface DirAgent {
  host: string;
  file: string;
  token: string;
}

/** The agents of `dir` (missing: none); ConfigErrors name `key`. */
export function readAgentsDir(dir: string, key = 'agents_dir', uid = process.getuid?.() ?? 0): { agents: DirAgent[]; skipped: string[] } {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { agents: [], skipped: [] };
    throw new ConfigError(key, `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (!st.isDirectory()) throw new ConfigError(key, `${dir} is not a directory`);
  if ((st.mode & 0o022) !== 0) throw new ConfigError(key, `${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8)}): they could let any agent in (chmod go-w ${dir})`);
  if (st.uid !== 0 && st.uid !== uid) throw new ConfigError(key, `${dir} is owned by uid ${st.uid}, neither root nor this controller's user`);
  const agents: DirAgent[] = [];
  const skipped: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const m = /^(.*)\.token$/.exec(name);
    const file = join(dir, name);
    if (!m || name.startsWith('.')) {
      skipped.push(name);
      continue;
    }
    const host = m[1]!;
    if (!HOST_RE.test(host)) throw new ConfigError(key, `${file}: "${host}" is not a host name (the file is HOST.token)`);
    let fst;
    try {
      fst = statSync(file);
    } catch (err) {
      const what = lstatSync(file, { throwIfNoEntry: false })?.isSymbolicLink() ? 'is a link to a missing file' : 'cannot be read';
      throw new ConfigError(key, `${file} ${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    if (!fst.isFile()) throw new ConfigError(key, `${file} is not a file`);
    if ((fst.mode & 0o006) !== 0) throw new ConfigError(key, `${file} is readable or writable by everyone (mode ${(fst.mode & 0o777).toString(8)}): chmod 0600 it`);
    agents.push({ host, file, token: readTokenFile(file, key) });
  }
  return { agents, skipped };
}
