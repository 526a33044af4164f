// The dashboard's store (UiStore) through its interface, on both backends: sessions (expired ones read as
// absent and are deleted), signing keys made once and shared by every store on the database (two controllers
// sign alike), tenant links revoked once (a notice's link never recorded can be revoked too), and the purge.
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { AdminSession } from '../../../../controller/store/ui-store.js';
import { describeBackends, itShared, type OpenedParts } from '../../../helpers/store-backends.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const HOUR = 3_600_000;

const session = (n: number, extra: Partial<AdminSession> = {}): AdminSession => ({
  idHash: n.toString(16).padStart(64, '0'),
  admin: `admin${n}`,
  role: 'admin',
  csrf: `csrf-${n}`,
  createdAt: T0,
  expiresAt: T0 + HOUR,
  ...extra,
});

describeBackends('UiStore', (backend) => {
  let store: OpenedParts;
  beforeEach(async () => {
    store = await backend.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('keeps a session until it expires, then reads it as absent and deletes it', async () => {
    await store.ui.createSession(session(1));
    await store.ui.createSession(session(2, { role: 'viewer', expiresAt: T0 + 2 * HOUR }));
    expect(await store.ui.getSession(session(1).idHash, T0 + HOUR - 1)).toEqual(session(1));
    expect(await store.ui.getSession(session(2).idHash, T0)).toEqual(session(2, { role: 'viewer', expiresAt: T0 + 2 * HOUR }));
    expect(await store.ui.getSession(session(1).idHash, T0 + HOUR)).toBeUndefined();
    // Deleted when it was found expired: no longer there even for an earlier clock.
    expect(await store.ui.getSession(session(1).idHash, T0)).toBeUndefined();
    expect(await store.ui.getSession('0'.repeat(63) + 'f', T0)).toBeUndefined();
  });

  it('deletes a session once', async () => {
    await store.ui.createSession(session(3));
    expect(await store.ui.deleteSession(session(3).idHash)).toBe(true);
    expect(await store.ui.deleteSession(session(3).idHash)).toBe(false);
    expect(await store.ui.getSession(session(3).idHash, T0)).toBeUndefined();
  });

  it('refuses a second session with the same id hash', async () => {
    await store.ui.createSession(session(4));
    await expect(store.ui.createSession(session(4, { admin: 'mallory' }))).rejects.toThrow();
    expect((await store.ui.getSession(session(4).idHash, T0))?.admin).toBe('admin4');
  });

  it('makes a signing key once per name, kept across a restart with the sessions', async () => {
    const a = await store.ui.signingKey('tenant-link');
    expect(a).toHaveLength(32);
    expect(await store.ui.signingKey('tenant-link')).toEqual(a);
    const b = await store.ui.signingKey('other');
    expect(b).not.toEqual(a);
    await store.ui.createSession(session(5));
    await store.reopen();
    expect(await store.ui.signingKey('tenant-link')).toEqual(a);
    expect((await store.ui.getSession(session(5).idHash, T0))?.admin).toBe('admin5');
  });

  itShared(backend)('shares keys, sessions and revocations between two controllers on one database (not SQLite: one controller per file)', async () => {
    const second = await store.another!();
    // Both ask for a new key at once: one is made, both get it.
    const [a, b] = await Promise.all([store.ui.signingKey('k'), second.ui.signingKey('k')]);
    expect(a).toEqual(b);
    await store.ui.createSession(session(8));
    expect((await second.ui.getSession(session(8).idHash, T0))?.admin).toBe('admin8');
    const [r1, r2] = await Promise.all([store.ui.revokeTenantLink('l9', T0, 'a', T0 + HOUR), second.ui.revokeTenantLink('l9', T0, 'b', T0 + HOUR)]);
    expect([r1, r2].sort()).toEqual([false, true]);
    expect(await second.ui.isTenantLinkRevoked('l9')).toBe(true);
  });

  it('revokes a link once, recorded or not, and purges what is past its expiry', async () => {
    await store.ui.recordTenantLink({ id: 'l1', tenant: 'alice', createdAt: T0, expiresAt: T0 + 24 * HOUR, createdBy: 'admin' });
    await store.ui.recordTenantLink({ id: 'l2', tenant: 'bob', createdAt: T0, expiresAt: T0 + 2 * HOUR, createdBy: 'admin' });
    expect(await store.ui.isTenantLinkRevoked('l1')).toBe(false);
    expect(await store.ui.revokeTenantLink('l1', T0 + 1, 'admin', T0 + 24 * HOUR)).toBe(true);
    expect(await store.ui.revokeTenantLink('l1', T0 + 2, 'admin', T0 + 24 * HOUR)).toBe(false);
    expect(await store.ui.isTenantLinkRevoked('l1')).toBe(true);
    // A notice's link, never recorded: its revocation is kept until the link's own expiry.
    expect(await store.ui.revokeTenantLink('notice-link', T0 + 3, 'admin', T0 + 3 * HOUR)).toBe(true);
    expect(await store.ui.isTenantLinkRevoked('notice-link')).toBe(true);
    expect(await store.ui.isTenantLinkRevoked('l2')).toBe(false);

    await store.ui.createSession(session(6, { expiresAt: T0 + HOUR }));
    await store.ui.createSession(session(7, { expiresAt: T0 + 5 * HOUR }));
    expect(await store.ui.purge(T0 + 3 * HOUR)).toEqual({ sessions: 1, links: 2 });
    expect(await store.ui.isTenantLinkRevoked('notice-link')).toBe(false);
    expect(await store.ui.isTenantLinkRevoked('l1')).toBe(true);
    expect((await store.ui.getSession(session(7).idHash, T0))?.admin).toBe('admin7');
    expect(await store.ui.purge(T0 + 3 * HOUR)).toEqual({ sessions: 0, links: 0 });
  });
});
