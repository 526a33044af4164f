// The `remediation:` section of controller.yaml and the top-level `public_url` the tenants' links are built
// from. Every key has a default; bad values are ConfigErrors naming the key.
import cron from 'node-cron';
import type { Section } from '../../shared/config.js';
import { MAX_SECONDS } from '../../shared/wire/bounds.js';
import type { CaseStep } from '../../shared/wire/remediation.js';

export interface RemediationConfig {
  /** Deadline of a case opened without one (and of every automatic case). */
  deadlineMs: number;
  /** The reminder goes out this long before the deadline; 0 = no reminder. */
  reminderBeforeMs: number;
  /** How long a tenant's acknowledgement link stays valid (from the notice that carries it). */
  linkTtlMs: number;
  /** What applies when a case is overdue, unless its opener chose otherwise. */
  overdueStep: CaseStep;
  /** How long the overdue step's manual action lasts at most (it is lifted when the case is resolved). */
  stepTtlMs: number;
  /** Cron expression of the overdue job (seconds allowed as a sixth leading field). */
  schedule: string;
  /** The controller opens a case after `incidents` incidents of one rule for a tenant within `window`. */
  auto: { enabled: boolean; incidents: number; windowMs: number; what: string };
}

export const DEFAULT_AUTO_WHAT =
  'Our monitoring recorded {count} incidents of the rule "{rule}" for your account within {window}. Please find and fix the cause (a runaway script, a cron job, a bot, a plugin); the incidents and the processes they named are listed below.';

export const REMEDIATION_CONFIG_REFERENCE = `# public_url: https://ctl.example.com:8640  # base of the links in tenants' notices (remediation acknowledgements); absent: no link
remediation:
  deadline: 7d                               # deadline of a case opened without one (and of automatic cases)
  reminder_before: 1d                        # a reminder this long before the deadline (0: none)
  link_ttl: 30d                              # how long an acknowledgement link stays valid
  overdue_step: { action: throttle, level: 1 }   # applied when a case is overdue: throttle (level 1|2), quarantine, none
  step_ttl: 3650d                            # the overdue step's manual action lasts at most this (lifted on resolve)
  schedule: "* * * * *"                      # cron expression of the overdue job (reminders, overdue, steps)
  auto:
    enabled: false                           # open a case after repeated incidents of one rule
    incidents: 3                             # ... this many incidents of one rule for one tenant
    window: 7d                               # ... opened within this window (each case counts only later ones)
    # what: "..."                            # the case's text ({count}, {rule}, {window} replaced); default: asks to find
                                             # and fix the cause (a runaway script, a cron job, a bot, a plugin)
`;

export function parseStep(s: Section, def: CaseStep): CaseStep {
  const action = s.oneOf('action', ['throttle', 'quarantine', 'none'] as const, def.action);
  const level = s.number('level', undefined, { min: 1, max: 2, integer: true });
  if (level !== undefined && action !== 'throttle') s.fail('level', 'only a throttle has a level');
  s.done();
  return action === 'throttle' ? { action, level: level ?? def.level ?? 1 } : { action };
}

export function parsePublicUrl(root: Section): string | undefined {
  const url = root.string('public_url');
  if (url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    root.fail('public_url', `not a URL: "${url}" (e.g. https://ctl.example.com:8640)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') root.fail('public_url', `must start with http:// or https://, got "${url}"`);
  if (parsed.search || parsed.hash || parsed.username || parsed.password) root.fail('public_url', 'must have no query, fragment or login');
  return url.replace(/\/+$/, '');
}

export function parseRemediationConfig(s: Section): RemediationConfig {
  const max = { min: 1000 };
  const deadlineMs = s.duration('deadline', '7d', max);
  const reminderBeforeMs = s.duration('reminder_before', '1d', { min: 0 });
  const linkTtlMs = s.duration('link_ttl', '30d', { min: 60_000 });
  const overdueStep = parseStep(s.section('overdue_step'), { action: 'throttle', level: 1 });
  const stepTtlMs = s.duration('step_ttl', '3650d', { min: 60_000 });
  for (const [key, ms] of [['deadline', deadlineMs], ['step_ttl', stepTtlMs], ['link_ttl', linkTtlMs]] as const) {
    if (ms > MAX_SECONDS * 1000) s.fail(key, `must be at most ${MAX_SECONDS / 86_400}d`);
  }
  const schedule = s.string('schedule', '* * * * *');
  if (!cron.validate(schedule)) s.fail('schedule', `not a valid cron expression: "${schedule}" (e.g. "* * * * *")`);
  const a = s.section('auto');
  const auto = {
    enabled: a.boolean('enabled', false),
    incidents: a.number('incidents', 3, { min: 1, max: 10_000, integer: true }),
    windowMs: a.duration('window', '7d', { min: 60_000 }),
    what: a.string('what', DEFAULT_AUTO_WHAT),
  };
  if (auto.what.length < 1 || auto.what.length > 4000) a.fail('what', 'must be 1 to 4000 characters');
  a.done();
  s.done();
  return { deadlineMs, reminderBeforeMs, linkTtlMs, overdueStep, stepTtlMs, schedule, auto };
}
