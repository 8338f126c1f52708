import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestPki } from '../crypto/pki.ts';
import { insured, physician, pharmacies } from '../seed/identities.ts';
import { signJws } from '../crypto/jws.ts';
import { ERP_AUDIENCE, issueAccessToken, type TokenSigner } from './tokens.ts';
import { createTokenVerifier, TokenError, type TokenRule } from './verify.ts';

const ISSUER = 'http://localhost:8081';
const pki = createTestPki();
const idp = pki.issue({ kind: 'idp', name: 'Test IDP' });
const signer: TokenSigner = { key: idp.key, alg: 'BP256R1', kid: 'puk_idp_sig', cert: idp.cert };
const verifier = createTokenVerifier({ keys: [{ kid: 'puk_idp_sig', key: idp.key }], issuer: ISSUER });
const options = { issuer: ISSUER, audience: ERP_AUDIENCE };

async function refusedWith(promise: Promise<unknown>, rule: TokenRule, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${String(err)}`);
    assert.equal(err.rule, rule);
    assert.equal(err.status, 401);
    assert.match(err.message, new RegExp(`\\(${rule}\\)`));
    assert.match(err.message, message);
    assert.match(err.headers?.['WWW-Authenticate'] ?? '', /^Bearer error="invalid_token"/);
    return true;
  });
}

test('a BP256R1 token for the physician verifies and carries the gematik claims', async () => {
  const token = await issueAccessToken(signer, physician, options);
  const [header] = token.split('.');
  assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'BP256R1', kid: 'puk_idp_sig', typ: 'at+JWT' });
  const claims = await verifier.verify(token);
  assert.equal(claims.idNummer, physician.telematikId);
  assert.equal(claims.professionOID, '1.2.276.0.76.4.30');
  assert.equal(claims.given_name, 'Hanna');
  assert.equal(claims.family_name, 'Berger');
  assert.equal(claims.organizationName, null);
  assert.equal(claims.acr, 'gematik-ehealth-loa-high');
  assert.deepEqual(claims.amr, ['mfa', 'sc', 'pin']);
  assert.equal(claims.aud, ERP_AUDIENCE);
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.exp - claims.iat, 300);
  assert.match(claims.jti, /^[0-9a-f-]{36}$/);
  assert.match(claims.sub, /^[A-Za-z0-9_-]{43}$/);
});

test('insured tokens carry the KVNR, pharmacy tokens the Telematik-ID and organizationName', async () => {
  const insuredClaims = await verifier.verify(await issueAccessToken(signer, insured[0], options));
  assert.equal(insuredClaims.idNummer, 'X110614233');
  assert.equal(insuredClaims.professionOID, '1.2.276.0.76.4.49');
  const pharmacyClaims = await verifier.verify(await issueAccessToken(signer, pharmacies[0], options));
  assert.equal(pharmacyClaims.idNummer, pharmacies[0].telematikId);
  assert.equal(pharmacyClaims.organizationName, pharmacies[0].name);
  assert.equal(pharmacyClaims.given_name, null);
});

test('ES256 tokens verify when the IDP runs on P-256', async () => {
  const p256 = createTestPki({ curve: 'P-256' }).issue({ kind: 'idp', name: 'P-256 IDP' });
  const es = createTokenVerifier({ keys: [p256.key], issuer: ISSUER });
  const claims = await es.verify(await issueAccessToken({ key: p256.key, alg: 'ES256', kid: 'k1' }, physician, options));
  assert.equal(claims.idNummer, physician.telematikId);
});

test('alg none is refused by the algorithm rule', async () => {
  const good = await issueAccessToken(signer, physician, options);
  const [, payload] = good.split('.');
  const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
  await refusedWith(verifier.verify(none), 'algorithm', /alg "none" is not allowed; allowed: BP256R1, ES256/);
});

test('HS256 (a shared-secret token) is refused by the algorithm rule', async () => {
  const [, payload, sig] = (await issueAccessToken(signer, physician, options)).split('.');
  const hs = `${Buffer.from(JSON.stringify({ alg: 'HS256' })).toString('base64url')}.${payload}.${sig}`;
  await refusedWith(verifier.verify(hs), 'algorithm', /alg "HS256" is not allowed/);
});

test('a token signed by a foreign key is refused by the signature rule', async () => {
  const foreign = createTestPki().issue({ kind: 'idp', name: 'Evil IDP' });
  const token = await issueAccessToken({ key: foreign.key, alg: 'BP256R1', kid: 'puk_idp_sig' }, physician, options);
  await refusedWith(verifier.verify(token), 'signature', /does not verify/);
});

test('a tampered payload is refused by the signature rule', async () => {
  const [h, , s] = (await issueAccessToken(signer, insured[2], options)).split('.');
  const forged = Buffer.from(JSON.stringify({ iss: ISSUER, aud: ERP_AUDIENCE, exp: 9e9, professionOID: '1.2.276.0.76.4.30', idNummer: 'x', sub: 'x' })).toString('base64url');
  await refusedWith(verifier.verify(`${h}.${forged}.${s}`), 'signature', /does not verify/);
});

test('an expired token is refused by the expiry rule', async () => {
  const token = await issueAccessToken(signer, physician, { ...options, now: 1_700_000_000 });
  await refusedWith(verifier.verify(token, { now: 1_700_000_000 + 305 }), 'expiry', /expired at 2023-11-14T22:18:20.000Z/);
  // within the lifetime it is fine
  assert.equal((await verifier.verify(token, { now: 1_700_000_000 + 299 })).idNummer, physician.telematikId);
});

test('a token from the future is refused by the not-before rule', async () => {
  const token = await issueAccessToken(signer, physician, { ...options, now: 1_700_000_000 });
  await refusedWith(verifier.verify(token, { now: 1_700_000_000 - 60 }), 'not-before', /issued in the future/);
});

test('a token for another audience is refused by the audience rule', async () => {
  const token = await issueAccessToken(signer, physician, { ...options, audience: 'https://vzd.example/login' });
  await refusedWith(verifier.verify(token), 'audience', /"https:\/\/vzd.example\/login" is not https:\/\/erp.telematik.de\/login/);
});

test('a token from another issuer is refused by the issuer rule', async () => {
  const token = await issueAccessToken(signer, physician, { ...options, issuer: 'https://idp.evil' });
  await refusedWith(verifier.verify(token), 'issuer', /https:\/\/idp.evil/);
});

test('BP256R1 label on a P-256 key (algorithm confusion) finds no key', async () => {
  const p256 = createTestPki({ curve: 'P-256' }).issue({ kind: 'idp', name: 'P-256 IDP' });
  const mixed = createTokenVerifier({ keys: [p256.key], issuer: ISSUER });
  const token = signJws({ iss: ISSUER, aud: ERP_AUDIENCE, exp: 9e9 }, idp.key, { alg: 'BP256R1' });
  await refusedWith(mixed.verify(token), 'key', /no BP256R1 key/);
});

test('garbage and JWE tokens are refused by the format rule', async () => {
  await refusedWith(verifier.verify('not-a-token'), 'format', /3 parts/);
  await refusedWith(verifier.verify('a.b.c.d.e'), 'format', /JWE/);
  await refusedWith(verifier.verify('%%%.e30.'), 'format', /base64url/);
});

test('an algorithm allow-list narrower than the default is honoured', async () => {
  const onlyEs = createTokenVerifier({ keys: [idp.key], issuer: ISSUER, algorithms: ['ES256'] });
  await refusedWith(onlyEs.verify(await issueAccessToken(signer, physician, options)), 'algorithm', /allowed: ES256/);
});
