// API answers as the controller sends them (checked against shared/wire/api.ts in render.test.ts), for
// rendering tests with a fixed clock and width.
import type { ActionStatus, FairnessRanking, HostDetail, HostInfo, IncidentDetail, PlanEntry, SeriesResponse, TenantDetail, TenantInfo } from '../../../shared/wire/api.js';
import type { Explanation } from '../../../shared/wire/agent.js';

export const NOW = Date.parse('2025-01-31T12:00:00Z');
export const GiB = 1024 ** 3;
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();
const MIN = 60_000;
const HOUR = 3_600_000;

export const HOSTS: HostInfo[] = [
  {
    host: 'web01',
    first_seen: at(30 * 86_400_000),
    last_seen: at(5_000),
    last_report_at: at(5_000),
    last_seq: 4242,
    agent_version: '0.1.0',
    tenants: 120,
    open_incidents: 2,
    host_stats: {
      cores: 8,
      memory_bytes: 32 * GiB,
      cpu_percent: 412.5,
      memory_used: 20 * GiB,
      pressure: { cpu: { some: { avg10: 31.2, avg60: 20, avg300: 10, total: 1 } }, io: { some: { avg10: 2.5, avg60: 1, avg300: 1, total: 1 }, full: { avg10: 1, avg60: 1, avg300: 1, total: 1 } } },
    },
    collectors: [
      { name: 'cpu', ok: true, duration_ms: 0.42 },
      { name: 'bandwidth', ok: false, error: 'nft: command not found', duration_ms: 3.1 },
      { name: 'inodes', ok: true, no_data: true, duration_ms: 0 },
    ],
    fairness: { jain: 0.6712, fair_share: 0.05, active_tenants: 20 },
  },
  {
    host: 'web02',
    first_seen: at(2 * HOUR),
    last_seen: null,
    last_report_at: null,
    last_seq: null,
    agent_version: null,
    tenants: 1,
    open_incidents: 0,
    host_stats: null,
    collectors: null,
    fairness: null,
  },
];

const tenantInfo: TenantInfo = {
  name: 'alice',
  host: 'web01',
  managed: true,
  plan: 'basic',
  weight: 1,
  spec: { name: 'alice', users: ['alice', 1001], email: 'alice@example.com', plan: 'basic', host: 'web01', domains: ['alice.example'] },
  reported: { name: 'alice', plan: 'basic', uids: [1001], source: 'controller' },
  first_seen: at(7 * 86_400_000),
  last_seen: at(5_000),
  debt: 0.1254,
  open_incidents: 1,
};

