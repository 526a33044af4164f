// `npm run bench`: every benchmark, each printing its numbers beside a baseline measured in the same run.
// Speed is measured here, never asserted in tests. `npm run bench -- sampling evaluate` runs a subset;
// `neighbours` (a Debian guest under qemu) and `fleet` (5 minutes of 1,000 simulated hosts against two
// controllers on PostgreSQL) run only when named.
import { benchAgent, printAgent } from './agent.js';
import { benchCtl, printCtl } from './ctl.js';
import { benchEvaluate, printEvaluate } from './evaluate.js';
import { benchFleet, printFleet } from './fleet.js';
import { benchHistory, printHistory } from './history.js';
import { benchIngest, printIngest } from './ingest.js';
import { benchLogs, printLogs } from './logs.js';
import { benchMetrics, printMetrics } from './metrics.js';
import { benchNeighbours, printNeighbours } from './neighbours.js';
import { benchNotices, printNotices } from './notices.js';
import { benchSampling, printSampling } from './sampling.js';
import { benchScan, printScan } from './scan.js';
import { benchUi, printUi } from './ui.js';

const BENCHES: Record<string, () => Promise<void>> = {
  sampling: async () => printSampling(await benchSampling()),
  evaluate: async () => printEvaluate(benchEvaluate(3000, 100)),
  ingest: async () => printIngest(await benchIngest()),
  history: async () => printHistory(await benchHistory()),
  notices: async () => printNotices(await benchNotices()),
  ctl: async () => printCtl(await benchCtl()),
  agent: async () => printAgent(await benchAgent({ log: (l) => console.log(l) })),
  scan: async () => printScan(await benchScan()),
  logs: async () => printLogs(await benchLogs()),
  ui: async () => printUi(await benchUi()),
  metrics: async () => printMetrics(await benchMetrics()),
  fleet: async () => printFleet(await benchFleet()),
  neighbours: async () => printNeighbours(await benchNeighbours()),
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !BENCHES[w]);
if (unknown.length > 0) {
  console.error(`unknown bench(es): ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
// Run only when named: neighbours boots the distro tier's guest (root, qemu, 10-20 minutes); fleet takes 5
// minutes of the whole machine.
const ON_REQUEST = new Set(['neighbours', 'fleet']);
for (const name of wanted.length > 0 ? wanted : Object.keys(BENCHES).filter((b) => !ON_REQUEST.has(b))) {
  console.log(`\n== ${name} ==`);
  await BENCHES[name]!();
}
