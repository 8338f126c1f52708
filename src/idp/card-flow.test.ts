import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, sign } from 'node:crypto';
import { createTestPki, type KeyAndCert } from '../crypto/pki.ts';
import { insured, pharmacies } from '../seed/identities.ts';
import { createTokenVerifier, decodeCompactJws } from './verify.ts';
import { createTestIdp, TEST_ISSUER } from './testing.ts';

const REDIRECT = 'http://127.0.0.1:8888/callback';

function signChallenge(challenge: string, aut: KeyAndCert): string {
  // What the primary system builds and the Konnektor/card signs (ExternalAuthenticate), raw r||s.
  const header = { alg: 'BP256R1', typ: 'JWT', cty: 'NJWT', x5c: [aut.cert.toString('base64')] };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify({ njwt: challenge })).toString('base64url')}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: aut.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

async function authorize(idp: ReturnType<typeof createTestIdp>, aut: KeyAndCert, verifier = randomBytes(48).toString('base64url')) {
  const challengeParam = createHash('sha256').update(verifier).digest('base64url');
  const q = new URLSearchParams({
    client_id: 'erx-test-app', response_type: 'code', redirect_uri: REDIRECT, state: 'st-1', nonce: 'n-1',
    code_challenge: challengeParam, code_challenge_method: 'S256', scope: 'openid e-rezept',
  });
  const auth = await idp.app.inject({ url: `/auth?${q}` });
  assert.equal(auth.statusCode, 200, auth.body);
  const { challenge, user_consent } = auth.json();
  assert.ok(user_consent.requested_scopes['e-rezept']);
  const answer = await idp.app.inject({
    method: 'POST', url: '/auth', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ signed_challenge: signChallenge(challenge, aut) }).toString(),
  });
  return { answer, verifier };
}

async function exchange(idp: ReturnType<typeof createTestIdp>, code: string, verifier: string) {
  return idp.app.inject({
    method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ grant_type: 'authorization_code', client_id: 'erx-test-app', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
  });
}

test('card-based flow end to end with a soft eGK: challenge, signed with C.CH.AUT, code, PKCE, tokens', async () => {
  const idp = createTestIdp();
  const egk = idp.pki.cards[insured[0].id].aut;
  const { answer, verifier } = await authorize(idp, egk);
  assert.equal(answer.statusCode, 302, answer.body);
  const location = new URL(answer.headers.location as string);
  assert.equal(location.origin + location.pathname, REDIRECT);
  assert.equal(location.searchParams.get('state'), 'st-1');
  const code = location.searchParams.get('code')!;

  const token = await exchange(idp, code, verifier);
  assert.equal(token.statusCode, 200, token.body);
  const body = token.json();
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.expires_in, 300);
  const claims = await createTokenVerifier({ idpUrl: TEST_ISSUER, fetch: idp.fetch }).verify(body.access_token);
  assert.equal(claims.idNummer, 'X110614233');
  assert.equal(claims.professionOID, '1.2.276.0.76.4.49');
  assert.equal(claims.given_name, 'Lisa');
  assert.equal(claims.family_name, 'Müller');
  assert.equal(claims.client_id, 'erx-test-app');
  const id = decodeCompactJws(body.id_token).payload;
  assert.equal(id.nonce, 'n-1');
  assert.equal(id.aud, 'erx-test-app');
  assert.equal(id.idNummer, 'X110614233');

  // a code is single-use
  const again = await exchange(idp, code, verifier);
  assert.equal(again.statusCode, 400);
  assert.equal(again.json().error, 'invalid_grant');
  assert.match(again.json().message, /bereits eingelöst/);
});

test('an SMC-B gets a token with its Telematik-ID and organizationName', async () => {
  const idp = createTestIdp();
  const { answer, verifier } = await authorize(idp, idp.pki.cards[pharmacies[0].id].aut);
  const code = new URL(answer.headers.location as string).searchParams.get('code')!;
  const claims = await createTokenVerifier({ idpUrl: TEST_ISSUER, fetch: idp.fetch }).verify((await exchange(idp, code, verifier)).json().access_token);
  assert.equal(claims.idNummer, pharmacies[0].telematikId);
  assert.equal(claims.professionOID, '1.2.276.0.76.4.54');
  assert.equal(claims.organizationName, pharmacies[0].name);
});

test('a wrong PKCE verifier is refused', async () => {
  const idp = createTestIdp();
  const { answer } = await authorize(idp, idp.pki.cards[insured[1].id].aut);
  const code = new URL(answer.headers.location as string).searchParams.get('code')!;
  const res = await exchange(idp, code, randomBytes(48).toString('base64url'));
  assert.equal(res.statusCode, 400);
  assert.equal(res.json().error, 'invalid_grant');
  assert.match(res.json().message, /PKCE S256/);
});

test('a card from a foreign PKI is refused', async () => {
  const idp = createTestIdp();
  const foreign = createTestPki().issue({ kind: 'egk-aut', name: 'Mallory', kvnr: 'X110614233' });
  const { answer } = await authorize(idp, foreign);
  assert.equal(answer.statusCode, 401);
  assert.equal(answer.json().error, 'access_denied');
  assert.match(answer.json().message, /nicht vertrauenswürdig/);
});

test('a challenge signed with another key than the certificate is refused', async () => {
  const idp = createTestIdp();
  const cert = idp.pki.cards[insured[2].id].aut.cert;
  const otherKey = idp.pki.cards[insured[3].id].aut.key;
  const { answer } = await authorize(idp, { key: otherKey, cert, chain: [] });
  assert.equal(answer.statusCode, 401);
  assert.match(answer.json().message, /signature/);
});

test('bad authorization requests get clear errors', async () => {
  const idp = createTestIdp();
  const base = { client_id: 'c', response_type: 'code', redirect_uri: REDIRECT, state: 's', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256', scope: 'openid e-rezept' };
  for (const [change, message] of [
    [{ code_challenge_method: 'plain' }, /S256/],
    [{ scope: 'openid' }, /e-rezept/],
    [{ code_challenge: 'short' }, /code_challenge/],
    [{ redirect_uri: 'javascript:alert(1)' }, /redirect_uri/],
  ] as const) {
    const res = await idp.app.inject({ url: `/auth?${new URLSearchParams({ ...base, ...change })}` });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, message);
  }
  const jwe = await idp.app.inject({ method: 'POST', url: '/auth', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'signed_challenge=a.b.c.d.e' });
  assert.equal(jwe.statusCode, 400);
  assert.match(jwe.json().message, /JWE/);
});
