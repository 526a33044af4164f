// The limits of one tenant cgroup, as the policy decides them and the cgroup layer writes them. This file is
// the whole vocabulary the two share: the policy (agent/policy/, its own TypeScript project) may import this
// and nothing of the kernel layer, so a decision can never reach for a driver.

/** Per-device IO limits, by major:minor. Absent fields mean "max". */
export interface IoDeviceLimit {
  major: number;
  minor: number;
  /** Read bytes per second. */
  rbps?: number;
  /** Write bytes per second. */
  wbps?: number;
  /** Read operations per second. */
  riops?: number;
  /** Write operations per second. */
  wiops?: number;
}

/**
 * Limits of one tenant cgroup. For every field: `undefined` = leave as is, `null` = no limit ("max").
 * cpuWeight is in v2 units (1..10000, default 100); the v1 backend maps it to cpu.shares (weight*1024/100).
 */
export interface Limits {
  /** Percent of one core (100 = one core). */
  cpuPercent?: number | null;
  cpuWeight?: number | null;
  /** Bytes. */
  memoryHigh?: number | null;
  /** Bytes. */
  memoryMax?: number | null;
  /** The complete set of device limits (devices not listed are set back to max). */
  io?: IoDeviceLimit[] | null;
  pidsMax?: number | null;
}
