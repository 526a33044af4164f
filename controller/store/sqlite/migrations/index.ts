// Numbered migrations, applied in order inside one transaction each; PRAGMA user_version records the last.
// Append only: a released migration is never edited.
import { MIGRATION_001 } from './001-initial.js';
import { MIGRATION_002 } from './002-retired-seq.js';
import { MIGRATION_003 } from './003-tenant-directory.js';
import { MIGRATION_004 } from './004-notices.js';
import { MIGRATION_005 } from './005-retired-tenants.js';
import { MIGRATION_006 } from './006-host-inventory.js';
import { MIGRATION_007 } from './007-quarantined-files.js';
import { MIGRATION_008 } from './008-remediation.js';
import { MIGRATION_009 } from './009-web-usage.js';
import { MIGRATION_010 } from './010-ui.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial', sql: MIGRATION_001 },
  { version: 2, name: 'retired-seq', sql: MIGRATION_002 },
  { version: 3, name: 'tenant-directory', sql: MIGRATION_003 },
  { version: 4, name: 'notices', sql: MIGRATION_004 },
  { version: 5, name: 'retired-tenants', sql: MIGRATION_005 },
  { version: 6, name: 'host-inventory', sql: MIGRATION_006 },
  { version: 7, name: 'quarantined-files', sql: MIGRATION_007 },
  { version: 8, name: 'remediation', sql: MIGRATION_008 },
  { version: 9, name: 'web-usage', sql: MIGRATION_009 },
  { version: 10, name: 'ui', sql: MIGRATION_010 },
];
