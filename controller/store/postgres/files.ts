// Infected data on PostgreSQL (issue 16; sqlite/quarantined-files.ts says what the rows mean): the agents'
// file quarantine entries, the admins' restores, deletes and scans served in the host's policy until the
// agent's answer arrives. Read from the tables on every call, like the rest of this store.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { FileAck, FileRequest, FileRequestStatus, QuarantinedFile, QuarantinedFileWire, ScanRequest } from '../../../shared/wire/files.js';
import { ConflictStateError, MissingError } from '../errors.js';
import type { QuarantinedFileFilter } from '../store.js';
import type { PgDatabase, Queryable } from './db.js';
import { PgWhere } from './notices.js';
import { type FileRow, type RequestRow, requestStatus } from '../file-rows.js';

const iso = (t: number): string => new Date(t).toISOString();

export class PgFiles {
  constructor(
    private readonly db: PgDatabase,
    private readonly now: () => number,
  ) {}

  /** Inside the ingest transaction: the host's entries (of its own tenants only) and its answers. */
  async ingest(c: pg.PoolClient, hostId: number, files: readonly QuarantinedFileWire[], acks: readonly FileAck[], now: number): Promise<void> {
    if (files.length) {
      const owners = new Map(
        (await c.query<{ name: string; host_id: number | null }>('SELECT name, host_id FROM tenants WHERE name = ANY($1::text[])', [[...new Set(files.map((f) => f.tenant))]])).rows.map((r) => [r.name, r.host_id]),
      );
      for (const f of files) {
        if (owners.get(f.tenant) !== hostId) continue;
        const prior = (await c.query<FileRow>('SELECT * FROM quarantined_files WHERE id = $1', [f.id])).rows[0];
        if (prior && prior.host_id !== hostId) continue;
        if (prior && Date.parse((JSON.parse(prior.entry) as QuarantinedFileWire).state_at) > Date.parse(f.state_at)) continue;
        await c.query(
          `INSERT INTO quarantined_files (id, host_id, tenant, state, quarantined_at, reported_at, entry) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (id) DO UPDATE SET state = excluded.state, reported_at = excluded.reported_at, entry = excluded.entry`,
          [f.id, hostId, f.tenant, f.state, Date.parse(f.quarantined_at), now, JSON.stringify(f)],
        );
      }
    }
    for (const a of acks) {
      await c.query("UPDATE file_requests SET state = $1, state_at = $2, message = $3 WHERE id = $4 AND host_id = $5 AND state = 'pending'", [a.state, Date.parse(a.at), a.message ?? null, a.request, hostId]);
    }
  }

  private async hostNames(q: Queryable = this.db.pool): Promise<Map<number, string>> {
    return new Map((await q.query<{ id: number; name: string }>('SELECT id, name FROM hosts')).rows.map((r) => [r.id, r.name]));
  }

  async list(filter: QuarantinedFileFilter): Promise<QuarantinedFile[]> {
    const where = new PgWhere()
      .add((p) => `tenant = ${p}`, filter.tenant)
      .add((p) => `host_id = coalesce((SELECT id FROM hosts WHERE name = ${p}), -1)`, filter.host)
      .add((p) => `state = ${p}`, filter.state);
    const rows = await this.db.query<FileRow>(`SELECT * FROM quarantined_files ${where} ORDER BY quarantined_at DESC, id LIMIT $${where.params.length + 1}`, [...where.params, filter.limit ?? 1000]);
    const hosts = await this.hostNames();
    const out: QuarantinedFile[] = [];
    for (const r of rows) {
      const v = await this.view(r, hosts);
      if (v) out.push(v);
    }
    return out;
  }

  async get(id: string): Promise<QuarantinedFile | undefined> {
    const [r] = await this.db.query<FileRow>('SELECT * FROM quarantined_files WHERE id = $1', [id]);
    return r ? this.view(r, await this.hostNames()) : undefined;
  }

