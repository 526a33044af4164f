// The shapes of the API answers the pages read: the fields they use of shared/wire/api.ts (the browser bundle
// does not import the server's schemas; these are checked against real answers by test/system/ui/).
export type Num = number | null;

export interface Pressure {
  cpu?: { some?: { avg10?: number }; full?: { avg10?: number } };
  memory?: { some?: { avg10?: number }; full?: { avg10?: number } };
  io?: { some?: { avg10?: number }; full?: { avg10?: number } };
}

export interface HostInfo {
  host: string;
  last_report_at: string | null;
  last_seen: string | null;
  agent_version: string | null;
  tenants: number;
  open_incidents: number;
  host_stats: { cores: number; memory_bytes: number; cpu_percent?: number; memory_used?: number; pressure?: Pressure } | null;
  fairness: { jain: Num; fair_share: Num; active_tenants: number } | null;
}

export interface Plan {
  cpu?: number;
  memory?: number;
  io_read?: number;
  io_write?: number;
  iops?: number;
  processes?: number;
  api?: number;
  weight?: number;
}

export interface TenantInfo {
  name: string;
  host: string | null;
  managed: boolean;
  plan: string | null;
  weight: number;
  spec: { email?: string; plan: string } | null;
  reported: { email?: string } | null;
  last_seen: string | null;
  debt: number;
  open_incidents: number;
  latest?: { at: string; values: Record<string, number> } | null;
}

export interface Series {
  unit: string;
  avg: Num[];
  max: Num[];
}
export interface SeriesResponse {
  from: string;
  to: string;
  step_seconds: number;
  source: string;
  times: string[];
  samples: number[];
  series: Record<string, Series>;
}

export interface Explanation {
  summary: string;
  rule: string;
  resource: string;
  measured: { value: number; unit: string };
  threshold: { value: number; unit: string; kind: string };
  share?: { tenant: number; fair: number; dominant: number; weight: number; factor?: number };
  window_seconds: number;
  contention: { contended: boolean; signals: Array<{ resource: string; metric: string; value: number; threshold: number }>; detail?: string };
  top_processes: Array<{ pid: number; command: string; cpu_percent: number; rss_bytes: number; user?: string }>;
  action: string;
  limits?: Record<string, string | number>;
  avoid: string;
  fairness?: { debt: number; half_life_seconds: number; text: string };
  files?: Array<{ path: string; signature?: string }>;
}

export interface IncidentSummary {
  id: number;
  host?: string;
  tenant?: string;
  resource: string;
  rule?: string;
  state: 'open' | 'released';
  step: string;
  level: number;
  manual?: boolean;
  opened_at: string;
  updated_at?: string;
  released_at: string | null;
  until: string | null;
  events?: number;
  summary: string;
  explanation?: Explanation;
}
export interface IncidentEvent {
  id: string;
  type: string;
  step: string;
  level: number;
  at: string;
  until?: string;
  manual?: { action_id: string; reason: string; by?: string };
  explanation: Explanation;
}
export interface IncidentDetail extends IncidentSummary {
  explanation: Explanation;
  history: IncidentEvent[];
}

export interface ActionStatus {
  id: string;
  tenant: string;
  host: string;
  action: string;
  level?: number;
  reason: string;
  by?: string;
  created_at: string;
  expires_at?: string;
  state: string;
  state_at: string;
  message: string | null;
}

export interface Notice {
  id: number;
  category: string;
  state: string;
  created_at: string;
  sent_at: string | null;
  recipient: string | null;
  subject: string;
  incident_id: number | null;
}

export interface FairnessRanking {
  from: string;
  to: string;
  window_seconds: number;
  half_life_seconds: number;
  hosts: Array<{ host: string; jain: { avg: Num; max: Num; last: Num }; fair_share: { avg: Num; last: Num }; active_tenants: { avg: Num; last: Num } }>;
  tenants: Array<{
    rank: number;
    tenant: string;
    host: string | null;
    plan: string | null;
    weight: number;
    debt: number;
    dominant_share: { avg: Num; max: Num };
    fair_share: Num;
    shares: { cpu: Num; memory: Num; io: Num; bandwidth: Num; inodes: Num; api: Num };
  }>;
}

export interface AuditEntry {
  id: number;
  at: string;
  who: string;
  method: string;
  path: string;
  status: number;
  ip: string | null;
  detail: string | null;
}

export interface Session {
  admin: string;
  role: 'admin' | 'viewer';
  csrf: string;
  expires_at: string;
}

/** GET /t/{token}/api/remediation: a remediation request as its tenant sees it (shared/wire/ui.ts TenantCase). */
export interface TenantCase {
  id: number;
  state: string;
  what: string;
  opened_at: string;
  deadline: string;
  acknowledged_at: string | null;
  resolved_at?: string | null;
  if_not_fixed?: string;
  can_acknowledge?: boolean;
}

/** GET /t/{token}/api/summary (UI-CONTRACT.md; shared/wire/ui.ts TenantSummary). */
export interface TenantSummary {
  tenant: string;
  plan: (Plan & { name?: string }) | null;
  contact: Record<string, unknown> | null;
  hosts: string[];
  open_incidents?: number;
  link_expires_at?: string;
}

/** GET /t/{token}/api/incidents: an incident in the tenant's words (shared/wire/ui.ts TenantIncident). */
export interface TenantIncident {
  id: number;
  resource: string;
  state: 'open' | 'released';
  step: string;
  level: number;
  manual: boolean;
  opened_at: string;
  released_at: string | null;
  until: string | null;
  summary: string;
  action: string;
  avoid: string;
  measured: { value: string; unit: string } | null;
  threshold: { value: string; unit: string; kind: string } | null;
  share: { yours: number; fair: number } | null;
  others_waiting: boolean;
  top_processes: Array<{ pid: number; command: string; cpu_percent: number; rss_bytes: number }>;
  what_to_change: string[];
}
