// Infected data (file quarantine, issue 16) on the wire. An agent reports each quarantined file's manifest
// entry when its state changes (`files` of a report); the controller serves the admins' restore and delete
// requests, and on-demand scans, in the host's policy (`file_requests`, `scan_requests`), the way it serves
// manual actions; the agent answers each request once (`file_acks` of a report). All optional fields, so an
// agent and a controller one version apart keep working (DESIGN 5, compatibility).
import { Type, type Static } from 'typebox';
import { NAME_PATTERN } from '../names.js';
import { IntegerIn, MAX_BYTES, MAX_UID } from './bounds.js';

const Timestamp = (description: string) => Type.String({ format: 'date-time', description });
const Id = (description: string) => Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$', description });

/** Most files one report or one incident explanation lists. */
export const MAX_FILES_LISTED = 100;
/** A path in a tenant's home, characters (PATH_MAX). */
export const MAX_FILE_PATH = 4096;

export const FileStateSchema = Type.Union([Type.Literal('quarantined'), Type.Literal('restored'), Type.Literal('deleted')], {
  description: 'quarantined: in the store, the original path absent; restored: put back; deleted: removed for good',
});
export type FileState = Static<typeof FileStateSchema>;

/** One file quarantine manifest entry, as the agent keeps it (agent/malware/store.ts). */
export const QuarantinedFileWireSchema = Type.Object(
  {
    id: Id('file quarantine id, unique per host'),
    tenant: Type.String({ pattern: NAME_PATTERN }),
    path: Type.String({ minLength: 1, maxLength: MAX_FILE_PATH, description: 'original absolute path (tenant text: data, never a path to follow)' }),
    size: IntegerIn(0, MAX_BYTES, 'bytes'),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    signature: Type.String({ minLength: 1, maxLength: 256, description: "the engine's signature name" }),
    uid: IntegerIn(0, MAX_UID, 'owner'),
    gid: IntegerIn(0, MAX_UID, 'group'),
    mode: IntegerIn(0, 0o7777, 'permission bits'),
    mtime: Timestamp('modification time of the original'),
    quarantined_at: Timestamp('when it was moved into the store'),
    scan: Id('the scan that found it'),
    state: FileStateSchema,
    state_at: Timestamp('when the state was reached'),
    message: Type.Optional(Type.String({ maxLength: 2000, description: 'why the last restore or delete failed' })),
  },
  { additionalProperties: false },
);
export type QuarantinedFileWire = Static<typeof QuarantinedFileWireSchema>;

/** An admin's restore or delete of a quarantined file, served in the host's policy until answered. */
export const FileRequestSchema = Type.Object(
  {
    id: Id('request id'),
    file: Id('file quarantine id'),
    action: Type.Union([Type.Literal('restore'), Type.Literal('delete')]),
    by: Type.Optional(Type.String({ maxLength: 128 })),
    created_at: Timestamp('when it was asked for'),
  },
  { additionalProperties: false },
);
export type FileRequest = Static<typeof FileRequestSchema>;

/** An on-demand scan of one tenant's homes (`hostwardenctl scan TENANT`). */
export const ScanRequestSchema = Type.Object(
  {
    id: Id('request id'),
    tenant: Type.String({ pattern: NAME_PATTERN }),
    by: Type.Optional(Type.String({ maxLength: 128 })),
    created_at: Timestamp('when it was asked for'),
  },
  { additionalProperties: false },
);
export type ScanRequest = Static<typeof ScanRequestSchema>;

/** The agent's answer to one file or scan request (each answered once; the controller then stops serving it). */
export const FileAckSchema = Type.Object(
  {
    request: Id('request id'),
    state: Type.Union([Type.Literal('done'), Type.Literal('failed')]),
    at: Timestamp('when'),
    message: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);
export type FileAck = Static<typeof FileAckSchema>;

/** One infected file in an incident's explanation (rule `infected`). */
export const InfectedFileSchema = Type.Object(
  {
    path: Type.String({ minLength: 1, maxLength: MAX_FILE_PATH }),
    signature: Type.String({ minLength: 1, maxLength: 256 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    size: IntegerIn(0, MAX_BYTES, 'bytes'),
    action: Type.Union([Type.Literal('quarantined'), Type.Literal('reported'), Type.Literal('allowlisted')], { description: 'what was done with it' }),
    id: Type.Optional(Id('file quarantine id, when quarantined')),
  },
  { additionalProperties: false },
);
export type InfectedFile = Static<typeof InfectedFileSchema>;


// --- the admin API (GET/POST/DELETE /v1/quarantined-files, POST /v1/tenants/{tenant}/scan) ----------------
export const RequestStateSchema = Type.Union([Type.Literal('pending'), Type.Literal('done'), Type.Literal('failed')], {
  description: 'pending: in the host policy until its agent answers; done; failed (message says why)',
});

export const FileRequestStatusSchema = Type.Object(
  {
    id: Id('request id'),
    action: Type.Union([Type.Literal('restore'), Type.Literal('delete'), Type.Literal('scan')]),
    host: Type.String({ maxLength: 253 }),
    tenant: Type.String({ pattern: NAME_PATTERN }),
    file: Type.Union([Id('file quarantine id'), Type.Null()]),
    by: Type.Union([Type.String({ maxLength: 128 }), Type.Null()]),
    created_at: Timestamp('when it was asked for'),
    state: RequestStateSchema,
    state_at: Timestamp('when the state was reached'),
    message: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type FileRequestStatus = Static<typeof FileRequestStatusSchema>;

export const QuarantinedFileSchema = Type.Object(
  {
    ...QuarantinedFileWireSchema.properties,
    host: Type.String({ maxLength: 253 }),
    reported_at: Timestamp('when its agent last reported it'),
    request: Type.Union([FileRequestStatusSchema, Type.Null()], { description: 'the latest restore or delete asked for' }),
  },
  { additionalProperties: false },
);
export type QuarantinedFile = Static<typeof QuarantinedFileSchema>;

export const QuarantinedFileListSchema = Type.Object({ files: Type.Array(QuarantinedFileSchema) }, { additionalProperties: false });

export const QuarantinedFilesQuerySchema = Type.Object(
  {
    tenant: Type.Optional(Type.String({ pattern: NAME_PATTERN })),
    host: Type.Optional(Type.String({ maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$' })),
    state: Type.Optional(FileStateSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  },
  { additionalProperties: false },
);

export const FileIdParamsSchema = Type.Object({ id: Id('file quarantine id') }, { additionalProperties: false });

/** The body of POST /v1/quarantined-files/{id}/restore and POST /v1/tenants/{tenant}/scan: none, or {}. */
export const EmptyBodySchema = Type.Object({}, { additionalProperties: false, description: 'no body, or an empty object' });
