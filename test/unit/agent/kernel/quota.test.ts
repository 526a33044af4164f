// The quota tools' text (Debian 12, quota 4.06, as seen in the VM tier's guest) and the batch the agent feeds
// setquota.
import { describe, expect, it } from 'vitest';
import { parseQuotaonState, parseRepquotaLines, setquotaBatch } from '../../../../agent/kernel/quota.js';

const REPQUOTA = `*** Report for user quotas on device /dev/vda
Block grace time: 7days; Inode grace time: 7days
                        Block limits                File limits
User            used    soft    hard  grace    used  soft  hard  grace
----------------------------------------------------------------------
#0        --      20       0       0      0       2     0     0      0
#4242     --       0       0       0      0       0     0     7      0
#1002     +-  204800  102400  204800  86400      12     3    11      0
`;

describe('the quota tools', () => {
  it('repquota -u -n -p: blocks and inodes, used soft hard, per UID', () => {
    const lines = parseRepquotaLines(REPQUOTA);
    expect([...lines.keys()]).toEqual([0, 4242, 1002]);
    expect(lines.get(4242)).toEqual({ blocks: { used: 0, soft: 0, hard: 0 }, inodes: { used: 0, soft: 0, hard: 7 } });
    expect(lines.get(1002)).toEqual({ blocks: { used: 204800, soft: 102400, hard: 204800 }, inodes: { used: 12, soft: 3, hard: 11 } });
    expect(parseRepquotaLines('repquota: Cannot stat() mounted device\n').size).toBe(0);
  });

  it('quotaon -p -u: on only when the user quota is on and not accounting alone', () => {
    expect(parseQuotaonState('user quota on /mnt/scratch (/dev/vda) is on\n')).toBe(true);
    expect(parseQuotaonState('user quota on /mnt/scratch (/dev/vda) is on (enforced)\n')).toBe(true);
    expect(parseQuotaonState('user quota on /mnt/scratch (/dev/vda) is on (accounting)\n')).toBe(false);
    expect(parseQuotaonState('user quota on /home (/dev/sda2) is off\n')).toBe(false);
    expect(parseQuotaonState('group quota on /home (/dev/sda2) is on\n')).toBe(false);
    expect(parseQuotaonState('')).toBe(false);
  });

  it('setquota -b: numeric UIDs, block limits kept, inode limits set', () => {
    expect(setquotaBatch([{ uid: 1001, blocks: { soft: 100, hard: 200 }, inodes: { soft: 0, hard: 5000 } }, { uid: 1002, blocks: { soft: 0, hard: 0 }, inodes: { soft: 1, hard: 2 } }])).toBe('1001 100 200 0 5000\n1002 0 0 1 2\n');
  });
});