/** GET /v1/hosts/web01: the host with the inventory its agent reported an hour ago. */
export const HOST_DETAIL: HostDetail = {
  ...HOSTS[0]!,
  inventory: {
    gathered_at: at(HOUR + 3_000),
    reported_at: at(HOUR),
    os: { distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm', kernel: '6.1.0-18-amd64', arch: 'x64' },
    cpu: { model: 'AMD EPYC 7302', cores: 16, threads: 32 },
    memory_bytes: 64 * GiB,
    disks: [
      { device: '/dev/nvme0n1', size_bytes: 3_840_755_982_336, type: 'NVMe', model: 'SAMSUNG MZQL23T8HCLS' },
      { device: '/dev/sda', size_bytes: 4000 * GiB, type: 'HD' },
    ],
    filesystems: [{ mount: '/home', fs_type: 'xfs', size_bytes: 3500 * GiB }],
    nics: [{ name: 'eno1', speed_mbps: 10000, virtual: false }, { name: 'eno2', speed_mbps: 100 }, { name: 'br0', virtual: true }],
  },
};

export const TENANTS: { tenants: TenantInfo[]; total: number } = {
  tenants: [
    tenantInfo,
    { name: 'bob', host: 'web01', managed: false, plan: null, weight: 1, spec: null, reported: { name: 'bob', uids: [1002], source: 'discovered' }, first_seen: at(HOUR), last_seen: at(3 * MIN), debt: -0.05, open_incidents: 0 },
  ],
  total: 5,
};

export const TENANT: TenantDetail = {
  ...tenantInfo,
  latest: {
    at: at(5_000),
    values: { cpu_percent: 187.5, memory_current: 1.5 * GiB, memory_anon: GiB, memory_file: 0.5 * GiB, io_read_bps: 2 * 1024 ** 2, io_write_bps: 512 * 1024, io_read_iops: 12, io_write_iops: 5.5, processes: 17, dominant_share: 0.234, fair_share: 0.05, throttle_level: 1 },
  },
};

export const PLANS: PlanEntry[] = [
  { name: 'basic', plan: { cpu: 100, memory: GiB, io_read: 10 * 1024 ** 2, iops: 1000, processes: 100, weight: 1 }, updated_at: at(2 * 86_400_000), tenants: 12 },
  { name: 'pro', plan: { cpu: 400, weight: 4 }, updated_at: at(HOUR), tenants: 0 },
];

/** Four hours of hourly points; the third hour has no samples (a gap the chart shows). */
export const USAGE: SeriesResponse = {
  tenant: 'alice',
  host: 'web01',
  from: at(4 * HOUR),
  to: at(0),
  step_seconds: 3600,
  source: 'hour',
  times: [at(4 * HOUR), at(3 * HOUR), at(HOUR)],
  samples: [720, 720, 360],
  series: {
    cpu_percent: { unit: '% of one core', avg: [50, 187.5, 300], max: [80, 250, 390] },
    memory_current: { unit: 'bytes', avg: [GiB, 1.5 * GiB, 2 * GiB], max: [GiB, 1.75 * GiB, 2 * GiB] },
    io_read_bps: { unit: 'bytes/s', avg: [1024 ** 2, null, 0], max: [1024 ** 2, null, 0] },
    io_write_bps: { unit: 'bytes/s', avg: [0, null, 0], max: [0, null, 0] },
    processes: { unit: 'tasks', avg: [10, 12, 17], max: [11, 14, 17] },
    bandwidth_tx_bps: { unit: 'bytes/s', avg: [null, null, null], max: [null, null, null] },
    throttle_level: { unit: 'level', avg: [0, 0.5, 1], max: [0, 1, 1] },
  },
};

export const FAIRNESS: FairnessRanking = {
  from: at(HOUR),
  to: at(0),
  window_seconds: 3600,
  half_life_seconds: 86_400,
  hosts: [{ host: 'web01', jain: { avg: 0.7, max: 0.95, last: 0.6712 }, fair_share: { avg: 0.05, last: 0.05 }, active_tenants: { avg: 19.5, last: 20 } }],
  tenants: [
    { rank: 1, tenant: 'alice', host: 'web01', plan: 'basic', weight: 1, debt: 0.1254, dominant_share: { avg: 0.234, max: 0.41 }, fair_share: 0.05, shares: { cpu: 0.234, memory: 0.047, io: null, bandwidth: 0.4, inodes: 0.3, api: 0.5 } },
    { rank: 2, tenant: 'bob', host: 'web01', plan: null, weight: 1, debt: -0.05, dominant_share: { avg: 0.01, max: 0.02 }, fair_share: 0.05, shares: { cpu: 0.01, memory: 0.002, io: null, bandwidth: null, inodes: 0.1, api: null } },
  ],
};

export const EXPLANATION: Explanation = {
  summary:
    "alice used 375% of one core over the last 30s, 62% of the server's cpu use, against a fair share of 25% (x2 allowed = 50%), while the server was contended: cpu pressure 42.5% (threshold 20%).",
  rule: 'cpu-fair-share',
  resource: 'cpu',
  measured: { value: 375, unit: '% of one core' },
  threshold: { value: 150, unit: '% of one core', kind: 'fair_share' },
  share: { tenant: 0.62, fair: 0.25, dominant: 0.62, weight: 1, factor: 2 },
  window_seconds: 30,
  contention: { contended: true, signals: [{ resource: 'cpu', metric: 'psi_some_avg10', value: 42.5, threshold: 20 }] },
  top_processes: [
    { pid: 4242, command: 'php-fpm: pool alice', cpu_percent: 180, rss_bytes: 100 * 1024 ** 2, user: 'alice' },
    { pid: 4243, command: '/usr/bin/php /home/alice/public_html/wp-cron.php', cpu_percent: 150.5, rss_bytes: 50 * 1024 ** 2 },
  ],
  action: 'Throttled (level 1): cpu limited to 187.5% of one core, and its scheduling weight lowered.',
  limits: { cpu_percent: 187.5 },
  avoid: 'Keeping cpu use below about 150% of one core (your fair share x2) while the server is busy would have avoided this.',
};

export const INCIDENT: IncidentDetail = {
  id: 7,
  host: 'web01',
  agent_incident: 'web01:cpu:alice:1',
  tenant: 'alice',
  resource: 'cpu',
  rule: 'cpu-fair-share',
  state: 'open',
  step: 'throttle',
  level: 1,
  manual: false,
  opened_at: at(2 * HOUR),
  updated_at: at(HOUR),
  released_at: null,
  until: at(-30 * MIN),
  events: 2,
  summary: EXPLANATION.summary,
  explanation: EXPLANATION,
  history: [
    {
      id: 'e1',
      incident: 'web01:cpu:alice:1',
      tenant: 'alice',
      resource: 'cpu',
      rule: 'cpu-fair-share',
      type: 'opened',
      step: 'notice',
      level: 0,
      at: at(2 * HOUR),
      explanation: { ...EXPLANATION, summary: 'alice used 375% of one core while the server was contended.', action: 'Notice only.' },
      host: 'web01',
      received_at: at(2 * HOUR - 5000),
    },
    {
      id: 'e2',
      incident: 'web01:cpu:alice:1',
      tenant: 'alice',
      resource: 'cpu',
      rule: 'cpu-fair-share',
      type: 'escalated',
      step: 'throttle',
      level: 1,
      at: at(HOUR),
      until: at(-30 * MIN),
      explanation: EXPLANATION,
      host: 'web01',
      received_at: at(HOUR - 5000),
    },
  ],
};

export const MANUAL_INCIDENT: IncidentDetail = {
  ...INCIDENT,
  id: 8,
  rule: 'manual',
  manual: true,
  state: 'released',
  released_at: at(10 * MIN),
  explanation: {
    summary: 'An administrator applied "throttle level 1" to alice: abuse ticket 4711',
    rule: 'manual',
    resource: 'cpu',
    measured: { value: 0, unit: 'manual' },
    threshold: { value: 0, unit: 'manual', kind: 'manual' },
    window_seconds: 0,
    contention: { contended: false, signals: [] },
    top_processes: [],
    action: 'throttle level 1',
    avoid: 'Contact support to discuss this action; the reason above says what prompted it.',
  },
  history: [{ ...INCIDENT.history[1]!, rule: 'manual', manual: { action_id: 'a1', reason: 'abuse ticket 4711', by: 'admin' } }],
};

export const ACTIONS: ActionStatus[] = [
  {
    id: '5cac64da-a7b7-42a2-a0d6-8e8c45ce517e',
    tenant: 'alice',
    action: 'throttle',
    level: 2,
    reason: 'abuse ticket 4711: the wp-cron job loops',
    by: 'admin',
    created_at: at(MIN),
    expires_at: at(-2 * HOUR + MIN),
    host: 'web01',
    state: 'applied',
    state_at: at(30_000),
    message: null,
  },
  {
    id: '01db9eca-69cf-4faa-b1b5-96148a35219a',
    tenant: 'bob',
    action: 'quarantine',
    reason: 'malware found',
    by: 'ops',
    created_at: at(HOUR),
    host: 'web01',
    state: 'failed',
    state_at: at(HOUR - MIN),
    message: 'cgroup.freeze: no such file',
  },
];
