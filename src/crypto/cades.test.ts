import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { children, octets, oid, readRoot, string } from './der.ts';
import { extractCadesContent, signCades, verifyCades } from './cades.ts';
import { createTestPki, parseCertificate } from './pki.ts';
import { TrustStore } from './trust.ts';
import { PROFESSION } from '../seed/identities.ts';

const bundle = Buffer.from('<Bundle xmlns="http://hl7.org/fhir"><id value="281a985c-f25b-4aae-91a6-41ad744080b0"/></Bundle>');

for (const curve of ['brainpoolP256r1', 'P-256'] as const) {
  test(`sign and verify round trip (${curve}): content, identity, signingTime, digest`, async () => {
    const pki = createTestPki({ curve });
    const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. med. Hanna Berger', givenName: 'Hanna', surname: 'Berger', telematikId: '1-1017838382202' });
    const signingTime = new Date('2026-03-02T09:15:00Z');
    const der = signCades(bundle, hba, { signingTime });
    const result = await verifyCades(der, {
      trust: TrustStore.fromCertificates(pki.trustList()), at: new Date(), requireProfessionOIDs: [PROFESSION.physician, PROFESSION.dentist],
    });
    assert.ok(result.content.equals(bundle));
    assert.ok(result.signer.equals(hba.cert));
    assert.equal(result.identity.telematikId, '1-1017838382202');
    assert.equal(result.identity.name, 'Dr. med. Hanna Berger');
    assert.deepEqual(result.identity.professionOIDs, [PROFESSION.physician]);
    assert.deepEqual(result.signingTime, signingTime);
    assert.ok(result.messageDigest.equals(createHash('sha256').update(bundle).digest()));
    assert.deepEqual(result.chain.map((c) => parseCertificate(c).identity.name), ['Dr. med. Hanna Berger', 'ERX-TEST HBA-qCA', 'ERX-TEST Root-CA']);
    assert.ok(extractCadesContent(der).equals(bundle));
  });
}

test('CMS shape: SignedData v1, id-data enveloped, SHA-256, ecdsa-with-SHA256, four signed attributes, cert + chain', () => {
  const pki = createTestPki();
  const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. X' });
  const der = signCades(bundle, hba);
  const [type, wrap] = children(readRoot(der));
  assert.equal(oid(type), '1.2.840.113549.1.7.2');
  const sd = children(children(wrap)[0]);
  assert.equal(sd[0].buf[sd[0].valueStart], 1);
  const [eType, eContent] = children(sd[2]);
  assert.equal(oid(eType), '1.2.840.113549.1.7.1');
  assert.ok(octets(children(eContent)[0]).equals(bundle));
  assert.equal(children(sd[3]).length, 2, 'signer certificate and its CA');
  const si = children(children(sd[4])[0]);
  assert.equal(oid(children(si[2])[0]), '2.16.840.1.101.3.4.2.1');
  assert.equal(oid(children(si[4])[0]), '1.2.840.10045.4.3.2');
  const attrs = children(si[3]).map((a) => oid(children(a)[0])).sort();
  assert.deepEqual(attrs, [
    '1.2.840.113549.1.9.16.2.47', '1.2.840.113549.1.9.3', '1.2.840.113549.1.9.4', '1.2.840.113549.1.9.5',
  ]);
});

test('an embedded OCSP response makes a SignedData v5 that still verifies', async () => {
  const pki = createTestPki();
  const fd = pki.issue({ kind: 'fachdienst', name: 'FD' });
  const fakeOcsp = Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x00]);
  const der = signCades(bundle, fd, { ocspResponse: fakeOcsp });
  const sd = children(children(children(readRoot(der))[1])[0]);
  assert.equal(sd[0].buf[sd[0].valueStart], 5);
  const result = await verifyCades(der, { trustAnchors: pki.trustAnchors() });
  assert.ok(result.content.equals(bundle));
});

test('trust anchors passed as arrays work, and the intermediates may come from outside the CMS', async () => {
  const pki = createTestPki();
  const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. X' });
  const withoutChain = signCades(bundle, { ...hba, chain: [] });
  await assert.rejects(verifyCades(withoutChain, { trustAnchors: pki.trustAnchors() }), { rule: 'untrusted-chain' });
  const result = await verifyCades(withoutChain, { trustAnchors: pki.trustAnchors(), intermediates: [pki.cas.hba.cert] });
  assert.ok(result.content.equals(bundle));
});

test('Konnektor attributes (§3.2): ETSI mimeType, contentHint with the ShortText, cmsAlgorithmProtection; verified and returned', async () => {
  const pki = createTestPki();
  const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. X', telematikId: '1-1' });
  const der = signCades(bundle, hba, { mimeType: 'text/plain; charset=utf-8', contentHint: 'E-Rezept für Müller', algorithmProtection: true });
  const si = children(children(children(children(children(readRoot(der))[1])[0])[4])[0]);
  const attrs = new Map(children(si[3]).map((a) => [oid(children(a)[0]), children(children(a)[1])[0]]));
  assert.deepEqual([...attrs.keys()].sort(), [
    '0.4.0.1733.2.1', '1.2.840.113549.1.9.16.2.4', '1.2.840.113549.1.9.16.2.47', '1.2.840.113549.1.9.3', '1.2.840.113549.1.9.4',
    '1.2.840.113549.1.9.5', '1.2.840.113549.1.9.52',
  ]);
  assert.equal(string(attrs.get('0.4.0.1733.2.1')!), 'text/plain; charset=utf-8');
  const [description, hintType] = children(attrs.get('1.2.840.113549.1.9.16.2.4')!);
  assert.deepEqual([string(description), oid(hintType)], ['E-Rezept für Müller', '1.2.840.113549.1.7.1']);
  const [digestAlg, sigAlg] = children(attrs.get('1.2.840.113549.1.9.52')!);
  assert.ok(digestAlg.buf.subarray(digestAlg.start, digestAlg.end).equals(si[2].buf.subarray(si[2].start, si[2].end)), 'digestAlgorithm as in the SignerInfo');
  assert.equal(sigAlg.buf[sigAlg.start], 0xa1, 'signatureAlgorithm is [1] IMPLICIT');
  assert.equal(oid(children(sigAlg)[0]), '1.2.840.10045.4.3.2');

  const result = await verifyCades(der, { trustAnchors: pki.trustAnchors() });
  assert.ok(result.content.equals(bundle));
  assert.equal(result.mimeType, 'text/plain; charset=utf-8');
  assert.equal(result.contentHint, 'E-Rezept für Müller');
  const plain = await verifyCades(signCades(bundle, hba), { trustAnchors: pki.trustAnchors() });
  assert.equal(plain.mimeType, undefined);
  assert.equal(plain.contentHint, undefined);
  assert.throws(() => signCades(bundle, hba, { contentHint: '' }), /contentHint must not be empty/);
  assert.throws(() => signCades(bundle, hba, { mimeType: '' }), /mimeType must not be empty/);
});
