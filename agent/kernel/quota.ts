// Linux disk quotas through Debian's quota tools (package `quota`): `quotaon -p` (is a quota enforced),
// `repquota` (what each UID uses and its limits), `setquota -b` (new limits, one run per filesystem). The
// parsers are pure and tested on the tools' text; the runners are thin.
import { spawnSync } from 'node:child_process';

export interface QuotaLimits {
  used: number;
  soft: number;
  hard: number;
}

/** One UID's line of `repquota -u -n -p`: blocks (KiB) and inodes, each used, soft and hard (0 = none). */
export interface QuotaLine {
  blocks: QuotaLimits;
  inodes: QuotaLimits;
}

// "#1001     --     1234       0       0       0     56     0     0       0": UID, flags (+/- for blocks and
// inodes over their soft limit), then used soft hard grace for blocks and for inodes (-p: grace in seconds).
const LINE_RE = /^#(\d+)\s+[-+]{2}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/;

/** Every UID's line of `repquota -u -n -p <mount>` output. */
export function parseRepquotaLines(text: string): Map<number, QuotaLine> {
  const out = new Map<number, QuotaLine>();
  for (const line of text.split('\n')) {
    const m = LINE_RE.exec(line.trim());
    if (!m) continue;
    const n = m.slice(1).map(Number);
    out.set(n[0]!, { blocks: { used: n[1]!, soft: n[2]!, hard: n[3]! }, inodes: { used: n[5]!, soft: n[6]!, hard: n[7]! } });
  }
  return out;
}

/**
 * Whether `quotaon -p -u <mount>` says the user quota is enforced: "user quota on /home (/dev/sda2) is on".
 * Newer tools say "is on (enforced)" or "is on (accounting)": accounting alone counts but holds nobody.
 */
export function parseQuotaonState(text: string): boolean {
  return text.split('\n').some((l) => /^user quota on .* is on\b/.test(l.trim()) && !/\(accounting\)/.test(l));
}

/** One line of `setquota -b` input: UID, then block soft and hard (KiB) and inode soft and hard. */
export interface QuotaSet {
  uid: number;
  blocks: { soft: number; hard: number };
  inodes: { soft: number; hard: number };
}

/**
 * The stdin of `setquota -u -b <mount>`: "UID bsoft bhard isoft ihard" a line. The batch takes a UID as a
 * number (seen on Debian 12's quota 4.06: a "#1001" line, as repquota -n writes them, is silently skipped).
 */
export function setquotaBatch(sets: readonly QuotaSet[]): string {
  return sets.map((s) => `${s.uid} ${s.blocks.soft} ${s.blocks.hard} ${s.inodes.soft} ${s.inodes.hard}\n`).join('');
}

/** How the agent runs the quota tools (tests pass their own). */
export interface QuotaTools {
  /** The user quota of `mount` is on and enforced. */
  enforced(mount: string): boolean;
  /** Every UID's usage and limits on `mount`; undefined when the filesystem keeps no user quota. */
  report(mount: string): Map<number, QuotaLine> | undefined;
  /** Set limits on `mount`; throws what the tool said when it fails. */
  set(mount: string, sets: readonly QuotaSet[]): void;
}

const TIMEOUT_MS = 60_000;

export const quotaTools: QuotaTools = {
  enforced(mount) {
    const r = spawnSync('quotaon', ['-p', '-u', mount], { encoding: 'utf8', timeout: TIMEOUT_MS });
    return !r.error && parseQuotaonState(`${r.stdout ?? ''}`);
  },
  report(mount) {
    const r = spawnSync('repquota', ['-u', '-n', '-p', mount], { encoding: 'utf8', timeout: TIMEOUT_MS });
    return r.error || r.status !== 0 ? undefined : parseRepquotaLines(r.stdout ?? '');
  },
  set(mount, sets) {
    if (sets.length === 0) return;
    const r = spawnSync('setquota', ['-u', '-b', mount], { input: setquotaBatch(sets), encoding: 'utf8', timeout: TIMEOUT_MS });
    if (r.error) throw new Error(`setquota on ${mount}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`setquota on ${mount} exited ${r.status}: ${(r.stderr ?? '').trim().slice(0, 500)}`);
  },
};
