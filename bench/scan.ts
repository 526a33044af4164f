// `npm run bench -- scan`: the malware scanner (agent/malware/) over a generated tree of 50k small files, against
// `clamscan` of the same tree run directly (`clamscan -r`), in the same run, with the same small signature
// databases made here (no download, no official signatures). Prints files/s of both, the overhead ratio of the
// scanner's full pass (walk, incremental index, engine, results) and its second, incremental pass (nothing
// changed: the engine is not run). Goals: full pass within 1.25x of clamscan alone; the incremental pass at
// least 20x faster than a full one.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { MalwareConfig } from '../agent/malware/config.js';
import { MalwareService } from '../agent/malware/service.js';

export interface ScanBench {
  files: number;
  clamscanMs: number;
  fullMs: number;
  incrementalMs: number;
  found: number;
  foundDirect: number;
}

const MARKER = 'hostwarden-bench-marker-51c2';
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

export async function benchScan(opts: { files?: number; perDir?: number } = {}): Promise<ScanBench | { skipped: string }> {
  try {
    execFileSync('sh', ['-c', 'command -v clamscan'], { stdio: 'ignore' });
  } catch {
    return { skipped: 'clamscan is not installed (scripts/install-prereqs.sh)' };
  }
  const total = opts.files ?? 50_000;
  const perDir = opts.perDir ?? 500;
  const base = mkdtempSync(join(tmpdir(), 'hw-bench-scan-'));
  try {
    const tree = join(base, 'home');
    const db = join(base, 'db');
    mkdirSync(db, { recursive: true });
    writeFileSync(join(db, 'bench.hdb'), `${createHash('md5').update(EICAR).digest('hex')}:${EICAR.length}:HW.Bench.EICAR\n`);
    writeFileSync(join(db, 'bench.ndb'), `HW.Bench.Custom:0:*:${Buffer.from(MARKER).toString('hex')}\n`);
    let infected = 0;
    for (let i = 0; i < total; i++) {
      const dir = join(tree, `d${Math.floor(i / perDir)}`);
      if (i % perDir === 0) mkdirSync(dir, { recursive: true });
      // One file in 5,000 infected (half EICAR, half the custom body signature); the rest small PHP-like text.
      const bad = i % 5000 === 17;
      const body = bad ? (infected++ % 2 === 0 ? EICAR : `<?php /* ${MARKER} */ ?>\n`) : `<?php\n// file ${i}\necho "hello ${i}";\n${'x'.repeat(100 + (i % 400))}\n`;
      writeFileSync(join(dir, `f${i}.php`), body);
    }
    // Baseline: clamscan over the same tree, directly.
    const t0 = performance.now();
    const direct = spawnSync('clamscan', ['-r', '--no-summary', '--infected', '--stdout', '-d', db, tree], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const clamscanMs = performance.now() - t0;
    if (direct.status !== 0 && direct.status !== 1) throw new Error(`clamscan failed (${direct.status}): ${direct.stderr}`);
    const foundDirect = direct.stdout.split('\n').filter((l) => l.endsWith(' FOUND')).length;

    const config: MalwareConfig = {
      enabled: true,
      settings: { engine: { engine: 'clamscan', clamscan: 'clamscan', clamdscan: 'clamdscan', clamdConfig: undefined, databases: [db] }, action: 'report', placeholder: false, allowPaths: [], allowHashes: new Set() },
      intervalMs: 86_400_000,
      retentionMs: 86_400_000,
      cpuPercent: 100,
      ioReadBps: undefined,
    };
    const svc = new MalwareService({ config, stateDir: join(base, 'state'), tenants: () => [{ name: 'bench', uids: [0], homes: [tree] }], log: pino({ level: 'silent' }) });
    try {
      const target = { name: 'bench', uids: [0], homes: [tree] };
      const t1 = performance.now();
      const full = await svc.scan(target);
      const fullMs = performance.now() - t1;
      const t2 = performance.now();
      const inc = await svc.scan(target);
      const incrementalMs = performance.now() - t2;
      if (inc.sent !== 0) throw new Error(`the incremental pass sent ${inc.sent} files to the engine`);
      return { files: full.files, clamscanMs, fullMs, incrementalMs, found: full.infected.length, foundDirect };
    } finally {
      await svc.stop();
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

export function printScan(r: ScanBench | { skipped: string }): void {
  if ('skipped' in r) {
    console.log(`skipped: ${r.skipped}`);
    return;
  }
  const rate = (ms: number) => Math.round(r.files / (ms / 1000));
  console.log(`tree: ${r.files} small files; infected found: scanner ${r.found}, clamscan ${r.foundDirect}`);
  console.log(`${'case'.padEnd(34)}  seconds  files/s  x clamscan`);
  const row = (name: string, ms: number) => console.log(`${name.padEnd(34)}  ${(ms / 1000).toFixed(2).padStart(7)}  ${String(rate(ms)).padStart(7)}  ${(ms / r.clamscanMs).toFixed(2).padStart(10)}`);
  row('clamscan -r (baseline, direct)', r.clamscanMs);
  row('scanner, full pass', r.fullMs);
  row('scanner, incremental pass', r.incrementalMs);
  console.log(`goal: full pass <= 1.25x clamscan (${(r.fullMs / r.clamscanMs).toFixed(2)}x); incremental >= 20x faster than full (${(r.fullMs / r.incrementalMs).toFixed(1)}x)`);
}
