// The shipped /etc/hostwarden/ctl.yaml documents every key with its real default.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseCtlConfig } from '../../../ctl/ctl-config.js';
import { DEFAULT_TIMEOUT, DEFAULT_TOKEN_FILE, DEFAULT_URL } from '../../../ctl/settings.js';
import { parseDuration } from '../../../shared/units.js';

describe('packaging/controller/ctl.yaml', () => {
  const text = readFileSync(new URL('../../../packaging/controller/ctl.yaml', import.meta.url), 'utf8');

  it('is valid as shipped (everything commented out) and with every default uncommented', () => {
    expect(parseCtlConfig(parse(text) ?? {})).toEqual({ url: undefined, tokenFile: undefined, timeoutMs: undefined });
    const uncommented = text.replace(/^# /gm, '');
    expect(parseCtlConfig(parse(uncommented))).toEqual({ url: DEFAULT_URL, tokenFile: DEFAULT_TOKEN_FILE, timeoutMs: parseDuration(DEFAULT_TIMEOUT) });
  });
});
