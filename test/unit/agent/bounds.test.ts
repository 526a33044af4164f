// Bounds on tenant-controlled text and on the bodies the agent reads: real processes with long command
// lines, a fake proc tree, and a real HTTP server on loopback that answers with endless bodies.
import { spawn } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Compile } from 'typebox/compile';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import {
  MAX_COMMAND_BYTES,
  MAX_NAME_BYTES,
  readCommandLine,
  TRUNCATION_MARK,
  truncateUtf8,
} from '../../../agent/bounds.js';
import { topProcesses } from '../../../agent/kernel/top-processes.js';
import { ControllerHttp } from '../../../agent/transport/http-client.js';
import { TopProcessSchema } from '../../../shared/wire/agent.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-bounds-'));
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

let answer: (res: ServerResponse) => void = (res) => res.end();
let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((_req, res) => answer(res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

/** Writes 64 KiB chunks until the client goes away: a body with no end. */
function endless(res: ServerResponse): void {
  const chunk = Buffer.alloc(65536, 0x61);
  res.writeHead(200, { 'content-type': 'application/json' });
  const pump = () => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump);
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
}

describe('tenant-controlled text', () => {
  it('cuts UTF-8 at a character boundary, marked, within the byte bound', () => {
    expect(truncateUtf8('short', 64)).toBe('short');
    expect(truncateUtf8('x'.repeat(64), 64)).toBe('x'.repeat(64));
    const cut = truncateUtf8('x'.repeat(65), 64);
    expect(bytes(cut)).toBe(64);
    expect(cut.endsWith(TRUNCATION_MARK)).toBe(true);
    // 3-byte and 4-byte characters are never split: the result is valid UTF-8 within the bound.
    for (const ch of ['é', '€', '😀']) {
      const t = truncateUtf8(ch.repeat(100), 64);
      expect(bytes(t)).toBeLessThanOrEqual(64);
      expect(Buffer.from(t, 'utf8').toString('utf8')).toBe(t);
      expect(t.replace(TRUNCATION_MARK, '').replaceAll(ch, '')).toBe('');
    }
  });

  it('bounds are within the wire limits, so a report is never refused for a long command line', () => {
    const maxLength = (schema: unknown) => (schema as { maxLength: number }).maxLength;
    expect(MAX_COMMAND_BYTES).toBeLessThanOrEqual(maxLength(TopProcessSchema.properties.command));
    expect(MAX_NAME_BYTES).toBeLessThanOrEqual(maxLength(TopProcessSchema.properties.user));
  });

  it('reads no more of a command line than the bound, and falls back to [comm]', () => {
    const proc = join(dir, 'proc');
    mkdirSync(join(proc, '42'), { recursive: true });
    writeFileSync(join(proc, '42', 'cmdline'), Buffer.concat([Buffer.from('php\0'), Buffer.alloc(3_000_000, 0x41), Buffer.from('\0')]));
    const line = readCommandLine(proc, 42, 'php');
    expect(line.startsWith('php AAAA')).toBe(true);
    expect(bytes(line)).toBeLessThanOrEqual(MAX_COMMAND_BYTES);
    expect(line.endsWith(TRUNCATION_MARK)).toBe(true);
    expect(readCommandLine(proc, 43, 'x'.repeat(500))).toBe(`[${truncateUtf8('x'.repeat(500), MAX_NAME_BYTES)}]`);
    writeFileSync(join(proc, '42', 'cmdline'), 'exactly\0fits\0');
    expect(readCommandLine(proc, 42, 'php')).toBe('exactly fits');
  });

  it("a tenant process with a 200 KB command line appears in the top processes bounded and valid on the wire", async () => {
    // sh keeps its arguments after -c as $0, $1...: the kernel shows all of them in /proc/PID/cmdline
    // (one argument may hold at most 128 KiB: four of 50 KB).
    const child = spawn('sh', ['-c', 'sleep 30', 'name', ...Array.from({ length: 4 }, () => 'é'.repeat(25_000))], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const rows = (await topProcesses('/proc', new Map([['t', () => [child.pid!]]]), 5, 50)).get('t')!;
      expect(rows).toHaveLength(1);
      const { command } = rows[0]!;
      expect(command.startsWith('sh -c sleep 30 name éé')).toBe(true);
      expect(bytes(command)).toBeLessThanOrEqual(MAX_COMMAND_BYTES);
      expect(Compile(TopProcessSchema).Check(rows[0])).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('bodies the agent reads (its HTTP client, agent/transport/http-client.ts)', () => {
  const log = pino({ level: 'silent' });
  const read = async (opts: { maxResponseBytes: number; truncate?: boolean }) => {
    const client = new ControllerHttp({ url, timeoutMs: 10_000 }, log);
    try {
      return await (await client.request('GET', '/', opts)).text();
    } finally {
      client.close();
    }
  };

  it('reads a body within the limit whole', async () => {
    answer = (res) => res.end('{"ok":true}');
    expect(await read({ maxResponseBytes: 100 })).toBe('{"ok":true}');
  });

  it('refuses a body announced larger than the limit without reading it', async () => {
    answer = (res) => {
      res.setHeader('content-length', 10_000_000);
      res.write('x'.repeat(1000)); // and then nothing: reading it would wait forever
    };
    await expect(read({ maxResponseBytes: 1_000_000 })).rejects.toMatchObject({ kind: 'too_large' });
  });

  it('stops reading an endless body at the limit: refused, or cut when asked', async () => {
    answer = endless;
    await expect(read({ maxResponseBytes: 1_000_000 })).rejects.toThrow(/larger than 1000000 bytes/);
    const cut = await read({ maxResponseBytes: 100_000, truncate: true });
    expect(cut.length).toBe(100_000);
  });
});
