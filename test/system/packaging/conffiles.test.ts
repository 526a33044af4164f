// The conffiles the packages ship, /etc/hostwarden/agent.yaml and controller.yaml, read by the real config
// readers: they parse; every line "#key: value" shows the key's real default (removing every single "#" changes
// nothing); and every key a reader looks up is documented there, so a key added to a reader without a line in
// the conffile fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadAgentConfig, readAgentConfig } from '../../../agent/config.js';
import { loadControllerConfig, parseControllerConfig } from '../../../controller/config.js';
import { ROOT } from '../../helpers/system.js';

const AGENT_YAML = join(ROOT, 'packaging/agent/agent.yaml');
const CONTROLLER_YAML = join(ROOT, 'packaging/controller/controller.yaml');

/** The file with every default shown: lines starting with one "#" lose it; "##" lines stay comments. */
function uncommented(text: string): string {
  return text
    .split('\n')
    .map((line) => (line.startsWith('#') && !line.startsWith('##') ? line.slice(1) : line))
    .join('\n');
}

/** Key paths of a parsed YAML mapping (list items as "key[]"), including keys whose value is null. */
function keyPaths(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => keyPaths(v, `${path}[]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const p = path ? `${path}.${k}` : k;
    return [p, ...keyPaths(v, p)];
  });
}

/** Every key path a reader looks up when it reads `raw` (a recording proxy around each mapping). */
function keysRead(raw: unknown, read: (raw: unknown) => unknown): Set<string> {
  const seen = new Set<string>();
  const wrap = (value: unknown, path: string): unknown => {
    if (Array.isArray(value)) return value.map((v) => wrap(v, `${path}[]`));
    if (value === null || typeof value !== 'object') return value;
    return new Proxy(value as Record<string, unknown>, {
      get(target, prop) {
        if (typeof prop !== 'string') return Reflect.get(target, prop);
        const p = path ? `${path}.${prop}` : prop;
        seen.add(p);
        return wrap(target[prop], p);
      },
    });
  };
  read(wrap(raw, ''));
  return seen;
}

/**
 * The keys `read` looks up in the shown file that the file does not show. `sample`: keys the recording must
 * see (nested ones), so that an empty answer is not vacuous.
 */
function undocumented(shown: Record<string, unknown>, read: (raw: unknown) => unknown, sample: string[]): string[] {
  const documented = new Set(keyPaths(shown));
  const seen = keysRead(shown, read);
  for (const k of sample) expect(seen).toContain(k);
  return [...seen].filter((k) => !documented.has(k));
}

/** A copy without the given (dotted) key paths. */
function omit(obj: object, ...keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
  for (const k of keys) {
    const [head, ...rest] = k.split('.');
    if (rest.length === 0) delete out[head!];
    else out[head!] = omit(out[head!] as object, rest.join('.'));
  }
  return out;
}

describe('packaged agent.yaml', () => {
  const text = readFileSync(AGENT_YAML, 'utf8');
  const shown = parseYaml(uncommented(text)) as Record<string, unknown>;

  it('is read by the agent as shipped, with the package state directory', () => {
    const config = loadAgentConfig(AGENT_YAML);
    expect(config.stateDir).toBe('/var/lib/hostwarden/agent');
    expect(config.controller).toEqual({ url: 'http://127.0.0.1:8640', tokenFile: '/etc/hostwarden/agent.token', timeoutMs: 5000 });
    expect(config.tenants).toEqual([]);
    // Only state_dir differs from the built-in defaults.
    expect(Object.keys(parseYaml(text) as object)).toEqual(['state_dir']);
    expect(omit(config, 'stateDir')).toEqual(omit(readAgentConfig({}), 'stateDir'));
  });

  it('shows each key with its real default (host: a placeholder for the machine name; web_server: off unless set, an example)', () => {
    expect(omit(readAgentConfig(shown), 'host', 'webServer')).toEqual(omit(readAgentConfig(parseYaml(text)), 'host', 'webServer'));
    expect(shown.host).toBe('web01');
    expect(readAgentConfig(parseYaml(text)).webServer).toBeUndefined();
    expect(shown.web_server).toMatchObject({ kind: 'nginx', include: '/etc/nginx/conf.d/hostwarden-limits.conf' });
  });

  it('documents every key the agent reads', () => {
    expect(undocumented(shown, readAgentConfig, ['policy.quarantine.max', 'cgroup.enable_root_controllers'])).toEqual([]);
  });
});

describe('packaged controller.yaml', () => {
  const text = readFileSync(CONTROLLER_YAML, 'utf8');
  const shown = parseYaml(uncommented(text)) as Record<string, unknown>;

  it('is read by the controller as shipped, with the package state directory', () => {
    const { config, source } = loadControllerConfig(CONTROLLER_YAML);
    expect(source).toBe(CONTROLLER_YAML);
    expect(config.stateDir).toBe('/var/lib/hostwarden/controller');
    expect(config.database).toBe('/var/lib/hostwarden/controller/controller.db');
    expect(config.adminTokenFile).toBe('/etc/hostwarden/admin.token');
    expect(config.agents).toEqual([]);
    // The packages put this host's agent token in agents.d (tokens.sh): a single-host install needs no edit.
    expect(config.agentsDir).toBe('/etc/hostwarden/agents.d');
    expect(config.smtp).toBeUndefined();
    expect(Object.keys(parseYaml(text) as object)).toEqual(['state_dir', 'agents_dir']);
    expect(omit(config, 'stateDir', 'database', 'agentsDir')).toEqual(omit(parseControllerConfig({}), 'stateDir', 'database', 'agentsDir'));
  });

  it('shows each key with its real default (parser_threads depends on the CPUs; public_url: an example address)', () => {
    const drop = ['ingest.parserThreads', 'publicUrl'];
    expect(omit(parseControllerConfig(shown), ...drop)).toEqual(omit(parseControllerConfig(parseYaml(text)), ...drop));
    expect((shown.ingest as Record<string, unknown>).parser_threads).toBe(2);
    expect(shown.public_url).toBe('https://ctl.example.com:8640');
  });

  it('documents every key the controller reads', () => {
    expect(undocumented(shown, parseControllerConfig, ['retention.schedule', 'smtp'])).toEqual([]);
  });
});
