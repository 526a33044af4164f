// Infected data (issue 16): the file quarantine entries agents report, and the admins' restores, deletes and
// on-demand scans, which travel to the agent in its host's policy (`file_requests`, `scan_requests`) the way
// manual actions do, until the agent's answer (`file_acks`) arrives:
//   pending -> done | failed.
// A host's report may touch only its own tenants' entries and requests (DESIGN 8): an entry for a tenant of
// another host, or an id another host already holds, is left out; an answer to another host's request is ignored.
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { FileAck, FileRequest, FileRequestStatus, QuarantinedFile, QuarantinedFileWire, ScanRequest } from '../../../shared/wire/files.js';
import { ConflictStateError, MissingError } from '../errors.js';
import type { QuarantinedFileFilter } from '../store.js';
import { assertOpen, iso, Where, type StoreContext } from './context.js';
import { type FileRow, type RequestRow, requestStatus } from '../file-rows.js';
import type { HostState, TenantState } from './writer-state.js';

function statements(db: Database.Database) {
  return {
    getFile: db.prepare<[string], FileRow>('SELECT * FROM quarantined_files WHERE id = ?'),
    upsertFile: db.prepare<[FileRow]>(
      `INSERT INTO quarantined_files (id, host_id, tenant, state, quarantined_at, reported_at, entry) VALUES (@id, @host_id, @tenant, @state, @quarantined_at, @reported_at, @entry)
       ON CONFLICT (id) DO UPDATE SET state = excluded.state, reported_at = excluded.reported_at, entry = excluded.entry`,
    ),
    getRequest: db.prepare<[string], RequestRow>('SELECT * FROM file_requests WHERE id = ?'),
    latestRequestOf: db.prepare<[string], RequestRow>('SELECT * FROM file_requests WHERE file_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1'),
    insertRequest: db.prepare<[RequestRow]>(
      `INSERT INTO file_requests (id, host_id, tenant, action, file_id, by, created_at, state, state_at, message)
       VALUES (@id, @host_id, @tenant, @action, @file_id, @by, @created_at, @state, @state_at, @message)`,
    ),
    answer: db.prepare<[string, number, string | null, string, number]>("UPDATE file_requests SET state = ?, state_at = ?, message = ? WHERE id = ? AND host_id = ? AND state = 'pending'"),
    pendingOfHost: db.prepare<[number], RequestRow>("SELECT * FROM file_requests WHERE host_id = ? AND state = 'pending' ORDER BY created_at, rowid"),
  };
}

export class QuarantinedFiles {
  private readonly sql: ReturnType<typeof statements>;

  constructor(private readonly ctx: StoreContext) {
    this.sql = statements(ctx.db);
  }

  /**
   * Inside the ingest transaction: the host's reported entries and answers. Returns true when a pending request
   * was answered (the host's policy changes).
   */
  ingest(host: HostState, files: readonly QuarantinedFileWire[], acks: readonly FileAck[], now: number, created?: ReadonlyMap<string, TenantState>): { changed: boolean; refused: number } {
    let refused = 0;
    for (const f of files) {
      // A tenant this very report made is not in memory until the commit.
      const t = this.ctx.state.tenants.get(f.tenant) ?? created?.get(f.tenant);
      const prior = this.sql.getFile.get(f.id);
      if (!t || t.hostId !== host.id || (prior && prior.host_id !== host.id)) {
        refused++;
        continue;
      }
      // A report older than what is stored never takes an entry back (a spool backlog after an outage).
      if (prior && Date.parse((JSON.parse(prior.entry) as QuarantinedFileWire).state_at) > Date.parse(f.state_at)) continue;
      this.sql.upsertFile.run({ id: f.id, host_id: host.id, tenant: f.tenant, state: f.state, quarantined_at: Date.parse(f.quarantined_at), reported_at: now, entry: JSON.stringify(f) });
    }
    let changed = false;
    for (const a of acks) {
      if (this.sql.answer.run(a.state, Date.parse(a.at), a.message ?? null, a.request, host.id).changes > 0) changed = true;
    }
    return { changed, refused };
  }

