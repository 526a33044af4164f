// Serving the built UI (dist/ui) the way UI-CONTRACT.md says the controller does: the Content-Security-
// Policy and the other headers on every file, no-store on HTML, nothing outside the assets directory. Used by
// the ui bench.
import { readFileSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { extname, join } from 'node:path';

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** One of the two pages (index.html, tenant.html). */
export function sendPage(res: ServerResponse, dir: string, page: 'index.html' | 'tenant.html'): void {
  let body: Buffer;
  try {
    body = readFileSync(join(dir, page));
  } catch {
    sendText(res, 503, 'The UI was not built: run npm run build.');
    return;
  }
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': TYPES['.html']!, 'cache-control': 'no-store', 'content-length': body.length });
  res.end(body);
}

/** A file of dist/ui/assets by its name (no directories: anything else is 404). */
export function sendAsset(res: ServerResponse, dir: string, name: string): void {
  const type = TYPES[extname(name)];
  const file = join(dir, 'assets', name);
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.') || !type || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
    sendText(res, 404, 'not found');
    return;
  }
  const body = readFileSync(file);
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable', 'content-length': body.length });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  const body = Buffer.from(text);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', 'content-length': body.length });
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string | string[]> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': body.length, ...headers });
  res.end(body);
}
