// The API description is good enough to build clients from: the built controller on a real loopback port serves
// /openapi.json, swagger-parser validates it, @hey-api/openapi-ts generates a typed fetch client from it into a
// temporary folder, the project's tsc compiles that client with a program using it (strict: the types must
// fit), and the program, run on the pinned Node, lists tenants, puts a plan and a tenant, posts a report with an
// agent token, reads usage and gets one error in the API's shape, against the running controller with real
// tokens. The temporary folder goes at cleanup.
//
// @hey-api/openapi-ts prints its code with the TypeScript compiler API (`ts.factory`, `ts.createPrinter`), which
// typescript 7 (the project's compiler, a native binary) no longer has. The generation step therefore needs a
// TypeScript 5/6 package for the generator: one that `typescript` resolves to from the generator's folder, or a
// folder named by HW_TEST_TYPESCRIPT_API (a resolve hook hands it to the generator only). The test command
// unpacks typescript 6 into the machine's cache and names it (scripts/install-prereqs.sh, scripts/test.sh).
// Without one the step skips with the reason locally and fails in CI.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWith, missing } from '../../helpers/env.js';
import { Cleanup, listeningUrl, NODE, ROOT, startDaemon, tempDir, waitFor, writeToken } from '../../helpers/system.js';

const BIN = 'controller/bin/hostwarden-controller.js';
const built = existsSync(join(ROOT, 'dist', BIN));
const HEY_API = join(ROOT, 'node_modules/@hey-api/openapi-ts/dist/index.mjs');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** Where the generator finds the TypeScript compiler API: as it resolves `typescript`, or a hook to another folder. */
function typescriptApi(): { hookTarget?: string; missing?: string } {
  try {
    const req = createRequire(HEY_API);
    const ts = req(req.resolve('typescript')) as { factory?: unknown };
    if (typeof ts.factory === 'object') return {};
  } catch {
    /* not resolvable: try the named folder */
  }
  const dir = process.env.HW_TEST_TYPESCRIPT_API;
  if (dir && existsSync(join(dir, 'lib', 'typescript.js'))) return { hookTarget: join(dir, 'lib', 'typescript.js') };
  return {
    missing:
      'needs the TypeScript compiler API for @hey-api/openapi-ts (typescript 7 has none): a typescript 5/6 package resolvable from the generator, or HW_TEST_TYPESCRIPT_API=<its folder>',
  };
}
const tsApi = typescriptApi();

/** The program using the generated client: compiled by tsc in strict mode, so the generated types must fit it. */
const PROGRAM = `
import { createClient } from './gen/client/index.js';
import { getTenant, getTenantUsage, getTenants, postReports, putPlan, putTenant } from './gen/sdk.gen.js';
import type { TenantInfo } from './program-types.js';

const [baseUrl, adminToken, agentToken] = process.argv.slice(2) as [string, string, string];
const admin = createClient({ baseUrl, auth: adminToken });
const agent = createClient({ baseUrl, auth: agentToken });
const GiB = 1024 ** 3;
const now = Date.now();

const before = await getTenants({ client: admin, throwOnError: true });
const plan = await putPlan({ client: admin, path: { plan: 'gold' }, body: { cpu: 200, memory: 2 * GiB, weight: 2 }, throwOnError: true });
const tenant = await putTenant({ client: admin, path: { tenant: 'alice' }, body: { users: ['alice'], plan: 'gold', host: 'web01', email: 'alice@example.com' }, throwOnError: true });
const report = await postReports({
  client: agent,
  body: {
    version: 1, host: 'web01', seq: 1, at: new Date(now - 10_000).toISOString(), sent_at: new Date(now).toISOString(), interval: 5,
    host_stats: { cores: 4, memory_bytes: 16 * GiB },
    samples: [{ tenant: 'alice', cpu: { percent: 42 }, memory: { current: GiB, anon: GiB, file: 0 } }],
  },
  throwOnError: true,
});
const usage = await getTenantUsage({ client: admin, path: { tenant: 'alice' }, query: { from: '1h', step: '5s', resources: 'cpu' }, throwOnError: true });
const missing = await getTenant({ client: admin, path: { tenant: 'nobody' } });
const after = await getTenants({ client: admin, throwOnError: true });

// Typed reads: these lines compile only if the generated types say what the API answers.
const names: string[] = after.data.tenants.map((t: TenantInfo) => t.name);
const cpuAvg: Array<number | null> = usage.data.series['cpu_percent']?.avg ?? [];
const error: { error: string; message: string } | undefined = missing.error;
const weight: number = plan.data.plan.weight;

console.log(JSON.stringify({
  before: { status: before.response.status, total: before.data.total },
  plan: { status: plan.response.status, name: plan.data.name, weight },
  tenant: { status: tenant.response.status, name: tenant.data.name, host: tenant.data.host },
  report: { status: report.response.status, data: report.data },
  usage: { status: usage.response.status, source: usage.data.source, cpuAvg },
  missing: { status: missing.response?.status, error },
  after: { names },
}));
`;

/** A type the program names from the generated types, so the test also proves they are exported under a stable name. */
const PROGRAM_TYPES = `
import type { GetTenantsResponse } from './gen/types.gen.js';
export type TenantInfo = GetTenantsResponse['tenants'][number];
`;

