// The neighbours bench's load generator, run in the distro guest with the packaged Node.js runtime
// (/usr/lib/hostwarden/node/bin/node; no npm module, nothing to install). Requests go to nginx on 127.0.0.1:80
// with a Host header; one JSON line on stdout at the end.
//
//   node load.mjs steady HOST PATH RATE SECONDS    open loop: a request every 1/RATE s whatever the answers
//                                                  (no coordinated omission); latency of each, p50/p95/p99
//   node load.mjs hammer HOST PATH CLIENTS SECONDS CLIENTS closed loops, each sending its next request when
//                                                  the last one answered; requests done, errors
// A request that fails, answers other than 200 or takes more than 10 s is an error (its latency is not counted).
import http from 'node:http';

const [mode, host, path, nStr, secondsStr] = process.argv.slice(2);
const n = Number(nStr);
const seconds = Number(secondsStr);
if (!['steady', 'hammer'].includes(mode) || !host || !path || !(n > 0) || !(seconds > 0)) {
  console.error('usage: load.mjs steady|hammer HOST PATH RATE|CLIENTS SECONDS');
  process.exit(2);
}
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

function request() {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port: Number(process.env.HW_LOAD_PORT ?? 80), path, headers: { Host: host }, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ ok: res.statusCode === 200, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
      res.on('error', () => resolve({ ok: false, ms: 0 }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ ok: false, ms: 0 }));
  });
}

function pct(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const end = Date.now() + seconds * 1000;
if (mode === 'steady') {
  const pending = [];
  const interval = 1000 / n;
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    const at = t0 + i * interval;
    if (at >= end) break;
    const wait = at - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(request());
  }
  const results = await Promise.all(pending);
  const ms = results.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
  const errors = results.length - ms.length;
  const round = (v) => (v === null ? null : Math.round(v * 10) / 10);
  console.log(JSON.stringify({ mode, host, requests: results.length, errors, error_rate: errors / results.length, p50: round(pct(ms, 50)), p95: round(pct(ms, 95)), p99: round(pct(ms, 99)), max: round(ms.at(-1) ?? null) }));
} else {
  let done = 0;
  let errors = 0;
  const client = async () => {
    while (Date.now() < end) {
      const r = await request();
      if (r.ok) done++;
      else errors++;
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: n }, client));
  const elapsed = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ mode, host, clients: n, requests: done, errors, per_second: Math.round((done / elapsed) * 100) / 100 }));
}
agent.destroy();