  list(filter: QuarantinedFileFilter): QuarantinedFile[] {
    const hostId = filter.host === undefined ? undefined : (this.ctx.state.hosts.get(filter.host)?.id ?? -1);
    const where = new Where().add('tenant = ?', filter.tenant).add('host_id = ?', hostId).add('state = ?', filter.state);
    return this.ctx.db
      .prepare<Array<string | number>, FileRow>(`SELECT * FROM quarantined_files ${where} ORDER BY quarantined_at DESC, id LIMIT ?`)
      .all(...where.params, filter.limit ?? 1000)
      .flatMap((r) => this.view(r) ?? []);
  }

  get(id: string): QuarantinedFile | undefined {
    const r = this.sql.getFile.get(id);
    return r ? this.view(r) : undefined;
  }

  private hostName(id: number): string {
    return this.ctx.state.hostName(id);
  }

  private view(r: FileRow): QuarantinedFile | undefined {
    let entry: QuarantinedFileWire;
    try {
      entry = JSON.parse(r.entry) as QuarantinedFileWire;
    } catch {
      return undefined;
    }
    const req = this.sql.latestRequestOf.get(r.id);
    return { ...entry, host: this.hostName(r.host_id), reported_at: iso(r.reported_at), request: req ? this.requestStatus(req) : null };
  }

  private requestStatus(r: RequestRow): FileRequestStatus {
    return requestStatus(r, this.hostName(r.host_id));
  }

  /** An admin's restore or delete: MissingError for an unknown file, ConflictStateError when it is not quarantined or a request is pending. */
  requestFile(id: string, action: 'restore' | 'delete', by: string): FileRequestStatus {
    assertOpen(this.ctx);
    const f = this.sql.getFile.get(id);
    if (!f) throw new MissingError(`quarantined file ${id} is not known`);
    if (f.state !== 'quarantined') throw new ConflictStateError('not_quarantined', `file ${id} is ${f.state}: only a quarantined file can be restored or deleted`);
    const last = this.sql.latestRequestOf.get(id);
    if (last?.state === 'pending') throw new ConflictStateError('request_pending', `a ${last.action} of file ${id} is already pending (request ${last.id})`);
    return this.insert({ host_id: f.host_id, tenant: f.tenant, action, file_id: id, by });
  }

  /** An on-demand scan of a tenant's homes on its host. */
  requestScan(tenant: string, by: string): FileRequestStatus {
    assertOpen(this.ctx);
    const t = this.ctx.state.tenants.get(tenant);
    if (!t) throw new MissingError(`tenant ${tenant} is not known`);
    const host = this.ctx.state.hostOf(t);
    if (!host) throw new ConflictStateError('no_host', `tenant ${tenant} has no host yet`);
    return this.insert({ host_id: host.id, tenant, action: 'scan', file_id: null, by });
  }

  getRequest(id: string): FileRequestStatus | undefined {
    const r = this.sql.getRequest.get(id);
    return r ? this.requestStatus(r) : undefined;
  }

  private insert(r: Pick<RequestRow, 'host_id' | 'tenant' | 'action' | 'file_id' | 'by'>): FileRequestStatus {
    const now = this.ctx.now();
    const row: RequestRow = { ...r, id: randomUUID(), created_at: now, state: 'pending', state_at: now, message: null };
    this.sql.insertRequest.run(row);
    this.ctx.state.policyChanged();
    return this.requestStatus(row);
  }

  /** The host's pending requests, as its policy serves them. */
  forPolicy(hostId: number): { file_requests: FileRequest[]; scan_requests: ScanRequest[] } {
    const file_requests: FileRequest[] = [];
    const scan_requests: ScanRequest[] = [];
    for (const r of this.sql.pendingOfHost.all(hostId)) {
      const common = { id: r.id, ...(r.by ? { by: r.by.slice(0, 128) } : {}), created_at: iso(r.created_at) };
      if (r.action === 'scan') scan_requests.push({ ...common, tenant: r.tenant });
      else if (r.file_id) file_requests.push({ ...common, file: r.file_id, action: r.action });
    }
    return { file_requests, scan_requests };
  }
}
