// Every number on the wire and in the API has a documented range: each number or integer in every schema
// of shared/wire/ and in the served OpenAPI document (routes' own query schemas included) has a minimum and
// a maximum, integers within the safe range, and the range is said in its description.
import { describe, expect, it } from 'vitest';
import { TokenRegistry } from '../../../controller/auth.js';
import { buildApp } from '../../../controller/http/app.js';
import * as agentWire from '../../../shared/wire/agent.js';
import * as apiWire from '../../../shared/wire/api.js';
import { MAX_SAFE, rangeText } from '../../../shared/wire/bounds.js';
import * as transportWire from '../../../shared/wire/transport.js';
import { tempStore } from '../controller/fixtures.js';

interface Found {
  path: string;
  node: Record<string, unknown>;
}

function numbers(node: unknown, path: string, out: Found[], seen = new Set<unknown>()): Found[] {
  if (node === null || typeof node !== 'object' || seen.has(node)) return out;
  seen.add(node);
  if (Array.isArray(node)) {
    node.forEach((n, i) => numbers(n, `${path}[${i}]`, out, seen));
    return out;
  }
  const rec = node as Record<string, unknown>;
  const types = Array.isArray(rec.type) ? rec.type : [rec.type];
  // A literal (`const`, or `enum` in OpenAPI 3.0: the wire version) has its values for a range.
  if ((types.includes('number') || types.includes('integer')) && !('const' in rec) && !('enum' in rec)) out.push({ path, node: rec });
  for (const [k, v] of Object.entries(rec)) if (k !== 'examples' && k !== 'default' && k !== 'enum' && k !== 'const') numbers(v, `${path}/${k}`, out, seen);
  return out;
}

function problemsOf(found: Found[], needDescription: boolean): string[] {
  const problems: string[] = [];
  for (const { path, node } of found) {
    const max = node.maximum ?? node.exclusiveMaximum;
    const min = node.minimum ?? node.exclusiveMinimum;
    if (typeof max !== 'number' || typeof min !== 'number') problems.push(`${path}: no ${typeof max !== 'number' ? 'maximum' : 'minimum'}`);
    const types = Array.isArray(node.type) ? node.type : [node.type];
    if (types.includes('integer') && typeof max === 'number' && typeof min === 'number' && (max > MAX_SAFE || min < -MAX_SAFE)) problems.push(`${path}: integer range beyond 2^53-1`);
    if (needDescription && typeof max === 'number' && typeof min === 'number' && typeof node.minimum === 'number') {
      const description = typeof node.description === 'string' ? node.description : '';
      if (!description.includes(rangeText(min, max))) problems.push(`${path}: description "${description}" does not say ${rangeText(min, max)}`);
    }
  }
  return problems;
}

describe('every number has a documented range', () => {
  it('in every schema of shared/wire (agent, api, transport)', () => {
    const found: Found[] = [];
    for (const [file, mod] of [['agent', agentWire], ['api', apiWire], ['transport', transportWire]] as const) {
      for (const [name, value] of Object.entries(mod)) if (value && typeof value === 'object') numbers(value, `${file}.${name}`, found);
    }
    expect(found.length).toBeGreaterThan(80);
    expect(problemsOf(found, true)).toEqual([]);
  });

  it('in the OpenAPI document the controller serves', async () => {
    const t = tempStore();
    const app = await buildApp({ store: t.store, tokens: new TokenRegistry() });
    try {
      const doc = (await app.inject({ url: '/openapi.json' })).json();
      const found = numbers(doc, '', []);
      expect(found.length).toBeGreaterThan(80);
      expect(problemsOf(found, false)).toEqual([]);
    } finally {
      await app.close();
      await t.dispose();
    }
  });
});
