import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { keyFromJwk } from './jwk.ts';
import { ERP_AUDIENCE, issueAccessToken } from './tokens.ts';
import { createTokenVerifier, decodeCompactJws, TokenError } from './verify.ts';
import { createTestIdp, TEST_ISSUER } from './testing.ts';
import { physician } from '../seed/identities.ts';

test('discovery document is a BP256R1 JWT with x5c and the gematik endpoints', async () => {
  const { app, pki } = createTestIdp();
  const res = await app.inject({ url: '/.well-known/openid-configuration' });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /^application\/jwt/);
  const { header, payload } = decodeCompactJws(res.body);
  assert.equal(header.alg, 'BP256R1');
  assert.equal(header.kid, 'discSig');
  assert.ok(Buffer.from((header.x5c as string[])[0], 'base64').equals(pki.idp.cert));
  assert.equal(payload.issuer, TEST_ISSUER);
  assert.equal(payload.authorization_endpoint, `${TEST_ISSUER}/auth`);
  assert.equal(payload.token_endpoint, `${TEST_ISSUER}/token`);
  assert.equal(payload.uri_puk_idp_sig, `${TEST_ISSUER}/idpSig/jwk.json`);
  assert.deepEqual(payload.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(payload.acr_values_supported, ['gematik-ehealth-loa-high']);
  assert.ok((payload.exp as number) > (payload.iat as number));
});

test('the signing key is published with x5c and BP-256 coordinates that give the same key', async () => {
  const { app, pki } = createTestIdp();
  const jwk = (await app.inject({ url: '/idpSig/jwk.json' })).json();
  assert.equal(jwk.kid, 'puk_idp_sig');
  assert.equal(jwk.crv, 'BP-256');
  assert.equal(jwk.use, 'sig');
  const fromCoordinates = keyFromJwk({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y });
  const fromCert = new X509Certificate(pki.idp.cert).publicKey;
  assert.ok(fromCoordinates.equals(fromCert));
  assert.deepEqual((await app.inject({ url: '/jwks' })).json(), { keys: [jwk] });
});

test('a verifier pointed at the IDP reads discovery + key once and verifies its tokens', async () => {
  const { app, signer, fetch } = createTestIdp();
  let calls = 0;
  const counting: typeof fetch = (input, init) => {
    calls++;
    return fetch(input, init);
  };
  const verifier = createTokenVerifier({ idpUrl: TEST_ISSUER, fetch: counting });
  const token = (await app.inject({ method: 'POST', url: '/dev/token', payload: { id: physician.id } })).json().access_token;
  assert.equal((await verifier.verify(token)).idNummer, physician.telematikId);
  assert.equal((await verifier.verify(await issueAccessToken(signer, physician, { issuer: TEST_ISSUER, audience: ERP_AUDIENCE }))).professionOID, '1.2.276.0.76.4.30');
  assert.equal(calls, 2, 'discovery and key fetched once, then cached');
  // tokens of another issuer are refused even if signed with the right key
  await assert.rejects(verifier.verify(await issueAccessToken(signer, physician, { issuer: 'http://other', audience: ERP_AUDIENCE })), (e: TokenError) => e.rule === 'issuer');
});

test('a verifier whose IDP is down reports 503, not a token error', async () => {
  const { signer } = createTestIdp();
  const verifier = createTokenVerifier({ idpUrl: 'http://127.0.0.1:9', fetch: async () => { throw new Error('ECONNREFUSED'); } });
  const token = await issueAccessToken(signer, physician, { issuer: TEST_ISSUER, audience: ERP_AUDIENCE });
  await assert.rejects(verifier.verify(token), (e: Error & { status?: number }) => e.status === 503 && /IDP not usable/.test(e.message));
});
