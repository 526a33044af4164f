// WAL checkpoints on a thread of their own. A checkpoint copies the write-ahead log into the database file and
// fsyncs it: on the main thread that stalls every request behind a disk flush (tens of ms on a busy disk), so
// the store turns automatic checkpoints down to a backstop and this worker runs PASSIVE checkpoints (they
// never block the writer) on its own connection a few times a second.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 100');
let stopping = false;
let timer;
function checkpoint() {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    if (err.code !== 'SQLITE_BUSY') parentPort.postMessage({ type: 'error', message: err.message });
  }
}
function tick() {
  checkpoint();
  if (!stopping) timer = setTimeout(tick, workerData.everyMs);
}
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopping = true;
  clearTimeout(timer);
  checkpoint();
  db.close();
  parentPort.postMessage({ type: 'stopped' });
});
tick();
`;

export class Checkpointer {
  private readonly worker: Worker;
  private stopped: Promise<void> | undefined;

  constructor(file: string, opts: { everyMs?: number; onError?: (message: string) => void } = {}) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file, driver, everyMs: opts.everyMs ?? 250 } });
    this.worker.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'error') opts.onError?.(m.message ?? 'checkpoint failed');
    });
    this.worker.on('error', (err) => opts.onError?.(err.message));
    this.worker.unref();
  }

  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      // Keep the process alive until the last checkpoint is done (the worker is unref'd while it runs).
      this.worker.ref();
      const done = () => resolve();
      this.worker.once('exit', done);
      this.worker.on('message', (m: { type: string }) => {
        if (m.type === 'stopped') void this.worker.terminate().then(done, done);
      });
      this.worker.postMessage('stop');
      setTimeout(() => void this.worker.terminate().then(done, done), 5000).unref();
    });
    return this.stopped;
  }
}
