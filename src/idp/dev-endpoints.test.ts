import { test } from 'node:test';
import assert from 'node:assert/strict';
import { kimAccounts } from '../kim/accounts.ts';
import { identities, insured } from '../seed/identities.ts';
import { createTokenVerifier } from './verify.ts';
import { createTestIdp, TEST_ISSUER } from './testing.ts';

test('GET /dev/identities lists every seeded identity with role, profession OID, ids and KIM account', async () => {
  const { app } = createTestIdp({ kimAccounts: () => kimAccounts() });
  const res = await app.inject({ url: '/dev/identities' });
  assert.equal(res.statusCode, 200);
  const list = res.json();
  assert.equal(list.length, identities.length);
  const physician = list.find((i: any) => i.id === 'physician-berger');
  assert.equal(physician.role, 'physician');
  assert.equal(physician.professionOID, '1.2.276.0.76.4.30');
  assert.equal(physician.telematikId, '1-1017838382202');
  assert.equal(physician.kim.address, 'hanna.berger@erx.kim.telematik-test');
  assert.match(physician.kim.pop3User, /^hanna\.berger@erx\.kim\.telematik-test#/);
  assert.equal(typeof physician.kim.password, 'string');
  const lisa = list.find((i: any) => i.kvnr === 'X110614233');
  assert.equal(lisa.role, 'insured');
  assert.equal(lisa.kim, undefined);
  assert.ok(list.some((i: any) => i.role === 'pharmacy' && i.telematikId && i.kim?.address));
});

test('POST /dev/token returns a verifiable 300 s Bearer token for the identity', async () => {
  const { app, fetch } = createTestIdp();
  const res = await app.inject({ method: 'POST', url: '/dev/token', payload: { id: insured[0].id } });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.expires_in, 300);
  const claims = await createTokenVerifier({ idpUrl: TEST_ISSUER, fetch }).verify(body.access_token);
  assert.equal(claims.idNummer, 'X110614233');
  assert.equal(claims.professionOID, '1.2.276.0.76.4.49');
});

test('POST /dev/token refuses unknown or missing ids clearly', async () => {
  const { app } = createTestIdp();
  const unknown = await app.inject({ method: 'POST', url: '/dev/token', payload: { id: 'nobody' } });
  assert.equal(unknown.statusCode, 404);
  assert.deepEqual(Object.keys(unknown.json()), ['error', 'message']);
  assert.match(unknown.json().message, /Keine Identität nobody/);
  const missing = await app.inject({ method: 'POST', url: '/dev/token', payload: {} });
  assert.equal(missing.statusCode, 400);
  assert.equal(missing.json().error, 'invalid_request');
});

test('with dev mode off, /dev/identities and /dev/token are 404', async () => {
  const { app } = createTestIdp({ dev: false });
  assert.equal((await app.inject({ url: '/dev/identities' })).statusCode, 404);
  const token = await app.inject({ method: 'POST', url: '/dev/token', payload: { id: 'physician-berger' } });
  assert.equal(token.statusCode, 404);
  assert.equal(token.json().error, 'not_found');
  assert.equal((await app.inject({ url: '/health' })).statusCode, 200);
});
