// The bad-input list of verifyCades: every case is a CadesError naming its rule, never a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, sign } from 'node:crypto';
import { CadesError, signCades, verifyCades, type CadesRule } from './cades.ts';
import { createOcspChecker, createHttpOcspChecker, RevocationRegistry } from './ocsp.ts';
import { children, readRoot } from './der.ts';
import { createTestPki, parseCertificate } from './pki.ts';
import { TrustStore } from './trust.ts';
import { PROFESSION } from '../seed/identities.ts';

const PRESCRIBERS = [PROFESSION.physician, PROFESSION.dentist];
const pki = createTestPki();
const trust = TrustStore.fromCertificates(pki.trustList());
const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. med. Hanna Berger', telematikId: '1-1017838382202' });
const content = Buffer.from('<Bundle xmlns="http://hl7.org/fhir"><id value="abc"/><MedicationRequest/></Bundle>');
const good = signCades(content, hba);

async function rejects(der: unknown, rule: CadesRule, options: Parameters<typeof verifyCades>[1] = { trust }): Promise<CadesError> {
  try {
    await verifyCades(der as Buffer, options);
  } catch (err) {
    assert.ok(err instanceof CadesError, `expected CadesError, got ${String(err)}`);
    assert.equal(err.rule, rule, err.message);
    assert.ok(err.message.length > rule.length + 5, 'English message explains the problem');
    assert.ok(err.messageDe.length > 10, 'German message');
    assert.equal(err.status, rule === 'ocsp-unavailable' ? 512 : 400);
    return err;
  }
  assert.fail(`expected rule ${rule}, but the signature verified`);
}

test('the unmodified signature verifies (baseline for the cases below)', async () => {
  const r = await verifyCades(good, { trust, requireProfessionOIDs: PRESCRIBERS });
  assert.ok(r.content.equals(content));
});

test('altered content -> digest-mismatch', async () => {
  const der = Buffer.from(good);
  const at = der.indexOf('MedicationRequest');
  der[at] = 'X'.charCodeAt(0);
  await rejects(der, 'digest-mismatch');
});

test('altered signature value -> bad-signature', async () => {
  const der = Buffer.from(good);
  der[der.length - 1] ^= 0x01;
  await rejects(der, 'bad-signature');
});

test('signed by a key that does not belong to the included certificate -> bad-signature', async () => {
  const other = pki.issue({ kind: 'hba-qes', name: 'Other' });
  await rejects(signCades(content, { ...hba, key: other.key }), 'bad-signature');
});

test('signer without a prescribing profession (pharmacy SMC-B, insured eGK) -> not-prescriber', async () => {
  const pharmacy = pki.issue({ kind: 'smcb-osig', name: 'Apotheke', telematikId: '3-11.2.1000001.16.101', professionOID: PROFESSION.publicPharmacy });
  const err = await rejects(signCades(content, pharmacy), 'not-prescriber', { trust, requireProfessionOIDs: PRESCRIBERS });
  assert.match(err.message, /1\.2\.276\.0\.76\.4\.54/);
  const egk = pki.issue({ kind: 'egk-aut', name: 'Lisa Müller', kvnr: 'X110614233' });
  await rejects(signCades(content, egk), 'not-prescriber', { trust, requireProfessionOIDs: PRESCRIBERS });
});

test('expired certificate, and a signing time before the certificate was issued -> expired', async () => {
  const old = pki.issue({ kind: 'hba-qes', name: 'Dr. Old', expired: true });
  await rejects(signCades(content, old), 'expired');
  await rejects(signCades(content, hba, { signingTime: new Date('2001-01-01T00:00:00Z') }), 'expired');
});

test('revoked certificate -> revoked; responder does not know the CA -> ocsp-unknown', async () => {
  const registry = new RevocationRegistry(null);
  const ocsp = createOcspChecker(registry);
  const card = pki.issue({ kind: 'hba-qes', name: 'Dr. Lost Card' });
  const der = signCades(content, card);
  assert.equal((await verifyCades(der, { trust, ocsp })).ocsp?.status, 'good');
  registry.revoke(parseCertificate(card.cert).serial, 'keyCompromise');
  const err = await rejects(der, 'revoked', { trust, ocsp });
  assert.match(err.message, /keyCompromise/);
  const otherIssuerOnly = createOcspChecker(registry, { issuers: [pki.cas.smcb.cert] });
  await rejects(good, 'ocsp-unknown', { trust, ocsp: otherIssuerOnly });
});

test('OCSP responder unreachable -> ocsp-unavailable with status 512', async () => {
  const ocsp = createHttpOcspChecker('http://127.0.0.1:9/ocsp', { timeoutMs: 500 });
  await rejects(good, 'ocsp-unavailable', { trust, ocsp });
});

test('garbage, empty, truncated, wrong type and non-buffer input -> malformed', async () => {
  await rejects(randomBytes(200), 'malformed');
  await rejects(Buffer.alloc(0), 'malformed');
  await rejects(good.subarray(0, good.length - 20), 'malformed');
  await rejects(Buffer.concat([good, Buffer.from([0])]), 'malformed');
  await rejects(hba.cert, 'malformed');
  await rejects('MIIB' as unknown as Buffer, 'malformed');
  await rejects(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), 'malformed');
  // Deep nesting must not blow the stack.
  await rejects(Buffer.concat([Buffer.alloc(5000, 0x30), Buffer.alloc(5000, 0x80)]), 'malformed');
});

test('wrong trust anchor -> untrusted-chain', async () => {
  const foreign = createTestPki();
  await rejects(good, 'untrusted-chain', { trustAnchors: foreign.trustAnchors() });
  // A look-alike CA with the same name but another key does not help either.
  const forged = foreign.issue({ kind: 'hba-qes', name: 'Dr. med. Hanna Berger', telematikId: '1-1017838382202' });
  await rejects(signCades(content, forged), 'untrusted-chain');
});

test('cmsAlgorithmProtection naming another algorithm than the SignerInfo (a validly signed one) -> bad-signature', async () => {
  const der = signCades(content, hba, { algorithmProtection: true });
  // [1] IMPLICIT ecdsa-with-SHA256 inside the attribute -> ecdsa-with-SHA384 (same length), then sign the attributes anew.
  const protectedSha256 = Buffer.from('a10a06082a8648ce3d040302', 'hex');
  const at = der.indexOf(protectedSha256);
  assert.ok(at > 0);
  const si = children(children(children(children(children(readRoot(der))[1])[0])[4])[0]);
  const [attrsT, sigT] = [si[3], si[5]];
  const oldLength = sigT.end - sigT.valueStart;
  for (;;) {
    const forged = Buffer.from(der);
    forged[at + protectedSha256.length - 1] = 0x03;
    const setForm = Buffer.concat([Buffer.from([0x31]), forged.subarray(attrsT.start + 1, attrsT.end)]);
    const signature = sign('sha256', setForm, hba.key);
    if (signature.length !== oldLength) continue; // DER ECDSA values vary by a byte or two; keep the layout
    signature.copy(forged, sigT.valueStart);
    const err = await rejects(forged, 'bad-signature');
    assert.match(err.message, /cmsAlgorithmProtection/);
    break;
  }
  assert.ok((await verifyCades(der, { trust })).content.equals(content), 'the unforged one verifies');
});
