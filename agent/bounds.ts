// Bounds on what the agent takes in: response bodies from the controller, and text a tenant controls
// (command lines, process and user names, file names) before it is logged or sent. One catalog, so a
// bound is changed in one place. Every string bound here is at most the matching wire limit in
// shared/wire/agent.ts (a limit in bytes of UTF-8 is never more UTF-16 code units than bytes), so a
// report is never refused for a long command line.
import { closeSync, openSync, readSync } from 'node:fs';

/** Largest policy body the agent reads (`GET /v1/hosts/{host}/policy`), after decompression. */
export const MAX_POLICY_BYTES = 8 * 1024 * 1024;
/** Largest answer to a report the agent reads; the agent keeps at most 2,000 characters of it. */
export const MAX_REPORT_ANSWER_BYTES = 64 * 1024;

/** A process's command line (wire: TopProcess.command, maxLength 4096). */
export const MAX_COMMAND_BYTES = 1024;
/** A process name, user name or other short name (wire: TopProcess.user, maxLength 64). */
export const MAX_NAME_BYTES = 64;
/** An error message that may quote tenant-controlled text (a file name in a path). */
export const MAX_MESSAGE_BYTES = 1024;
/** Marks text cut by a bound: the reader sees that more was there. */
export const TRUNCATION_MARK = '…';

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8, never inside a character; cut text ends in
 * TRUNCATION_MARK (counted in the bound). Unpaired surrogates count as the 3 bytes they encode to.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes || Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  const budget = maxBytes - Buffer.byteLength(TRUNCATION_MARK, 'utf8');
  if (budget <= 0) return '';
  let bytes = 0;
  let end = 0;
  while (end < text.length) {
    const cp = text.codePointAt(end)!;
    const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + size > budget) break;
    bytes += size;
    end += cp >= 0x10000 ? 2 : 1;
  }
  return text.slice(0, end) + TRUNCATION_MARK;
}

/** A command line as the agent logs and sends it. */
export function boundCommand(command: string): string {
  return truncateUtf8(command, MAX_COMMAND_BYTES);
}

/** A process name, user name or other short tenant-controlled name as the agent logs and sends it. */
export function boundName(name: string): string {
  return truncateUtf8(name, MAX_NAME_BYTES);
}

/** An error message that may quote a tenant's file names, as the agent logs it. */
export function boundMessage(message: string): string {
  return truncateUtf8(message, MAX_MESSAGE_BYTES);
}

/**
 * A process's command line, NULs as spaces, read no further than the bound (an argument area may hold
 * megabytes); `[comm]` for kernel threads, zombies and processes gone. The same text as procfs.ts
 * `readCmdline`, bounded.
 */
export function readCommandLine(procRoot: string, pid: number, comm: string): string {
  const fallback = `[${boundName(comm)}]`;
  let fd: number | undefined;
  try {
    fd = openSync(`${procRoot}/${pid}/cmdline`, 'r');
    // One byte past the bound tells a cut line from one that fits exactly.
    const buf = Buffer.alloc(MAX_COMMAND_BYTES + 1);
    let size = 0;
    while (size < buf.length) {
      const n = readSync(fd, buf, size, buf.length - size, null);
      if (n === 0) break;
      size += n;
    }
    const text = buf.toString('utf8', 0, size).replace(/\0+$/, '').replace(/\0/g, ' ');
    return text ? boundCommand(text) : fallback;
  } catch {
    return fallback;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A body larger than the agent reads. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`the answer is larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Read a response body as UTF-8 text, at most `limit` bytes. Past the limit (announced by Content-Length
 * or met while reading) reading stops and the rest is discarded: with `truncate` the first `limit` bytes
 * are returned, else it throws BodyTooLargeError. Fetch has already undone any content encoding, so a
 * compressed body is bounded by its decompressed size.
 */
export async function readBodyLimited(res: Response, limit: number, opts: { truncate?: boolean } = {}): Promise<{ text: string; truncated: boolean }> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  const body = res.body;
  if (!body) return { text: '', truncated: false };
  if (!opts.truncate && Number.isFinite(declared) && declared > limit && !res.headers.has('content-encoding')) {
    await body.cancel().catch(() => {});
    throw new BodyTooLargeError(limit);
  }
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > limit) {
        truncated = true;
        chunks.push(value.subarray(0, limit - size));
        size = limit;
        break;
      }
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    if (truncated) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  if (truncated && !opts.truncate) throw new BodyTooLargeError(limit);
  // A cut inside a character decodes to U+FFFD, never to an exception.
  return { text: Buffer.concat(chunks, size).toString('utf8'), truncated };
}

/** Any other answer the agent reads (an error text, a report's acknowledgement): cut at MAX_REPORT_ANSWER_BYTES; '' if unreadable. */
export async function readAnswerText(res: Response): Promise<string> {
  try {
    return (await readBodyLimited(res, MAX_REPORT_ANSWER_BYTES, { truncate: true })).text;
  } catch {
    return '';
  }
}
