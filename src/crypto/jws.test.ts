import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import * as jose from 'jose';
import { decodeJwsHeader, JwsError, signJws, signJwt, verifyJws, verifyJwt, x5cPublicKey, type JwsErrorCode } from './jws.ts';
import { createTestPki, generateKey } from './pki.ts';

const bp = generateKey('brainpoolP256r1').privateKey;
const p256 = generateKey('P-256').privateKey;
const now = new Date('2026-05-01T12:00:00Z');
const t = Math.floor(now.getTime() / 1000);

async function rejectsWith(p: Promise<unknown>, code: JwsErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof JwsError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
}

for (const [alg, key] of [['BP256R1', bp], ['ES256', p256]] as const) {
  test(`${alg}: sign and verify; tampered payload, header and signature fail`, async () => {
    const token = signJws({ hello: 'Welt' }, key, { alg, kid: 'k1', typ: 'JWT' });
    assert.deepEqual(decodeJwsHeader(token), { alg, typ: 'JWT', kid: 'k1' });
    const { header, payload } = await verifyJws(token, createPublicKey(key), { algorithms: [alg] });
    assert.equal(header.alg, alg);
    assert.deepEqual(JSON.parse(payload.toString()), { hello: 'Welt' });
    const [h, p, s] = token.split('.');
    const otherPayload = Buffer.from(JSON.stringify({ hello: 'World' })).toString('base64url');
    await rejectsWith(verifyJws(`${h}.${otherPayload}.${s}`, key, { algorithms: [alg] }), 'bad-signature');
    const otherHeader = Buffer.from(JSON.stringify({ alg, kid: 'k2' })).toString('base64url');
    await rejectsWith(verifyJws(`${otherHeader}.${p}.${s}`, key, { algorithms: [alg] }), 'bad-signature');
    const sig = Buffer.from(s, 'base64url');
    sig[10] ^= 1;
    await rejectsWith(verifyJws(`${h}.${p}.${sig.toString('base64url')}`, key, { algorithms: [alg] }), 'bad-signature');
  });
}