  private async latestRequestOf(q: Queryable, fileId: string): Promise<RequestRow | undefined> {
    return (await q.query<RequestRow>('SELECT * FROM file_requests WHERE file_id = $1 ORDER BY created_at DESC, seq DESC LIMIT 1', [fileId])).rows[0];
  }

  private async view(r: FileRow, hosts: Map<number, string>): Promise<QuarantinedFile | undefined> {
    let entry: QuarantinedFileWire;
    try {
      entry = JSON.parse(r.entry) as QuarantinedFileWire;
    } catch {
      return undefined;
    }
    const req = await this.latestRequestOf(this.db.pool, r.id);
    return { ...entry, host: hosts.get(r.host_id) ?? '?', reported_at: iso(r.reported_at), request: req ? requestStatus(req, hosts.get(req.host_id) ?? '?') : null };
  }

  async requestFile(id: string, action: 'restore' | 'delete', by: string): Promise<FileRequestStatus> {
    return this.db.tx(async (c) => {
      const f = (await c.query<FileRow>('SELECT * FROM quarantined_files WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (!f) throw new MissingError(`quarantined file ${id} is not known`);
      if (f.state !== 'quarantined') throw new ConflictStateError('not_quarantined', `file ${id} is ${f.state}: only a quarantined file can be restored or deleted`);
      const last = await this.latestRequestOf(c, id);
      if (last?.state === 'pending') throw new ConflictStateError('request_pending', `a ${last.action} of file ${id} is already pending (request ${last.id})`);
      return this.insert(c, { host_id: f.host_id, tenant: f.tenant, action, file_id: id, by });
    });
  }

  async requestScan(tenant: string, by: string): Promise<FileRequestStatus> {
    return this.db.tx(async (c) => {
      const t = (await c.query<{ host_id: number | null }>('SELECT host_id FROM tenants WHERE name = $1', [tenant])).rows[0];
      if (!t) throw new MissingError(`tenant ${tenant} is not known`);
      if (t.host_id === null) throw new ConflictStateError('no_host', `tenant ${tenant} has no host yet`);
      return this.insert(c, { host_id: t.host_id, tenant, action: 'scan', file_id: null, by });
    });
  }

  async getRequest(id: string): Promise<FileRequestStatus | undefined> {
    const [r] = await this.db.query<RequestRow>('SELECT * FROM file_requests WHERE id = $1', [id]);
    return r ? requestStatus(r, (await this.hostNames()).get(r.host_id) ?? '?') : undefined;
  }

  private async insert(c: pg.PoolClient, r: Pick<RequestRow, 'host_id' | 'tenant' | 'action' | 'file_id' | 'by'>): Promise<FileRequestStatus> {
    const now = this.now();
    const row: RequestRow = { ...r, id: randomUUID(), created_at: now, state: 'pending', state_at: now, message: null };
    await c.query(
      'INSERT INTO file_requests (id, host_id, tenant, action, file_id, by, created_at, state, state_at, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [row.id, row.host_id, row.tenant, row.action, row.file_id, row.by, row.created_at, row.state, row.state_at, row.message],
    );
    return requestStatus(row, (await this.hostNames(c)).get(row.host_id) ?? '?');
  }

  /** The host's pending requests, as its policy serves them. */
  async forPolicy(hostId: number): Promise<{ file_requests: FileRequest[]; scan_requests: ScanRequest[] }> {
    const file_requests: FileRequest[] = [];
    const scan_requests: ScanRequest[] = [];
    for (const r of await this.db.query<RequestRow>("SELECT * FROM file_requests WHERE host_id = $1 AND state = 'pending' ORDER BY created_at, seq", [hostId])) {
      const common = { id: r.id, ...(r.by ? { by: r.by.slice(0, 128) } : {}), created_at: iso(r.created_at) };
      if (r.action === 'scan') scan_requests.push({ ...common, tenant: r.tenant });
      else if (r.file_id) file_requests.push({ ...common, file: r.file_id, action: r.action });
    }
    return { file_requests, scan_requests };
  }
}
