// The API description as served at /openapi.json: valid OpenAPI 3.1 by swagger-parser, every operation with a
// stable, unique operationId, a summary and tags, and the operationIds exactly those README's API section lists
// (they are an interface: generated clients name their functions after them). The generated client itself is
// exercised against a running controller in test/system/controller/openapi-client.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../../../../controller/http/app.js';
import { TokenRegistry } from '../../../../controller/auth.js';
import { ROOT } from '../../../helpers/system.js';
import { tempStore } from '../fixtures.js';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

interface Operation {
  operationId?: string;
  summary?: string;
  tags?: string[];
}
interface Doc {
  openapi: string;
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
}

let app: App;
let t: ReturnType<typeof tempStore>;
let doc: Doc;

beforeAll(async () => {
  t = tempStore({});
  app = await buildApp({ store: t.store, tokens: new TokenRegistry() });
  const res = await app.inject({ url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  doc = res.json();
});
afterAll(async () => {
  await app.close();
  await t.dispose();
});

function operations(d: Doc): Array<{ method: string; path: string; op: Operation }> {
  return Object.entries(d.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((m) => ({ method: m.toUpperCase(), path, op: item[m]! })));
}

/** The operationId table of README's "Operation ids" section: operationId -> "METHOD /path". */
function readmeOperationIds(): Map<string, string> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('#### Operation ids');
  expect(start, 'README has an "Operation ids" section').toBeGreaterThan(0);
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  const rows = [...section.matchAll(/^\| `(\w+)` \| `([A-Z]+) (\S+)` \|$/gm)];
  return new Map(rows.map((r) => [r[1]!, `${r[2]} ${r[3]}`]));
}

describe('OpenAPI document', () => {
  it('OpenAPI: the served document validates with swagger-parser as 3.1.0', async () => {
    expect(doc.openapi).toBe('3.1.0');
    // validate() throws on the first schema or reference error; it is handed a copy (it dereferences in place).
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('the same document declared 3.0.3 is refused: the validation can fail (numeric exclusiveMinimum)', async () => {
    const as303 = { ...structuredClone(doc), openapi: '3.0.3' };
    await expect(SwaggerParser.validate(as303 as never)).rejects.toThrow(/exclusiveMinimum must be boolean/);
  });

  it('every operation has a unique camelCase operationId, a summary and tags', () => {
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThanOrEqual(26);
    for (const { method, path, op } of ops) {
      expect([method, path, op.operationId]).toEqual([method, path, expect.stringMatching(/^(get|put|post|delete)[A-Z][A-Za-z]*$/)]);
      expect(op.operationId!.startsWith(method.toLowerCase()), `${op.operationId} starts with its method`).toBe(true);
      expect([method, path, typeof op.summary, (op.summary ?? '').length > 0, (op.summary ?? '').length <= 90]).toEqual([method, path, 'string', true, true]);
      expect([method, path, op.tags?.length]).toEqual([method, path, 1]);
    }
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('README lists exactly the operationIds the document has, each with its route', () => {
    const served = new Map(operations(doc).map(({ method, path, op }) => [op.operationId!, `${method} ${path}`]));
    const listed = readmeOperationIds();
    expect(Object.fromEntries([...listed].sort())).toEqual(Object.fromEntries([...served].sort()));
    expect(listed.get('getTenantUsage')).toBe('GET /v1/tenants/{tenant}/usage');
    expect(listed.get('postReports')).toBe('POST /v1/reports');
  });
});
