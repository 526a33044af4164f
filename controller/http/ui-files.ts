// The built dashboard's files (vite's output in the ui.dir directory, default dist/ui): the two HTML pages and
// assets/. Served with the headers of a page that runs no inline script and loads nothing from elsewhere.
// Asset paths are checked segment by segment (letters, digits, . _ -, no leading dot), so nothing outside
// assets/ can be named; files are small (the UI is <= 200 KB gzip) and read whole.
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import { escapeHtml } from '../notices/template-engine.js';

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** On every page and asset. */
export const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
} as const;

const HTML_HEADERS = { ...SECURITY_HEADERS, 'cache-control': 'no-store' } as const;

const TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const SEGMENT_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * A refusal: to a browser (Accept: text/html) a small page of our own with the same headers, to anything else
 * `{ error, message }` as every route answers (routes/remediation-link.ts does the same).
 */
export function refuse(request: FastifyRequest, reply: FastifyReply, status: number, code: string, title: string, text: string): FastifyReply {
  if (!/\btext\/html\b/.test(request.headers.accept ?? '')) throw new ApiError(status, code, text);
  return sendPage(reply, status, title, text);
}

function sendPage(reply: FastifyReply, status: number, title: string, text: string): FastifyReply {
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(text)}</p></body></html>
`;
  return reply.code(status).headers(HTML_HEADERS).type('text/html; charset=utf-8').send(html);
}

async function readOrUndefined(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return undefined;
    throw err;
  }
}

/** One of the UI's HTML pages; 503 saying how to build it when it is missing. */
export async function sendHtml(request: FastifyRequest, reply: FastifyReply, dir: string, name: 'index.html' | 'tenant.html'): Promise<FastifyReply> {
  const body = await readOrUndefined(join(dir, name));
  if (!body) return refuse(request, reply, 503, 'ui_not_built', 'The dashboard is not built', `${join(dir, name)} does not exist: build it with "npm run build" (the .deb carries it built), or point ui.dir at it.`);
  return reply.code(200).headers(HTML_HEADERS).type('text/html; charset=utf-8').send(body);
}

/** A file under <dir>/assets; 404 for a name that is not a plain relative path or not there. */
export async function sendAsset(request: FastifyRequest, reply: FastifyReply, dir: string, path: string): Promise<FastifyReply> {
  const segments = path.split('/');
  const type = TYPES[extname(path).toLowerCase()];
  if (path.length > 512 || !segments.every((s) => SEGMENT_RE.test(s)) || type === undefined) return refuse(request, reply, 404, 'not_found', 'Not found', `no such file in the dashboard's assets: ${path.slice(0, 100)}`);
  const body = await readOrUndefined(join(dir, 'assets', ...segments));
  if (!body) return refuse(request, reply, 404, 'not_found', 'Not found', `no such file in the dashboard's assets: ${path.slice(0, 100)}`);
  return reply.code(200).headers({ ...SECURITY_HEADERS, 'cache-control': 'public, max-age=300' }).type(type).send(body);
}
