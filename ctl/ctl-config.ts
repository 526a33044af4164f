// ctl.yaml, read through a shared/config.ts Section: unknown keys and bad values are errors naming the file and
// the key (exit 2). Apart from settings.ts so that the YAML reader is loaded only when there is a file.
import { loadYamlFile, Section } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { CtlConfigError } from './errors.js';
import { normalizeUrl } from './url.js';

export interface FileSettings {
  url?: string | undefined;
  tokenFile?: string | undefined;
  timeoutMs?: number | undefined;
  caFile?: string | undefined;
}

export function parseCtlConfig(raw: unknown): FileSettings {
  const s = Section.root(raw, 'ctl.yaml');
  const out: FileSettings = { url: s.string('url'), tokenFile: s.string('token_file'), timeoutMs: s.duration('timeout', undefined, { min: 1 }) };
  const caFile = s.string('ca_file');
  if (out.url !== undefined) out.url = normalizeUrl(out.url, (m) => s.fail('url', m));
  if (out.tokenFile === '') s.fail('token_file', 'must not be empty');
  if (caFile === '') s.fail('ca_file', 'must not be empty (leave the key out for the system\'s CA store)');
  if (caFile !== undefined) out.caFile = caFile;
  s.done();
  return out;
}

export function readCtlConfig(file: string): FileSettings {
  try {
    return parseCtlConfig(loadYamlFile(file, 'config'));
  } catch (err) {
    if (err instanceof ConfigError) throw new CtlConfigError(`${file}: ${err.message}`, { cause: err });
    throw err;
  }
}
