// hostwarden-controller [--config FILE]: the REST API, history, fairness ledger and incidents of a fleet.
// Also the database's own tools: --check (PRAGMA quick_check) and --backup FILE (an online copy), each on
// the database the configuration names, while the controller runs or not (store/sqlite/maintenance.ts);
// --migrate-from-sqlite FILE copies an SQLite controller database into database.url (store/postgres/copy-sqlite.ts).
// Exit codes: 0 ok, 1 runtime failure (or a damaged database for --check), 2 usage or configuration.
import { parseArgs } from 'node:util';
import { ConfigError, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, UsageError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { CONTROLLER_VERSION } from '../http/common.js';
import { CONTROLLER_CONFIG_REFERENCE, DEFAULT_CONFIG_FILE, loadControllerConfig } from '../config.js';
import { startController } from '../server.js';
import { copyFromSqlite } from '../store/postgres/copy-sqlite.js';
import { safeDatabaseUrl } from '../store/postgres/config.js';
import { PgDatabase } from '../store/postgres/db.js';
import { backupFile, checkFile } from '../store/sqlite/maintenance.js';
import type { Logger } from 'pino';

let log: Logger | undefined;

/** Exit once the logger has written everything (pino writes asynchronously). */
function exit(code: number): void {
  if (!log) process.exit(code);
  log.flush(() => process.exit(code));
  setTimeout(() => process.exit(code), 2000).unref();
}

const USAGE = `usage: hostwarden-controller [--config FILE] [--check | --backup FILE | --migrate-from-sqlite FILE]

  --config FILE   configuration (default ${DEFAULT_CONFIG_FILE}; when that file does not exist the
                  embedded defaults are used)
  --check         run PRAGMA quick_check on the database (read-only, also while a controller runs),
                  print the result, exit 0 when whole and 1 when damaged
  --backup FILE   copy the database to FILE while the controller keeps running (SQLite's online
                  backup API on a read-only connection: no lock taken), check the copy with
                  quick_check and print the result; FILE is replaced only by a whole copy.
                  To restore: stop the controller, put FILE in place of the database (removing its
                  -wal and -shm files), start it again
  --migrate-from-sqlite FILE
                  copy every table of the SQLite controller database FILE (stopped, at this version's
                  schema) into the PostgreSQL database of database.url (migrated first; it must be
                  empty), in one transaction; print the rows copied per table
  --print-config  print every configuration key with its default, then exit
  --version       print the version, then exit
  --help          this text

Signals: SIGTERM or SIGINT stop; SIGHUP reads the TLS certificate and key (tls:) again.

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
        'print-config': { type: 'boolean' },
        check: { type: 'boolean' },
        backup: { type: 'string' },
        'migrate-from-sqlite': { type: 'string' },
      },
      allowPositionals: false,
      strict: true,
    }).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  if (args.version) {
    process.stdout.write(`hostwarden-controller ${CONTROLLER_VERSION}\n`);
    return EXIT_OK;
  }
  if (args['print-config']) {
    process.stdout.write(CONTROLLER_CONFIG_REFERENCE);
    return EXIT_OK;
  }
  const from = args['migrate-from-sqlite'];
  if ([args.check, args.backup !== undefined, from !== undefined].filter(Boolean).length > 1) throw new UsageError('--check, --backup and --migrate-from-sqlite are separate runs: give one of them');
  if (from !== undefined) {
    if (from.trim() === '') throw new UsageError('--migrate-from-sqlite needs the SQLite database file to copy');
    const { config } = loadControllerConfig(args.config);
    if (!config.postgres) throw new ConfigError('database.url', '--migrate-from-sqlite copies into the PostgreSQL database of database.url, and none is configured');
    const db = await PgDatabase.open(config.postgres);
    try {
      const r = await copyFromSqlite(from, db, (table, rows) => process.stdout.write(`${table}: ${rows} rows\n`));
      const rows = r.tables.reduce((n, t) => n + t.rows, 0);
      process.stdout.write(`${from}: ${rows} rows of ${r.tables.length} tables copied to ${safeDatabaseUrl(config.postgres.url)} (${Math.round(r.ms)} ms)\n`);
    } finally {
      await db.close();
    }
    return EXIT_OK;
  }
  if (args.backup !== undefined && args.backup.trim() === '') throw new UsageError('--backup needs the file to write the copy to');
  if (args.check || args.backup !== undefined) {
    const { config } = loadControllerConfig(args.config);
    if (args.check) {
      const r = checkFile(config.database);
      if (r.ok) process.stdout.write(`${r.file}: ok (PRAGMA quick_check, ${Math.round(r.ms)} ms)\n`);
      else process.stdout.write(`${r.file}: DAMAGED (PRAGMA quick_check):\n${r.findings.map((f) => `  ${f}`).join('\n')}\nrestore the latest backup (hostwarden-controller --backup FILE makes one)\n`);
      return r.ok ? EXIT_OK : EXIT_RUNTIME;
    }
    const r = await backupFile(config.database, args.backup!);
    process.stdout.write(`${r.file}: backed up to ${r.to} (${r.pages} pages, ${r.bytes} bytes, ${Math.round(r.ms)} ms); the copy passed PRAGMA quick_check\n`);
    return EXIT_OK;
  }
  const { config, source } = loadControllerConfig(args.config);
  log = createLogger('hostwarden-controller', config.logLevel);
  if (source === 'embedded defaults') log.info({ default_file: DEFAULT_CONFIG_FILE }, 'no configuration file; running on embedded defaults');
  else log.info({ file: source }, 'configuration read');
  const running = await startController(config, { log });
  // SIGHUP (systemctl reload): read the TLS certificate and key again; without tls there is nothing to reload.
  process.on('SIGHUP', () => {
    if (running.tls) running.tls.reload('SIGHUP');
    else log?.info('SIGHUP: nothing to reload (no tls configured; other settings need a restart)');
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log?.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await running.close();
  return EXIT_OK;
}

main(process.argv.slice(2)).then(
  (code) => exit(code),
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`hostwarden-controller: ${err.message}\n\n${USAGE}\n`);
      return exit(EXIT_USAGE);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`hostwarden-controller: ${err.message}\n`);
      return exit(EXIT_USAGE);
    }
    log?.error({ err }, 'controller failed');
    process.stderr.write(`hostwarden-controller: ${(err as Error).message ?? String(err)}\n`);
    return exit(EXIT_RUNTIME);
  },
);
