// Migration 5 of the PostgreSQL store: the host ledger's arrays compressed with lz4 where the server has it
// (PostgreSQL 14 and later, built with it, as Debian's is). A report rewrites its host's ledger row (three
// arrays of 300 numbers: past the 2 kB at which PostgreSQL compresses a row's values), and pglz compressing
// them was PostgreSQL's busiest function under ingest (2.2 % of the machine in `npm run bench -- ingest`).
export const PG_MIGRATION_005 = `
DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
    ALTER TABLE host_ledgers ALTER COLUMN tenant_ids SET COMPRESSION lz4, ALTER COLUMN debts SET COMPRESSION lz4, ALTER COLUMN debt_ats SET COMPRESSION lz4;
  END IF;
END $$;
`;
