// Infected data: files [--tenant T] [--host H] [--state S] lists the files the agents moved into their file
// quarantine; files restore ID and files delete ID ask the file's agent to restore or delete one; scan TENANT asks
// the tenant's agent to scan its homes now. Requests are carried out when the agent next pulls its policy.
import type { FileRequestStatus, QuarantinedFile } from '../../shared/wire/files.js';
import { UsageError } from '../../shared/errors.js';
import { stringOption } from '../args.js';
import { printJson, type Command, type View } from '../command.js';
import { ControllerError } from '../errors.js';
import { formatBytes } from '../../shared/units.js';
import { formatAge, formatWhen, NONE } from '../format.js';
import { checked } from '../shape.js';
import { renderFields, renderTable, type Column } from '../table.js';
import { tenantValue } from '../values.js';
import { hostFilter, hostQuery, tenantFilter, tenantQuery } from './options.js';

const SHORT_ID = 8;
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const STATES = ['quarantined', 'restored', 'deleted'] as const;

function requestWords(r: FileRequestStatus | null): string {
  if (!r) return NONE;
  return `${r.action} ${r.state}${r.message && r.state === 'failed' ? `: ${r.message}` : ''}`;
}

export function renderFiles(files: readonly QuarantinedFile[], view: View): string {
  if (files.length === 0) return 'no quarantined files match\n';
  const cols: Array<Column<QuarantinedFile>> = [
    { header: 'ID', value: (f) => f.id.slice(0, SHORT_ID) },
    { header: 'TENANT', value: (f) => f.tenant },
    { header: 'HOST', value: (f) => f.host },
    { header: 'STATE', value: (f) => f.state },
    { header: 'SINCE', value: (f) => formatAge(f.state_at, view.now) },
    { header: 'SIZE', value: (f) => formatBytes(f.size), align: 'right' },
    { header: 'SIGNATURE', value: (f) => f.signature },
    { header: 'REQUEST', value: (f) => requestWords(f.request) },
    { header: 'PATH', value: (f) => f.path, flex: true },
  ];
  return renderTable(cols, files, view.width);
}

export function renderFile(f: QuarantinedFile, view: View): string {
  return renderFields([
    ['file', f.id],
    ['tenant', `${f.tenant} on ${f.host}`],
    ['path', f.path],
    ['signature', f.signature],
    ['size', `${formatBytes(f.size)} (${f.size} bytes)`],
    ['sha256', f.sha256],
    ['owner', `uid ${f.uid}, gid ${f.gid}, mode ${f.mode.toString(8).padStart(4, '0')}`],
    ['modified', formatWhen(f.mtime, view.now)],
    ['quarantined', `${formatWhen(f.quarantined_at, view.now)} (scan ${f.scan})`],
    ['state', `${f.state} since ${formatWhen(f.state_at, view.now)}`],
    ['message', f.message],
    ['request', f.request ? `${f.request.action} ${f.request.state} (asked by ${f.request.by ?? NONE} ${formatWhen(f.request.created_at, view.now)})${f.request.message ? `: ${f.request.message}` : ''}` : undefined],
  ]);
}

function renderRequest(r: FileRequestStatus): string {
  const what = r.action === 'scan' ? `a scan of the homes of ${r.tenant}` : `the ${r.action} of file ${r.file ?? '?'} (${r.tenant})`;
  return `asked ${r.host} for ${what}: request ${r.id} is ${r.state}; the agent carries it out when it next pulls its policy\n`;
}

/** A full id from an id or the prefix the list shows. */
async function resolveId(ctx: Parameters<Command['run']>[0], given: string): Promise<string> {
  if (!ID_RE.test(given)) throw new UsageError(`ID: "${given}" is not a file id`);
  if (given.length > SHORT_ID) return given;
  const all = (await checked(await ctx.client.get('/v1/quarantined-files', { limit: 10_000 }), 'QuarantinedFileListSchema')).files.filter((f) => f.id.startsWith(given));
  if (all.length === 0) throw new ControllerError(404, 'not_found', `quarantined file ${given} is not known`);
  if (all.length > 1) throw new UsageError(`ID: "${given}" is the start of ${all.length} file ids; give more of it`);
  return all[0]!.id;
}

export const filesCommand: Command = {
  name: 'files',
  summary: 'files moved into the file quarantine; "files ID" shows one, "files restore ID" and "files delete ID" ask for a restore or a delete',
  args: [
    { name: 'ACTION|ID', help: 'restore, delete, or a file id to show', optional: true },
    { name: 'ID', help: 'file id (or its first 8 characters as the list shows)', optional: true },
  ],
  options: [tenantFilter(), hostFilter(), { name: 'state', type: 'string', value: 'STATE', help: 'quarantined, restored or deleted' }],
  details: 'A restore puts the file back exactly (content, owner, mode, times) unless its path is taken now; a delete removes it from the store for good. Both are carried out by the agent of the file\'s host at its next policy pull; "files ID" shows the answer.',
  examples: ['hostwardenctl files --tenant alice', 'hostwardenctl files restore 0b7d3c9e', 'hostwardenctl files delete 0b7d3c9e'],
  async run(ctx, args, o) {
    const [first, second] = args;
    if (first === 'restore' || first === 'delete') {
      if (second === undefined) throw new UsageError(`files ${first}: give the file's ID`);
      const id = await resolveId(ctx, second);
      const path = `/v1/quarantined-files/${encodeURIComponent(id)}`;
      const a = first === 'restore' ? await ctx.client.post(`${path}/restore`, undefined) : await ctx.client.request('DELETE', path);
      if (ctx.json) return printJson(ctx, a.text);
      return ctx.out(renderRequest(await checked(a, 'FileRequestStatusSchema')));
    }
    if (first !== undefined) {
      if (second !== undefined) throw new UsageError(`files: "${first}" is not restore or delete`);
      const id = await resolveId(ctx, first);
      const a = await ctx.client.get(`/v1/quarantined-files/${encodeURIComponent(id)}`);
      if (ctx.json) return printJson(ctx, a.text);
      return ctx.out(renderFile(await checked(a, 'QuarantinedFileSchema'), ctx.view));
    }
    const state = stringOption(o, 'state');
    if (state !== undefined && !(STATES as readonly string[]).includes(state)) throw new UsageError(`--state: "${state}" is not one of ${STATES.join(', ')}`);
    const a = await ctx.client.get('/v1/quarantined-files', { tenant: tenantQuery(o), host: hostQuery(o), state });
    if (ctx.json) return printJson(ctx, a.text);
    ctx.out(renderFiles((await checked(a, 'QuarantinedFileListSchema')).files, ctx.view));
  },
};

export const scanCommand: Command = {
  name: 'scan',
  summary: "scan a tenant's homes for infected files now (malware.enabled on its host)",
  args: [{ name: 'TENANT', help: 'tenant name' }],
  options: [],
  examples: ['hostwardenctl scan alice'],
  async run(ctx, args) {
    const tenant = tenantValue('TENANT', args[0]!);
    const a = await ctx.client.post(`/v1/tenants/${encodeURIComponent(tenant)}/scan`, undefined);
    if (ctx.json) return printJson(ctx, a.text);
    ctx.out(renderRequest(await checked(a, 'FileRequestStatusSchema')));
  },
};
