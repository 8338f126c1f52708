import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { physician, pharmacies, insured, practice, payer, PROFESSION } from '../seed/identities.ts';
import {
  certificateIdentity, createSeededPki, createTestPki, fingerprint, loadOrCreatePki, loadPki, loadTrustList, parseCertificate,
  readAdmission, toPem,
} from './pki.ts';

const YEAR = 365 * 24 * 3600 * 1000;
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
let seeded: ReturnType<typeof createSeededPki> | undefined;
const seededPki = () => (seeded ??= createSeededPki());

test('root and sub-CAs: brainpool keys, CA flags, ten years, chain to the root', () => {
  const pki = createTestPki();
  const root = parseCertificate(pki.root.cert);
  assert.equal(root.selfIssued, true);
  assert.equal(root.isCA, true);
  assert.equal(pki.root.key.asymmetricKeyDetails?.namedCurve, 'brainpoolP256r1');
  assert.ok(root.notAfter.getTime() - root.notBefore.getTime() > 9.9 * YEAR);
  for (const ca of Object.values(pki.cas)) {
    const c = parseCertificate(ca.cert);
    assert.equal(c.isCA, true);
    assert.ok(c.keyUsage?.has('keyCertSign'));
    assert.ok(c.x509.verify(root.publicKey), 'sub-CA signed by root');
    assert.deepEqual(ca.chain, []);
  }
  assert.deepEqual(pki.trustAnchors(), [pki.root.cert]);
  assert.equal(pki.trustList().length, 5);
});

test('HBA QES certificate: nonRepudiation, Admission with physician OID and Telematik-ID, given/surname', () => {
  const pki = createTestPki();
  const hba = pki.issue({
    kind: 'hba-qes', name: physician.name, givenName: physician.given, surname: physician.family,
    telematikId: physician.telematikId,
  });
  const c = parseCertificate(hba.cert);
  assert.equal(c.isCA, false);
  assert.deepEqual([...(c.keyUsage ?? [])], ['nonRepudiation']);
  assert.ok(c.notAfter.getTime() - c.notBefore.getTime() > 4.9 * YEAR && c.notAfter.getTime() - c.notBefore.getTime() < 5.1 * YEAR);
  assert.deepEqual(hba.chain, [pki.cas.hba.cert]);
  assert.ok(c.x509.verify(parseCertificate(pki.cas.hba.cert).publicKey));
  assert.deepEqual(readAdmission(hba.cert), {
    professionOIDs: [PROFESSION.physician], professionItems: ['Ärztin/Arzt'], registrationNumber: physician.telematikId,
  });
  assert.deepEqual(certificateIdentity(hba.cert), {
    name: physician.name, givenName: 'Hanna', surname: 'Berger', telematikId: physician.telematikId,
    professionOIDs: [PROFESSION.physician],
  });
  assert.match(c.x509.subject, /GN=Hanna/);
  assert.match(c.x509.subject, /SN=Berger/);
});

test('SMC-B and eGK certificates: institution OIDs, KVNR in the subject OU', () => {
  const pki = createTestPki();
  const pharmacy = pharmacies[0];
  const smcb = pki.issue({ kind: 'smcb-aut', name: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: PROFESSION.publicPharmacy });
  assert.deepEqual(certificateIdentity(smcb.cert).professionOIDs, [PROFESSION.publicPharmacy]);
  assert.equal(certificateIdentity(smcb.cert).telematikId, pharmacy.telematikId);
  assert.deepEqual(parseCertificate(smcb.cert).extKeyUsage, ['1.3.6.1.5.5.7.3.2']);

  const person = insured[0];
  const egk = pki.issue({ kind: 'egk-aut', name: person.name, kvnr: person.kvnr, organization: 'AOK Nordost' });
  const id = certificateIdentity(egk.cert);
  assert.equal(id.kvnr, person.kvnr);
  assert.equal(id.telematikId, undefined);
  assert.deepEqual(id.professionOIDs, [PROFESSION.insured]);
  assert.match(parseCertificate(egk.cert).x509.subject, new RegExp(`OU=${person.kvnr}`));
  assert.deepEqual(egk.chain, [pki.cas.egk.cert]);
  assert.throws(() => pki.issue({ kind: 'egk-aut', name: 'No KVNR' }), /kvnr/);
});

