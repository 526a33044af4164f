// The NoticeTx over preloaded rows (controller/store/notice-snapshot.ts) a store with an asynchronous driver hands
// to synchronous callbacks: it answers from what was loaded plus its own writes, and refuses loudly what was not
// loaded (a store bug rolled back, never a silent "none").
import { describe, expect, it } from 'vitest';
import { capSlotKey } from '../../../../controller/store/notice-keys.js';
import { capWaitingKey, SnapshotNoticeTx } from '../../../../controller/store/notice-snapshot.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);

describe('SnapshotNoticeTx', () => {
  it('answers from the loaded rows and its own writes', () => {
    const tx = new SnapshotNoticeTx({
      contacts: new Map([['alice', { address: 'alice@example.com', optedOut: false }]]),
      levels: new Map([[7, 2]]),
      marks: new Map([['digest\u001falice', T0 - 1000]]),
      capSlots: new Map([
        [capSlotKey('web01', 'throttle', T0 - 30 * 60_000, 'event:web01:a'), T0 - 30 * 60_000],
        [capSlotKey('web01', 'throttle', T0 - 2 * 3_600_000, 'event:web01:old'), T0 - 2 * 3_600_000],
        [capSlotKey('web02', 'throttle', T0 - 60_000, 'event:web02:b'), T0 - 60_000],
      ]),
      capWaiting: new Set([capWaitingKey('web01', 'throttle'), capWaitingKey(null, 'digest')]),
    });
    expect(tx.contactOf('alice').address).toBe('alice@example.com');
    expect(tx.lastLevel(7)).toBe(2);
    expect(tx.rateMark('digest\u001falice')).toBe(T0 - 1000);
    tx.setRateMark('digest\u001falice', T0);
    tx.setRateMark('step\u001fbob', T0);
    expect(tx.rateMark('digest\u001falice')).toBe(T0);
    expect(tx.rateMark('step\u001fbob')).toBe(T0);
    expect(tx.capSlots('web01', 'throttle', T0 - 3_600_000)).toBe(1);
    tx.takeCapSlot('web01', 'throttle', T0, 'event:web01:c');
    expect(tx.capSlots('web01', 'throttle', T0 - 3_600_000)).toBe(2);
    expect(tx.capSlots('web02', 'throttle', T0 - 3_600_000)).toBe(1);
    expect(tx.capWaiting('web01', 'throttle')).toBe(true);
    expect(tx.capWaiting(null, 'digest')).toBe(true);
    expect(tx.capWaiting('web02', 'throttle')).toBe(false);
    expect([...tx.writtenMarks.keys()]).toEqual(['digest\u001falice', 'step\u001fbob', capSlotKey('web01', 'throttle', T0, 'event:web01:c')]);
  });

  it('refuses what was not loaded, and writing notices itself', () => {
    const tx = new SnapshotNoticeTx({ contacts: new Map() });
    expect(() => tx.contactOf('bob')).toThrow(/the contact of tenant bob was not loaded/);
    expect(() => tx.lastLevel(1)).toThrow(/notice level of incident 1 was not loaded/);
    expect(() => tx.rateMark('step\u001fbob')).toThrow(/rate mark .* was not loaded/);
    expect(() => tx.capSlots('web01', 'throttle', T0)).toThrow(/cap slots was not loaded/);
    expect(() => tx.capWaiting('web01', 'throttle')).toThrow(/cap queues was not loaded/);
    expect(() => tx.enqueue({ source: 'remediation:1:opened:1' } as never)).toThrow(/whether notice "remediation:1:opened:1" exists was not loaded/);
  });

  it('enqueues notices of the loaded sources with ids taken beforehand, once per source', () => {
    const tx = new SnapshotNoticeTx({ enqueue: { prefix: 'remediation:4:', existing: new Set(['remediation:4:opened:1']), ids: [41, 42] } });
    const n = (source: string) => ({ source }) as never;
    expect(tx.enqueue(n('remediation:4:opened:1'))).toBeUndefined();
    expect(tx.enqueue(n('remediation:4:reminder:2'))).toBe(41);
    expect(tx.enqueue(n('remediation:4:reminder:2'))).toBeUndefined();
    expect(tx.enqueue(n('remediation:4:overdue:3'))).toBe(42);
    expect(() => tx.enqueue(n('remediation:4:resolved:4'))).toThrow(/another notice id was not loaded/);
    expect(() => tx.enqueue(n('remediation:5:opened:1'))).toThrow(/not loaded/);
    expect(tx.enqueued.map((e) => [e.id, (e.notice as { source: string }).source])).toEqual([
      [41, 'remediation:4:reminder:2'],
      [42, 'remediation:4:overdue:3'],
    ]);
  });
});
