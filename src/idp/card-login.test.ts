// cardLogin against the real IDP app (dev endpoints off) with the challenge signed by the simulated Konnektor
// (ReadCardCertificate C.AUT + ExternalAuthenticate): SMC-B and HBA get tokens with their identity; refusals name
// the step that failed; a challenge not signed by the IDP is never given to the card.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createTestPki } from '../crypto/pki.ts';
import { createKonnektorClient, KonnektorClientError } from '../konnektor/client.ts';
import { signDigest } from '../konnektor/ecdsa.ts';
import { CONTEXT, startTestKonnektor, type TestKonnektor } from '../konnektor/testing.ts';
import { physician, practice, PROFESSION } from '../seed/identities.ts';
import { cardLogin, CardLoginError, ecdsaDerToRaw } from './card-login.ts';
import { createTestIdp, injectFetch, TEST_ISSUER, testPki } from './testing.ts';
import { createTokenVerifier } from './verify.ts';

const REDIRECT = 'http://127.0.0.1/practice/callback';
let konnektor: TestKonnektor;
const idp = createTestIdp({ dev: false });

before(async () => {
  konnektor = await startTestKonnektor({ pki: testPki(), autoPin: true });
});
after(() => konnektor.close());

async function cardOf(identityId: string) {
  const client = createKonnektorClient('http://konnektor.test', { context: CONTEXT, fetch: injectFetch(konnektor.app) });
  const handle = konnektor.cards.cardsForIdentity(identityId)[0].handle;
  return { handle, client, certificate: await client.readCardCertificate(handle), sign: (digest: Buffer) => client.externalAuthenticate(handle, digest) };
}

const verifier = createTokenVerifier({ idpUrl: TEST_ISSUER, fetch: idp.fetch });

test('the practice SMC-B logs in through the Konnektor; the IDP has no dev endpoints', async () => {
  assert.equal((await idp.app.inject({ method: 'POST', url: '/dev/token', payload: { id: practice.id } })).statusCode, 404);
  const card = await cardOf(practice.id);
  const tokens = await cardLogin({ idpUrl: TEST_ISSUER, clientId: 'erx-practice', redirectUri: REDIRECT, certificate: card.certificate, sign: card.sign, fetch: idp.fetch });
  assert.equal(tokens.expiresIn, 300);
  const claims = await verifier.verify(tokens.accessToken);
  assert.equal(claims.idNummer, practice.telematikId);
  assert.equal(claims.professionOID, PROFESSION.practice);
  assert.equal(claims.client_id, 'erx-practice');
  assert.equal(JSON.parse(Buffer.from(tokens.idToken.split('.')[1], 'base64url').toString()).aud, 'erx-practice');
  assert.equal((await card.client.getPinStatus(card.handle)).status, 'VERIFIED', 'the SMC-B was unlocked for the login');
});

test('the physician logs in with the HBA (C.HP.AUT)', async () => {
  const card = await cardOf(physician.id);
  const tokens = await cardLogin({ idpUrl: TEST_ISSUER, clientId: 'erx-practice', redirectUri: REDIRECT, certificate: card.certificate, sign: card.sign, fetch: idp.fetch });
  const claims = await verifier.verify(tokens.accessToken);
  assert.equal(claims.idNummer, physician.telematikId);
  assert.equal(claims.professionOID, PROFESSION.physician);
});

test('a refused card: step, status and the IDP\'s message; a failing card: step signature with the Konnektor error as cause', async () => {
  const foreign = createTestPki().issue({ kind: 'smcb-aut', name: 'Fremdpraxis', telematikId: '1-2-FREMD' });
  const refused = cardLogin({
    idpUrl: TEST_ISSUER, clientId: 'c', redirectUri: REDIRECT, certificate: foreign.cert, sign: async (d) => signDigest(foreign.key, d), fetch: idp.fetch,
  });
  await assert.rejects(refused, (e: CardLoginError) =>
    e.step === 'authentication' && e.status === 401 && e.error === 'access_denied' && /^Authentisierung: AUT-Zertifikat nicht vertrauenswürdig/.test(e.message) && !e.transient);

  const card = await cardOf(practice.id);
  const blocked = cardLogin({
    idpUrl: TEST_ISSUER, clientId: 'c', redirectUri: REDIRECT, certificate: card.certificate, fetch: idp.fetch,
    sign: async () => { throw new KonnektorClientError(423, 'PIN_BLOCKED', 'PIN.SMC der Karte ist gesperrt'); },
  });
  await assert.rejects(blocked, (e: CardLoginError) =>
    e.step === 'signature' && /^Signatur der Karte: PIN.SMC der Karte ist gesperrt/.test(e.message) && e.cause instanceof KonnektorClientError);
});

test('a challenge that is not the IDP\'s is never signed', async () => {
  const card = await cardOf(practice.id);
  const mallory = generateKeyPairSync('ec', { namedCurve: 'brainpoolP256r1' }).privateKey;
  let signed = 0;
  // A man in the middle replaces the challenge with a JWT of its own key.
  const forging = (async (input: string | URL | Request, init?: RequestInit) => {
    const res = await idp.fetch(input, init);
    if (!String(input).includes('/auth?')) return res;
    const { challenge } = await res.json() as { challenge: string };
    const [h, p] = challenge.split('.');
    const s = sign('sha256', Buffer.from(`${h}.${p}`), { key: mallory, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return Response.json({ challenge: `${h}.${p}.${s}` });
  }) as typeof fetch;
  await assert.rejects(
    cardLogin({ idpUrl: TEST_ISSUER, clientId: 'c', redirectUri: REDIRECT, certificate: card.certificate, sign: async (d) => { signed++; return card.sign(d); }, fetch: forging }),
    (e: CardLoginError) => e.step === 'challenge' && /Signatur des IDP ungültig/.test(e.message),
  );
  assert.equal(signed, 0);
});

test('an unreachable IDP is transient (status 0)', async () => {
  const card = await cardOf(practice.id);
  const down = (async () => { throw new TypeError('fetch failed'); }) as typeof fetch;
  await assert.rejects(cardLogin({ idpUrl: TEST_ISSUER, clientId: 'c', redirectUri: REDIRECT, certificate: card.certificate, sign: card.sign, fetch: down }),
    (e: CardLoginError) => e.step === 'discovery' && e.status === 0 && e.transient && /IDP nicht erreichbar/.test(e.message));
});

test('ecdsaDerToRaw pads short integers and drops the sign byte; non-DER is refused', () => {
  const r = Buffer.alloc(32, 0xff);
  const s = Buffer.concat([Buffer.alloc(2), Buffer.alloc(30, 0x01)]);
  // r with its 0x00 sign byte, s minimal (30 bytes)
  const der = Buffer.concat([Buffer.from([0x30, 2 + 33 + 2 + 30, 0x02, 33, 0x00]), r, Buffer.from([0x02, 30]), s.subarray(2)]);
  assert.deepEqual(ecdsaDerToRaw(der), Buffer.concat([r, s]));
  assert.throws(() => ecdsaDerToRaw(Buffer.alloc(64, 1)), /keine DER-kodierte ECDSA-Signatur/);
  const digest = createHash('sha256').update('x').digest();
  assert.equal(ecdsaDerToRaw(signDigest(testPki().cards[practice.id].aut.key, digest)).length, 64);
});
