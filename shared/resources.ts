// The vocabulary of DESIGN section 3: the same strings in config, wire, API and email.

export const RESOURCES = ['cpu', 'memory', 'io', 'processes', 'bandwidth', 'inodes', 'api'] as const;
export type Resource = (typeof RESOURCES)[number];

/** The unit each resource is measured in, as shown to admins and tenants. */
export const RESOURCE_UNITS: Record<Resource, string> = {
  cpu: '% of one core',
  memory: 'bytes',
  io: 'bytes/s',
  processes: 'processes',
  bandwidth: 'bytes/s',
  inodes: 'inodes',
  api: 'calls/min',
};

/** Ladder steps, in order of severity. `release` ends an incident. */
export const STEPS = ['notice', 'throttle', 'quarantine', 'release'] as const;
export type Step = (typeof STEPS)[number];

/** Pressure stall information kinds the kernel exposes (host: /proc/pressure/*, cgroup: *.pressure). */
export const PSI_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type PsiResource = (typeof PSI_RESOURCES)[number];
