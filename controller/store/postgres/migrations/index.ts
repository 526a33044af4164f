// The PostgreSQL store's numbered migrations, applied in order (db.ts), each in the transaction that holds the
// migration lock. Append only: a released migration is never edited. Numbered on their own: PostgreSQL's 1 is
// SQLite's 1-10 (store/sqlite/migrations); a later change to the schema gets a migration in both.
import { PG_MIGRATION_001 } from './001-initial.js';
import { PG_MIGRATION_002 } from './002-store.js';
import { PG_MIGRATION_003 } from './003-host-ledgers.js';
import { PG_MIGRATION_004 } from './004-queue-hosts.js';
import { PG_MIGRATION_005 } from './005-ledger-lz4.js';

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

export const PG_MIGRATIONS: readonly PgMigration[] = [
  { version: 1, name: 'initial (SQLite 1-10)', sql: PG_MIGRATION_001 },
  { version: 2, name: 'rollups merged in the database, tenants directory_seen_at', sql: PG_MIGRATION_002 },
  { version: 3, name: 'fairness ledger per host (host_ledgers)', sql: PG_MIGRATION_003 },
  { version: 4, name: 'rollup queue rows carry their host and time; hosts.tenants_version', sql: PG_MIGRATION_004 },
  { version: 5, name: 'host ledger arrays compressed with lz4', sql: PG_MIGRATION_005 },
];
