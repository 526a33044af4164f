// Where report bodies are parsed and validated: inline on the main thread, or in a pool of worker threads so
// JSON parsing (the largest cost of ingest) runs beside the HTTP handling and the SQLite writes. The result's
// typed arrays are transferred back, not copied.
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { prepareReport, type PrepareResult } from './prepare.js';

export interface ReportParser {
  readonly threads: number;
  /** Parse a body; it may be handed to another thread (do not use `body` after the call). */
  parse(body: Uint8Array): Promise<PrepareResult>;
  close(): Promise<void>;
}

export class InlineParser implements ReportParser {
  readonly threads = 0;
  async parse(body: Uint8Array): Promise<PrepareResult> {
    return prepareReport(body);
  }
  async close(): Promise<void> {}
}

interface Pending {
  resolve: (r: PrepareResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** The compiled worker script next to this module (dist/controller/ingest/parse-worker.js). */
export function defaultWorkerFile(): string {
  return fileURLToPath(new URL('./parse-worker.js', import.meta.url));
}

export class WorkerParser implements ReportParser {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closing = false;

  constructor(
    readonly threads: number,
    private readonly file = defaultWorkerFile(),
  ) {
    if (!existsSync(file)) throw new Error(`report parser worker ${file} is missing (build with tsc -b, or set ingest.parser_threads: 0)`);
    for (let i = 0; i < threads; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const slot: Slot = { worker: new Worker(this.file), pending: new Map() };
    slot.worker.on('message', (msg: { id: number; result: PrepareResult }) => {
      const p = slot.pending.get(msg.id);
      if (!p) return;
      slot.pending.delete(msg.id);
      p.resolve(msg.result);
    });
    const fail = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      if (this.closing) return;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots[i] = this.spawn();
    };
    slot.worker.on('error', (err) => fail(err));
    slot.worker.on('exit', (code) => fail(new Error(`report parser worker exited with code ${code}`)));
    slot.worker.unref();
    return slot;
  }

  parse(body: Uint8Array): Promise<PrepareResult> {
    if (this.closing) return Promise.reject(new Error('report parser is closed'));
    // The least busy worker.
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.nextId++;
    return new Promise<PrepareResult>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      // A body that owns its whole ArrayBuffer (not a slice of Node's buffer pool) moves to the worker
      // without a copy; the caller must not read it afterwards.
      const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
      slot.worker.postMessage({ id, body }, own ? [body.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map((s) => {
        s.worker.ref();
        return s.worker.terminate();
      }),
    );
  }
}

export function createReportParser(threads: number, workerFile?: string): ReportParser {
  return threads > 0 ? new WorkerParser(threads, workerFile) : new InlineParser();
}