test('options: P-256 curve, explicit validity, already expired certificate, random serials', () => {
  const pki = createTestPki({ curve: 'P-256' });
  assert.equal(pki.root.key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const a = pki.issue({ kind: 'fachdienst', name: 'FD' });
  const b = pki.issue({ kind: 'fachdienst', name: 'FD' });
  assert.notEqual(parseCertificate(a.cert).serial, parseCertificate(b.cert).serial);
  assert.ok(parseCertificate(a.cert).serial.length >= 30);
  const expired = parseCertificate(pki.issue({ kind: 'hba-qes', name: 'Old', expired: true }).cert);
  assert.ok(expired.notAfter < new Date());
  const notBefore = new Date('2030-01-01T00:00:00Z');
  const notAfter = new Date('2031-01-01T00:00:00Z');
  const fixed = parseCertificate(pki.issue({ kind: 'idp', name: 'IDP', notBefore, notAfter }).cert);
  assert.deepEqual([fixed.notBefore, fixed.notAfter], [notBefore, notAfter]);
  const bp = pki.issue({ kind: 'idp', name: 'BP', curve: 'brainpoolP256r1' });
  assert.equal(bp.key.asymmetricKeyDetails?.namedCurve, 'brainpoolP256r1');
});

test('OCSP responder certificate has id-kp-OCSPSigning and end-entity certs point to the OCSP URL', () => {
  const pki = createTestPki({ ocspUrl: 'http://localhost:9999/ocsp' });
  const ocsp = parseCertificate(pki.issue({ kind: 'ocsp', name: 'OCSP' }).cert);
  assert.deepEqual(ocsp.extKeyUsage, ['1.3.6.1.5.5.7.3.9']);
  assert.deepEqual(ocsp.ocspUrls, []);
  assert.deepEqual(parseCertificate(pki.issue({ kind: 'hba-qes', name: 'X' }).cert).ocspUrls, ['http://localhost:9999/ocsp']);
});

test('loadOrCreatePki creates the seeded cards once, persists them and reloads the same keys', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'erx-pki-'));
  try {
    const [first, racing] = await Promise.all([loadOrCreatePki(dir), loadOrCreatePki(dir)]);
    assert.ok(first.root.cert.equals(racing.root.cert), 'concurrent starts agree on one PKI');
    const hba = first.cards[physician.id];
    assert.equal(hba.type, 'HBA');
    assert.equal(hba.iccsn.length, 20);
    assert.equal(certificateIdentity(hba.qes!.cert).telematikId, physician.telematikId);
    assert.equal(first.cards[practice.id].type, 'SMC-B');
    assert.ok(first.cards[practice.id].osig);
    assert.equal(certificateIdentity(first.cards[pharmacies[3].id].aut.cert).telematikId, pharmacies[3].telematikId);
    assert.equal(certificateIdentity(first.cards[insured[2].id].aut.cert).kvnr, insured[2].kvnr);
    assert.equal(Object.keys(first.cards).length, 2 + pharmacies.length + insured.length + 1);

    const again = await loadOrCreatePki(dir);
    assert.ok(again.cards[physician.id].qes!.cert.equals(hba.qes!.cert));
    assert.equal(
      again.cards[physician.id].qes!.key.export({ type: 'pkcs8', format: 'der' }).toString('hex'),
      hba.qes!.key.export({ type: 'pkcs8', format: 'der' }).toString('hex'),
    );
    assert.ok(again.fachdienst.cert.equals(first.fachdienst.cert));
    const trustList = await loadTrustList(dir);
    assert.deepEqual(trustList.map((c) => c.toString('hex')), first.trustList().map((c) => c.toString('hex')));
    assert.match(await readFile(join(dir, 'trust-list.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('seeded cards: 20-digit ICCSNs (80 276 <issuer> <serial>), unique, in the subject serialNumber of each card certificate', () => {
  const pki = seededPki();
  const cards = Object.values(pki.cards);
  assert.equal(cards.length, 2 + pharmacies.length + insured.length + 1);
  for (const card of cards) {
    assert.match(card.iccsn, /^80276\d{15}$/, `${card.id}: ${card.iccsn}`);
    assert.equal(card.iccsn.length, 20);
    for (const kc of [card.aut, card.qes, card.osig, card.enc]) {
      if (!kc || card.type === 'eGK') continue;
      assert.match(parseCertificate(kc.cert).x509.subject, new RegExp(`serialNumber=${card.iccsn}`));
    }
  }
  assert.equal(new Set(cards.map((c) => c.iccsn)).size, cards.length, 'ICCSNs are unique');
});

test('ENC certificates for HBA and SMC-B: keyAgreement, Admission with the Telematik-ID; none for the eGK', () => {
  const pki = seededPki();
  for (const identity of [physician, practice, pharmacies[5], payer]) {
    const card = pki.cards[identity.id];
    assert.ok(card.enc, `${identity.id} has an ENC certificate`);
    const c = parseCertificate(card.enc.cert);
    assert.deepEqual([...(c.keyUsage ?? [])], ['keyAgreement']);
    assert.equal(readAdmission(card.enc.cert)?.registrationNumber, identity.telematikId);
    assert.deepEqual(readAdmission(card.enc.cert)?.professionOIDs, [identity.professionOID]);
    assert.notEqual(fingerprint(card.enc.cert), fingerprint(card.aut.cert));
    assert.deepEqual(card.enc.chain, [card.type === 'HBA' ? pki.cas.hba.cert : pki.cas.smcb.cert]);
  }
  assert.equal(pki.cards[insured[0].id].enc, undefined);
});

test('a pki.json written before ENC certificates (and with an old 19-digit ICCSN) loads; ENC certificates are added once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'erx-pki-old-'));
  try {
    const original = await loadOrCreatePki(dir);
    const file = join(dir, 'pki.json');
    const stored = JSON.parse(await readFile(file, 'utf8'));
    for (const [id, card] of Object.entries<any>(stored.cards)) {
      if (card.certs.enc) delete stored.entries[card.certs.enc];
      delete card.certs.enc;
      if (id === physician.id) card.iccsn = '8027688311000000001';
    }
    await writeFile(file, JSON.stringify(stored));

    const upgraded = await loadPki(dir);
    assert.equal(upgraded.cards[physician.id].iccsn, '8027688311000000001', 'stored ICCSNs stay as they are');
    assert.ok(upgraded.cards[physician.id].qes!.cert.equals(original.cards[physician.id].qes!.cert), 'other certificates unchanged');
    assert.ok(upgraded.root.cert.equals(original.root.cert));
    const enc = upgraded.cards[pharmacies[0].id].enc;
    assert.ok(enc, 'ENC certificate added');
    assert.equal(readAdmission(enc.cert)?.registrationNumber, pharmacies[0].telematikId);
    assert.ok(!enc.cert.equals(original.cards[pharmacies[0].id].enc!.cert), 'a new one (the old file had none)');

    const again = await loadPki(dir);
    assert.ok(again.cards[pharmacies[0].id].enc!.cert.equals(enc.cert), 'persisted: the next load has the same ENC certificate');
    assert.equal(JSON.parse(await readFile(file, 'utf8')).created, stored.created);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('OpenSSL accepts the certificates and shows the Admission extension', { skip: !hasOpenssl && 'openssl missing' }, async () => {
  const pki = createTestPki();
  const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. Test', telematikId: '1-HBA-Test-1' });
  const dir = await mkdtemp(join(tmpdir(), 'erx-pki-ossl-'));
  try {
    await writeFile(join(dir, 'ca.pem'), pki.trustList().map((c) => toPem(c)).join(''));
    await writeFile(join(dir, 'hba.pem'), toPem(hba.cert));
    const verify = spawnSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'hba.pem')], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    const text = spawnSync('openssl', ['x509', '-in', join(dir, 'hba.pem'), '-noout', '-text'], { encoding: 'utf8' }).stdout;
    assert.match(text, /registrationNumber: 1-HBA-Test-1/);
    assert.match(text, /1\.2\.276\.0\.76\.4\.30/);
    assert.match(text, /ASN1 OID: brainpoolP256r1/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
