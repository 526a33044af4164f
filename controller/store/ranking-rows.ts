// The rows of the fairness ranking (GET /v1/fairness), shared by the SQLite and PostgreSQL stores: each store
// finds the tenants, their debt and the window's accumulators; the answer's shape is made here once.
import type { FairnessRanking } from '../../shared/wire/api.js';
import type { HostLedger } from '../fairness.js';
import { HOST_INDEX, HOST_SCALE, TENANT_INDEX as TI, TENANT_SCALE as TS } from '../history/catalog.js';
import type { Acc } from '../history/codec.js';
import { accAvg, accMax } from '../history/rollup.js';

export interface RankedTenant {
  rank: number;
  tenant: string;
  host: string | null;
  plan: string | null;
  weight: number;
  debt: number;
}

/** A tenant's row: who, its debt now, and its shares' averages over the window (`acc`). */
export function rankedTenantRow(t: RankedTenant, acc: Acc): FairnessRanking['tenants'][number] {
  return {
    ...t,
    dominant_share: { avg: accAvg(acc, TI.dominant_share, TS.dominant_share), max: accMax(acc, TI.dominant_share, TS.dominant_share) },
    fair_share: accAvg(acc, TI.fair_share, TS.fair_share),
    shares: {
      cpu: accAvg(acc, TI.share_cpu, TS.share_cpu),
      memory: accAvg(acc, TI.share_memory, TS.share_memory),
      io: accAvg(acc, TI.share_io, TS.share_io),
      bandwidth: accAvg(acc, TI.share_bandwidth, TS.share_bandwidth),
      inodes: accAvg(acc, TI.share_inodes, TS.share_inodes),
      api: accAvg(acc, TI.share_api, TS.share_api),
    },
  };
}

/** A host's row: its ledger over the window (`acc`) and in its newest report (`last`). */
export function rankedHostRow(host: string, acc: Acc, last: HostLedger | null): FairnessRanking['hosts'][number] {
  return {
    host,
    jain: { avg: accAvg(acc, HOST_INDEX.jain, HOST_SCALE.jain), max: accMax(acc, HOST_INDEX.jain, HOST_SCALE.jain), last: last?.jain ?? null },
    fair_share: { avg: accAvg(acc, HOST_INDEX.fair_share, HOST_SCALE.fair_share), last: last?.fair ?? null },
    active_tenants: { avg: accAvg(acc, HOST_INDEX.active_tenants, HOST_SCALE.active_tenants), last: last?.active ?? null },
  };
}
