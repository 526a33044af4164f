// A raw HTTP/1.1 client for the fuzz test: the request line, headers and body go out as the bytes given
// (a URL with raw control characters or invalid UTF-8, duplicate headers, a body that is not JSON), one
// connection per request (`Connection: close`), and every request ends within its timeout as an answer,
// a timeout or a connection error: the harness never waits on a controller that stopped answering.
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  /** The request-target exactly as sent (latin1: one byte per character, so raw 0x00-0xff can be sent). */
  target: string;
  /** Header lines as [name, value] pairs, sent in order (duplicates allowed); Host and Connection are added. */
  headers: Array<[string, string]>;
  body?: Buffer | undefined;
}

export type RawOutcome =
  | { kind: 'answer'; status: number; headers: Record<string, string>; body: Buffer; ms: number }
  | { kind: 'timeout'; ms: number }
  | { kind: 'error'; message: string; ms: number };

const PIECE = 64 * 1024;

/** Send one request to 127.0.0.1:port; resolves (never rejects) within `timeoutMs`. */
export function sendRaw(port: number, req: RawRequest, timeoutMs: number): Promise<RawOutcome> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      // What arrived may still be a whole answer the server did not close after.
      const parsed = parseResponse(Buffer.concat(chunks));
      finish(parsed ? { kind: 'answer', ...parsed, ms: ms() } : { kind: 'timeout', ms: ms() });
    }, timeoutMs);
    socket.on('connect', () => {
      const body = req.body ?? Buffer.alloc(0);
      const lines = [`${req.method} ${req.target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close'];
      for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
      if (req.body !== undefined) lines.push(`Content-Length: ${body.length}`);
      // A large body, or one after a head the server may refuse outright (over 8 KiB: 431 comes at 16; bytes
      // outside printable ASCII: 400), waits for the server's go-ahead, as curl does for large bodies: a server
      // that answers first and closes is heard instead of resetting a connection still being written to.
      const asked = req.headers.some(([k]) => k.toLowerCase() === 'expect');
      const rawHead = lines.join('\r\n');
      const expect = body.length > 0 && (asked || body.length > PIECE || rawHead.length > 8192 || /[^\x20-\x7e\r\n]/.test(rawHead));
      if (expect && !asked) lines.push('Expect: 100-continue');
      const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      // A small body goes with its head in one write, as clients send it: a server that refuses on the head
      // alone (401 before the body is read) and closes then has the whole request, where a body written after
      // its answer would meet a closed socket (EPIPE) and lose the answer (seen once in 10,000 under load).
      if (!expect && body.length <= PIECE) {
        socket.write(Buffer.concat([head, body]));
        return;
      }
      socket.write(head);
      void (async () => {
        if (expect) {
          const end = Date.now() + 1000;
          while (!settled && chunks.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
          if (parseResponse(Buffer.concat(chunks))) return; // a final answer: the body is not wanted
        }
        for (let at = 0; at < body.length && !settled; at += PIECE) {
          if (!socket.write(body.subarray(at, at + PIECE))) await new Promise((r) => (socket.once('drain', r), socket.once('close', r)));
        }
      })();
    });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const parsed = parseResponse(Buffer.concat(chunks));
      if (parsed && parsed.complete) finish({ kind: 'answer', status: parsed.status, headers: parsed.headers, body: parsed.body, ms: ms() });
    });
    socket.on('end', () => {
      const parsed = parseResponse(Buffer.concat(chunks));
      finish(parsed ? { kind: 'answer', status: parsed.status, headers: parsed.headers, body: parsed.body, ms: ms() } : { kind: 'error', message: chunks.length ? 'connection closed in the middle of an answer' : 'connection closed without an answer', ms: ms() });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const parsed = parseResponse(Buffer.concat(chunks));
      finish(parsed ? { kind: 'answer', status: parsed.status, headers: parsed.headers, body: parsed.body, ms: ms() } : { kind: 'error', message: err.code ?? err.message, ms: ms() });
    });
  });
}

/** The status, headers and body of an answer once its head has arrived; `complete` once the body has. */
export function parseResponse(data: Buffer): { status: number; headers: Record<string, string>; body: Buffer; complete: boolean } | undefined {
  // Interim answers (100 Continue) come before the final one.
  while (/^HTTP\/1\.[01] 1\d\d/.test(data.subarray(0, 12).toString('latin1'))) {
    const interim = data.indexOf('\r\n\r\n');
    if (interim < 0) return undefined;
    data = data.subarray(interim + 4);
  }
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const status = Number(m[1]);
  const rest = data.subarray(end + 4);
  if (status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0), complete: true };
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const body = dechunk(rest);
    return { status, headers, body: body?.body ?? rest, complete: body?.complete ?? false };
  }
  const length = headers['content-length'];
  if (length !== undefined) {
    const n = Number(length);
    return { status, headers, body: rest.subarray(0, n), complete: rest.length >= n };
  }
  return { status, headers, body: rest, complete: false }; // until the server closes
}

function dechunk(data: Buffer): { body: Buffer; complete: boolean } | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) return undefined;
    if (size === 0) return { body: Buffer.concat(parts), complete: true };
    if (data.length < eol + 2 + size) return { body: Buffer.concat(parts), complete: false };
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
