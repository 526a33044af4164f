// The rollup flusher on a fake store: kicks flush one host per turn while hosts are due; a failed flush stops
// the kicks until the periodic pass, which clears the failure, so kicks flush again after it.
import { describe, expect, it, vi } from 'vitest';
import { Flusher } from '../../../../controller/ingest/flusher.js';
import type { FlushResult, Store } from '../../../../controller/store/store.js';

/** A store with `due` hosts waiting; flush() fails while `failures` lasts. */
function fakeStore(due: number, failures = 0) {
  const state = { due, failures, calls: 0, flushed: 0 };
  const store = {
    flushDue: () => state.due > 0,
    flush: async (opts: { maxHosts?: number } = {}): Promise<FlushResult> => {
      state.calls++;
      if (state.failures > 0) {
        state.failures--;
        throw new Error('SQLITE_FULL: database or disk is full');
      }
      const hosts = Math.min(state.due, opts.maxHosts ?? state.due);
      state.due -= hosts;
      state.flushed += hosts;
      return { hosts, minuteRows: hosts, hourRows: 0, remaining: state.due };
    },
  };
  return { state, store: store as unknown as Store };
}

describe('Flusher', () => {
  it('flushes one host per turn after a kick until none is due', async () => {
    const { state, store } = fakeStore(3);
    const flushed: number[] = [];
    const f = new Flusher(store, { onFlushed: (n) => flushed.push(n) });
    f.kick();
    await vi.waitFor(() => expect(state.due).toBe(0));
    expect(flushed).toEqual([1, 1, 1]);
  });

  it('stops kicking after a failed flush, and kicks again once the periodic pass has run', async () => {
    const { state, store } = fakeStore(2, 1);
    const error = vi.fn();
    const f = new Flusher(store, { log: { error } as never });
    f.kick();
    await vi.waitFor(() => expect(error).toHaveBeenCalledTimes(1));
    expect(state.calls).toBe(1);
    f.kick(); // still failing: no attempt until the periodic pass
    await new Promise((resolve) => setImmediate(resolve));
    expect(state.calls).toBe(1);

    await f.periodic();
    expect([state.due, state.flushed]).toEqual([0, 2]);

    state.due = 1; // a new closed minute: the kick after a report flushes it again
    f.kick();
    await vi.waitFor(() => expect(state.due).toBe(0));
    expect(error).toHaveBeenCalledTimes(1);
  });

  it('leaves flushing to explicit calls with auto off', async () => {
    const { state, store } = fakeStore(1);
    new Flusher(store, { auto: false }).kick();
    await new Promise((resolve) => setImmediate(resolve));
    expect(state.calls).toBe(0);
  });
});
