// What a tenant can change, per resource: the usual causes on shared web hosting and their cures. Shown in
// every notice after the explanation's own "what would have avoided it".
import type { Resource } from '../../shared/resources.js';

export const REMEDIATION_HINTS: Readonly<Record<Resource, readonly string[]>> = {
  cpu: [
    'Heavy cron jobs: run them less often or outside busy hours, and make sure two runs never overlap (use flock or a lock file).',
    'Runaway PHP workers: look for scripts stuck in loops or running far longer than a page view should; set max_execution_time.',
    'Search-engine and scraper bots hammering dynamic pages: slow them down in robots.txt (Crawl-delay) or block abusive ones.',
    'Enable caching (a page cache plugin, OPcache, an object cache) so that pages are not rebuilt on every request.',
    'Outdated plugins and themes often burn CPU or are compromised; update them and remove the ones you do not use.',
  ],
  memory: [
    'Leaking PHP workers: let PHP-FPM recycle them (pm.max_requests) so that a slow leak cannot grow without bound.',
    'An oversized PHP memory_limit lets one request take hundreds of MB: set it to what your application really needs.',
    'Too many PHP-FPM children: lower pm.max_children; each child holds its own memory.',
    'Large imports, exports or image processing: split them into smaller batches.',
  ],
  io: [
    'Backups and archive jobs during peak hours: schedule them at night and throttle them (nice, ionice).',
    'Log files growing without limit: rotate and compress them, and turn off debug logging in production.',
    'Databases without indexes read whole tables for every query: add indexes for slow queries (see the slow query log).',
    'Cache directories with millions of small files: clear them regularly.',
  ],
  processes: [
    'Fork bombs or scripts that start copies of themselves without limit: check what started the processes listed above.',
    'Stuck cron jobs piling up: a job that takes longer than its interval starts again before the last run ends; use a lock (flock).',
    'Background workers or queue consumers started more than once: run one instance under a process manager.',
  ],
  bandwidth: [
    'Large downloads served directly: move them to a CDN or object storage.',
    'Hotlinking of your images or files by other sites: block it with referrer rules.',
    'Bots mirroring your site: slow them down in robots.txt or block them.',
  ],
  inodes: [
    'Cache and session directories with millions of small files: clean them regularly (session garbage collection, cache purges).',
    'Old backups, logs and mail stored in your account: delete or archive them elsewhere.',
  ],
  api: [
    'Clients polling the API in tight loops: add back-off and cache answers.',
    'Leaked API keys used by others: rotate your keys.',
  ],
};

/** Hints of an administrator's action that covers every resource. */
export const MANUAL_HINTS: readonly string[] = [
  'Read the reason above; it says what prompted the action. Fix that, then reply to this email so that the action can be lifted.',
];

/** What a tenant can do about infected files (rule infected): the notice's summary lists them. */
export const INFECTED_HINTS: readonly string[] = [
  'Update the applications, themes and plugins of your sites: most infections come in through an outdated one.',
  'Change the passwords of your account, FTP, databases and site administrators.',
  'Look for other files changed at the same time as the ones listed, and restore your sites from a clean backup if in doubt.',
  'If a file listed is harmless (a false positive), reply to this message: an administrator can restore it exactly as it was.',
];
