// The built controller's --migrate-from-sqlite FILE against a PostgreSQL cluster of the test's own: the
// committed SQLite fixture copied into database.url (rows per table printed, exit 0; the rows there), a second
// run refused (exit 1, nothing doubled), no database.url a configuration error naming the key (exit 2), and
// --migrate-from-sqlite with --check a usage error (exit 2). The copy itself is tested row for row in
// test/unit/controller/store/copy-sqlite.test.ts.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SQLITE_FIXTURE } from '../../fixtures/make-sqlite-fixture.js';
import { describeWith, missing } from '../../helpers/env.js';
import { postgresMissing, usePostgres } from '../../helpers/postgres.js';
import { Cleanup, ROOT, runProgram, tempDir } from '../../helpers/system.js';

const BIN = 'controller/bin/hostwarden-controller.js';
const built = existsSync(join(ROOT, 'dist', BIN));

describeWith(missing([[built, 'needs a build (npx tsc -b)'], [postgresMissing() === undefined, postgresMissing() ?? '']]), 'hostwarden-controller --migrate-from-sqlite', () => {
  const cluster = usePostgres();

  it('copies the SQLite fixture into database.url once; without database.url it names the key', async () => {
    const cleanup = new Cleanup();
    try {
      const dir = tempDir(cleanup, 'hw-migrate-');
      const database = await cluster().createDatabase();
      const config = join(dir, 'controller.yaml');
      writeFileSync(config, `state_dir: ${join(dir, 'state')}\ndatabase: { url: "${cluster().url(database)}" }\n`);
      const r = runProgram(BIN, ['--config', config, '--migrate-from-sqlite', SQLITE_FIXTURE]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^meta: 3 rows$/m);
      expect(r.stdout).toMatch(/^hosts: 2 rows$/m);
      expect(r.stdout).toMatch(/^tenant_links: 2 rows$/m);
      expect(r.stdout).toMatch(/sqlite-v010\.db: \d+ rows of 23 tables copied to postgresql:\/\/postgres@/);
      expect(await cluster().query('SELECT name FROM hosts ORDER BY id', [], database)).toEqual([{ name: 'web01' }, { name: 'web02' }]);

      const again = runProgram(BIN, ['--config', config, '--migrate-from-sqlite', SQLITE_FIXTURE]);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/already has rows in meta/);
      expect(await cluster().query('SELECT count(*)::int AS n FROM hosts', [], database)).toEqual([{ n: 2 }]);

      const sqliteOnly = join(dir, 'sqlite.yaml');
      writeFileSync(sqliteOnly, `state_dir: ${join(dir, 'state')}\n`);
      const none = runProgram(BIN, ['--config', sqliteOnly, '--migrate-from-sqlite', SQLITE_FIXTURE]);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/config key "database.url".*none is configured/);

      const both = runProgram(BIN, ['--config', config, '--check', '--migrate-from-sqlite', SQLITE_FIXTURE]);
      expect(both.code).toBe(2);
      expect(both.stderr).toMatch(/separate runs/);
    } finally {
      await cleanup.run();
    }
  });
});
