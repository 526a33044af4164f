// The rows of the file quarantine and of the admins' file requests (issue 16), shared by the SQLite and
// PostgreSQL stores (sqlite/quarantined-files.ts says what they mean), and a request's answer to the API.
import type { FileRequestStatus } from '../../shared/wire/files.js';

export interface FileRow {
  id: string;
  host_id: number;
  tenant: string;
  state: string;
  quarantined_at: number;
  reported_at: number;
  entry: string;
}

export interface RequestRow {
  id: string;
  host_id: number;
  tenant: string;
  action: 'restore' | 'delete' | 'scan';
  file_id: string | null;
  by: string | null;
  created_at: number;
  state: 'pending' | 'done' | 'failed';
  state_at: number;
  message: string | null;
}

const iso = (t: number): string => new Date(t).toISOString();

export function requestStatus(r: RequestRow, hostName: string): FileRequestStatus {
  return { id: r.id, action: r.action, host: hostName, tenant: r.tenant, file: r.file_id, by: r.by, created_at: iso(r.created_at), state: r.state, state_at: iso(r.state_at), message: r.message };
}