test('ES256 tokens interoperate with jose in both directions', async () => {
  const token = signJwt({ iss: 'me', exp: t + 60 }, p256, { alg: 'ES256' });
  const { payload } = await jose.jwtVerify(token, createPublicKey(p256), { algorithms: ['ES256'], currentDate: now });
  assert.equal(payload.iss, 'me');
  const fromJose = await new jose.SignJWT({ iss: 'jose' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(t + 60).sign(p256);
  const { claims } = await verifyJwt(fromJose, { keys: p256, algorithms: ['ES256'], now, issuer: 'jose' });
  assert.equal(claims.iss, 'jose');
});

test('alg none, algorithms outside the allow-list and malformed tokens are refused', async () => {
  const token = signJws('x', bp, { alg: 'BP256R1' });
  const [, p] = token.split('.');
  const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
  await rejectsWith(verifyJws(none, bp, { algorithms: ['BP256R1'] }), 'alg-not-allowed');
  const hs = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${p}.${'A'.repeat(86)}`;
  await rejectsWith(verifyJws(hs, bp, { algorithms: ['BP256R1'] }), 'alg-not-allowed');
  await rejectsWith(verifyJws(token, bp, { algorithms: ['ES256'] }), 'alg-not-allowed');
  for (const bad of ['', 'a.b', 'a.b.c.d', '!!.??.##', `${Buffer.from('[1]').toString('base64url')}.${p}.AA`, `e30.${p}.AA`, token.slice(0, -4)]) {
    await rejectsWith(verifyJws(bad, bp, { algorithms: ['BP256R1'] }), 'malformed');
  }
  await rejectsWith(verifyJws(undefined as unknown as string, bp, { algorithms: ['BP256R1'] }), 'malformed');
  const crit = signJws('x', bp, { alg: 'BP256R1', header: { crit: ['b64'], b64: false } });
  await rejectsWith(verifyJws(crit, bp, { algorithms: ['BP256R1'] }), 'malformed');
});

test('key and algorithm must fit: wrong curve, wrong key, no key', async () => {
  // A P-256 key cannot verify a token claiming BP256R1 (and vice versa), even if both algorithms are allowed.
  const token = signJws('x', bp, { alg: 'BP256R1' });
  await rejectsWith(verifyJws(token, p256, { algorithms: ['BP256R1', 'ES256'] }), 'alg-key-mismatch');
  assert.throws(() => signJws('x', p256, { alg: 'BP256R1' }), JwsError);
  const otherBp = generateKey('brainpoolP256r1').privateKey;
  await rejectsWith(verifyJws(token, otherBp, { algorithms: ['BP256R1'] }), 'bad-signature');
  await rejectsWith(verifyJws(token, [], { algorithms: ['BP256R1'] }), 'no-key');
  // A resolver picks the key by kid; several candidates are tried.
  const byKid = signJws('x', bp, { alg: 'BP256R1', kid: 'idp-1' });
  const resolved = await verifyJws(byKid, (h) => (h.kid === 'idp-1' ? [otherBp, bp] : undefined), { algorithms: ['BP256R1'] });
  assert.equal(resolved.payload.toString(), 'x');
  await rejectsWith(verifyJws(token, async () => undefined, { algorithms: ['BP256R1'] }), 'no-key');
});

test('detached payload and x5c header (the Fachdienst server signature shape)', async () => {
  const pki = createTestPki();
  const fd = pki.issue({ kind: 'fachdienst', name: 'FD' });
  const body = Buffer.from('{"resourceType":"Bundle"}');
  const token = signJws(body, fd.key, { alg: 'BP256R1', x5c: [fd.cert], typ: 'jose', cty: 'application/fhir+json;charset=utf-8', detached: true });
  assert.match(token, /^[\w-]+\.\.[\w-]+$/);
  const header = decodeJwsHeader(token);
  assert.equal(header.x5c?.[0], fd.cert.toString('base64'));
  const { payload } = await verifyJws(token, (h) => x5cPublicKey(h), { algorithms: ['BP256R1'], detachedPayload: body });
  assert.ok(payload.equals(body));
  await rejectsWith(verifyJws(token, (h) => x5cPublicKey(h), { algorithms: ['BP256R1'], detachedPayload: Buffer.from('{}') }), 'bad-signature');
});

test('verifyJwt: issuer, audience, exp/nbf/iat with clock skew', async () => {
  const claims = { iss: 'https://idp.local', aud: ['https://erp.telematik.de/login'], iat: t, nbf: t, exp: t + 300 };
  const token = signJwt(claims, bp, { alg: 'BP256R1' });
  const base = { keys: bp, algorithms: ['BP256R1'] as const, issuer: 'https://idp.local', audience: 'https://erp.telematik.de/login' };
  assert.deepEqual((await verifyJwt(token, { ...base, now })).claims, claims);
  assert.ok(await verifyJwt(token, { ...base, now: new Date((t + 320) * 1000) }), 'within 30 s skew');
  await rejectsWith(verifyJwt(token, { ...base, now: new Date((t + 331) * 1000) }), 'expired');
  await rejectsWith(verifyJwt(token, { ...base, now: new Date((t - 31) * 1000) }), 'not-yet-valid');
  await rejectsWith(verifyJwt(token, { ...base, now, audience: 'https://other' }), 'wrong-audience');
  await rejectsWith(verifyJwt(token, { ...base, now, issuer: 'https://evil' }), 'wrong-issuer');
  await rejectsWith(verifyJwt(signJwt({ iss: 'x' }, bp, { alg: 'BP256R1' }), { ...base, issuer: undefined, audience: undefined, now }), 'missing-claim');
  await rejectsWith(verifyJwt(signJwt({ exp: 'soon' } as unknown as { exp: number }, bp, { alg: 'BP256R1' }), { ...base, issuer: undefined, audience: undefined, now }), 'malformed');
  await rejectsWith(verifyJwt(signJws('not json', bp, { alg: 'BP256R1' }), { ...base, now }), 'malformed');
});
