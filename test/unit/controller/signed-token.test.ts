// The signed tokens of tenants' links: one signer for both kinds (remediation, usage page), and payloads that
// are valid JSON but not objects refused as malformed, never thrown on.
import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyLink } from '../../../controller/remediation/link.js';
import { openToken, signToken } from '../../../controller/signed-token.js';
import { verifyTenantLink } from '../../../controller/ui/tenant-link.js';

const key = randomBytes(32);
/** A token over any JSON text, signed as the controller would. */
const forge = (json: string) => {
  const payload = Buffer.from(json).toString('base64url');
  return `${payload}.${createHmac('sha256', key).update(payload).digest('base64url')}`;
};

describe('signed tokens', () => {
  it('open what they signed, and refuse a changed byte or another key', () => {
    const token = signToken(key, { v: 1, t: 'alice' });
    expect(openToken(key, token, 'not ours')).toEqual({ ok: true, payload: { v: 1, t: 'alice' } });
    const changed = `${token.slice(0, 3)}${token[3] === 'A' ? 'B' : 'A'}${token.slice(4)}`;
    expect(openToken(key, changed, 'not ours')).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(openToken(randomBytes(32), token, 'not ours')).toMatchObject({ ok: false, reason: 'bad_signature' });
    expect(openToken(key, 'no-dot-here', 'not ours')).toEqual({ ok: false, reason: 'malformed', message: 'not ours' });
  });

  it('refuse every other last character, even one that decodes to the same bytes (the padding bits)', () => {
    // 32 bytes are 43 base64url characters; the last one holds 4 bits of the MAC and 2 the decoder drops.
    const token = signToken(key, { v: 1, t: 'bob' });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const others = [...alphabet].filter((c) => c !== token.at(-1));
    const sameBytes = others.filter((c) => Buffer.from(`${token.slice(token.indexOf('.') + 1, -1)}${c}`, 'base64url').equals(Buffer.from(token.slice(token.indexOf('.') + 1), 'base64url')));
    expect(sameBytes).toHaveLength(3);
    for (const c of others) expect(openToken(key, `${token.slice(0, -1)}${c}`, 'not ours'), c).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it.each(['null', '42', '"text"', '[]', 'true'])('a signed payload of %s is a malformed link of either kind, not an exception', (json) => {
    const token = forge(json);
    expect(verifyTenantLink(key, token, Date.now())).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyLink(key, token, Date.now())).toMatchObject({ ok: false, reason: 'malformed' });
  });
});
