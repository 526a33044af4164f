// Bounds on what the agent takes in: response bodies from the controller (read by transport/http-client.ts
// within these), and text a tenant controls
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
 * megabytes); `[comm]` for kernel threads, zombies and processes gone.
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