/** A resolve hook handing the generator (only it) the TypeScript compiler API from another folder. */
function hookSource(target: string): string {
  const resolver = `export async function resolve(specifier, context, next) {
  if (specifier === 'typescript' && context.parentURL?.includes('/@hey-api/')) return next(${JSON.stringify(pathToFileURL(target).href)}, context);
  return next(specifier, context);
}`;
  return `import { register } from 'node:module';\nregister('data:text/javascript,' + encodeURIComponent(${JSON.stringify(resolver)}));\n`;
}

describeWith(missing([[built, 'needs a build (npx tsc -b)']]), 'OpenAPI document and a generated client against a running controller', () => {
  const cleanup = new Cleanup();
  let dir: string;
  let url: string;
  let admin: string;
  let agent: string;
  let doc: Record<string, unknown>;

  beforeAll(async () => {
    dir = tempDir(cleanup, 'hw-openapi-');
    agent = writeToken(join(dir, 'agent-web01.token'));
    const config = join(dir, 'controller.yaml');
    writeFileSync(
      config,
      `listen: 127.0.0.1:0
state_dir: ${join(dir, 'state')}
admin_token_file: ${join(dir, 'admin.token')}
agents:
  - { host: web01, token_file: ${join(dir, 'agent-web01.token')} }
ingest: { parser_threads: 1 }
log_level: info
`,
    );
    const daemon = startDaemon(cleanup, BIN, ['--config', config]);
    url = await listeningUrl(daemon);
    await waitFor('controller /healthz', async () => (await fetch(`${url}/healthz`)).ok, 20_000, 100);
    admin = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    const res = await fetch(`${url}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Record<string, unknown>;
  });
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('OpenAPI: the document the running controller serves validates with swagger-parser (3.1.0)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  // Locally the step skips with its reason; in CI (CI=true) a missing compiler API fails it: the test command
  // (scripts/install-prereqs.sh) unpacks one into the machine's cache, so CI always has it.
  it.skipIf(tsApi.missing !== undefined && process.env.CI !== 'true')(
    `OpenAPI: a client generated by @hey-api/openapi-ts, compiled by tsc, lists tenants, puts a plan and a tenant, reads usage and gets our error shape${tsApi.missing ? ` (skipped: ${tsApi.missing})` : ''}`,
    async () => {
      if (tsApi.missing !== undefined) throw new Error(tsApi.missing);
      const work = tempDir(cleanup, 'hw-openapi-client-');
      writeFileSync(join(work, 'openapi.json'), JSON.stringify(doc));
      writeFileSync(join(work, 'package.json'), JSON.stringify({ type: 'module', private: true }));
      writeFileSync(
        join(work, 'generate.mjs'),
        `import { createClient } from ${JSON.stringify(pathToFileURL(HEY_API).href)};
await createClient({
  input: ${JSON.stringify(join(work, 'openapi.json'))},
  output: { path: ${JSON.stringify(join(work, 'gen'))}, importFileExtension: '.js' },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
  logs: { level: 'silent', file: false },
});
`,
      );
      const hook = tsApi.hookTarget ? ['--import', pathToFileURL(join(work, 'hook.mjs')).href] : [];
      if (tsApi.hookTarget) writeFileSync(join(work, 'hook.mjs'), hookSource(tsApi.hookTarget));
      execFileSync(NODE, [...hook, join(work, 'generate.mjs')], { cwd: work, stdio: 'pipe', timeout: 120_000 });
      const sdk = readFileSync(join(work, 'gen', 'sdk.gen.ts'), 'utf8');
      // The generated functions are named after the operationIds (README's list).
      for (const op of ['getTenants', 'putPlan', 'putTenant', 'getTenantUsage', 'postReports', 'getTenant']) expect(sdk).toContain(`export const ${op} = `);

      writeFileSync(join(work, 'program.ts'), PROGRAM);
      writeFileSync(join(work, 'program-types.ts'), PROGRAM_TYPES);
      writeFileSync(
        join(work, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'es2024',
            lib: ['es2024', 'dom'],
            module: 'nodenext',
            moduleResolution: 'nodenext',
            strict: true,
            noEmitOnError: true,
            skipLibCheck: true,
            types: ['node'],
            typeRoots: [join(ROOT, 'node_modules/@types')],
            rootDir: '.',
            outDir: 'out',
          },
          include: ['gen/**/*.ts', 'program.ts', 'program-types.ts'],
        }),
      );
      try {
        execFileSync(NODE, [TSC, '-p', join(work, 'tsconfig.json'), '--pretty', 'false'], { cwd: work, stdio: 'pipe', timeout: 120_000 });
      } catch (err) {
        throw new Error(`tsc refused the generated client or the program using it:\n${(err as { stdout?: Buffer }).stdout?.toString()}`);
      }

      const out = execFileSync(NODE, [join(work, 'out', 'program.js'), url, admin, agent], { cwd: work, timeout: 60_000 }).toString();
      const r = JSON.parse(out) as Record<string, any>;
      expect(r.before).toEqual({ status: 200, total: 0 });
      expect(r.plan).toEqual({ status: 201, name: 'gold', weight: 2 });
      expect(r.tenant).toEqual({ status: 201, name: 'alice', host: 'web01' });
      expect(r.report).toMatchObject({ status: 202, data: { accepted: true, duplicate: false, seq: 1 } });
      expect(r.usage.status).toBe(200);
      expect(r.usage.cpuAvg.filter((v: number | null) => v !== null)).toEqual([42]);
      expect(r.missing).toEqual({ status: 404, error: { error: 'not_found', message: 'tenant nobody is not known' } });
      expect(r.after.names).toEqual(['alice']);
    },
    300_000,
  );
});
