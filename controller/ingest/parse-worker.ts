// Worker thread entry: parse and validate report bodies (prepare.ts), send the result back with its typed
// arrays transferred.
import { parentPort } from 'node:worker_threads';
import { prepareReport } from './prepare.js';

if (!parentPort) throw new Error('parse-worker.js runs only as a worker thread');
const port = parentPort;
port.on('message', (msg: { id: number; body: Uint8Array }) => {
  let result;
  try {
    result = prepareReport(msg.body);
  } catch (err) {
    result = { ok: false as const, message: `cannot read report: ${(err as Error).message}` };
  }
  if (result.ok) port.postMessage({ id: msg.id, result }, [result.report.values.buffer as ArrayBuffer, result.report.hostValues.buffer as ArrayBuffer]);
  else port.postMessage({ id: msg.id, result });
});
