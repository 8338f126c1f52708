// The IDP asks OCSP (the in-process checker on the PKI's revocation registry, as `erx serve idp` does) before it
// issues a code: a revoked AUT certificate gets 401 access_denied with the reason, an unreadable registry 503.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createOcspChecker, RevocationRegistry, revokeCertificate, REVOKED_FILE } from '../crypto/ocsp.ts';
import { parseCertificate } from '../crypto/pki.ts';
import { signDigest } from '../konnektor/ecdsa.ts';
import { pharmacies, practice } from '../seed/identities.ts';
import { cardLogin, CardLoginError } from './card-login.ts';
import { createTestIdp, TEST_ISSUER, testPki } from './testing.ts';

const dir = await mkdtemp(join(tmpdir(), 'erx-idp-ocsp-'));
after(() => rm(dir, { recursive: true, force: true }));
// reloadMs 0: the registry file is re-read on every lookup, so a revocation counts at once.
const idp = createTestIdp({ dev: false, ocsp: createOcspChecker(new RevocationRegistry(dir, 0)) });

function login(identityId: string) {
  const aut = testPki().cards[identityId].aut;
  return cardLogin({
    idpUrl: TEST_ISSUER, clientId: 'erx-practice', redirectUri: 'http://127.0.0.1/cb', certificate: aut.cert,
    sign: async (digest) => signDigest(aut.key, digest), fetch: idp.fetch,
  });
}

test('a revoked SMC-B AUT certificate gets no token; other cards still do', async () => {
  assert.ok((await login(practice.id)).accessToken, 'good before the revocation');
  await revokeCertificate(dir, parseCertificate(testPki().cards[practice.id].aut.cert).serial, 'keyCompromise', new Date('2025-01-02T03:04:05Z'));
  await assert.rejects(login(practice.id), (e: CardLoginError) =>
    e.step === 'authentication' && e.status === 401 && e.error === 'access_denied'
    && /AUT-Zertifikat ist gesperrt \(OCSP revoked seit 2025-01-02T03:04:05.000Z, Grund keyCompromise\)/.test(e.message));
  assert.ok((await login(pharmacies[0].id)).accessToken);
});

test('an unreadable revocation registry: 503, no token (fail closed)', async () => {
  await writeFile(join(dir, REVOKED_FILE), '{ broken');
  await assert.rejects(login(pharmacies[1].id), (e: CardLoginError) =>
    e.status === 503 && e.error === 'temporarily_unavailable' && e.transient && /Sperrstatus des AUT-Zertifikats nicht prüfbar/.test(e.message));
});
