// A PostgreSQL cluster for a test file (issue 15): bench/pg-cluster.ts starts and removes it; here it is tied to
// the file's beforeAll/afterAll. Locally a machine without the binaries (or without root to become `postgres`)
// skips with the reason; in CI it fails (describeWith of env.ts).
import { afterAll, beforeAll } from 'vitest';
import { type PgCluster, startPostgres } from '../../bench/pg-cluster.js';

export { type PgCluster, type PostgresOptions, postgresBin, postgresMissing, startPostgres } from '../../bench/pg-cluster.js';

/**
 * One cluster for the calling test file's (or describe block's) tests: started in beforeAll, stopped and
 * removed in afterAll. Call inside a describe that runs only when postgresMissing() is undefined.
 */
export function usePostgres(): () => PgCluster {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return () => {
    if (!cluster) throw new Error('the PostgreSQL cluster is not started (usePostgres() outside a running describe?)');
    return cluster;
  };
}
