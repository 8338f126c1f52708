// AuthSignatureService ExternalAuthenticate and CertificateService ReadCardCertificate: ECDSA with the card's AUT
// key over a SHA-256 digest (DER answer), the AUT PIN unlocked once, clear refusals.
import assert from 'node:assert/strict';
import { createHash, verify, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { certificateIdentity } from '../crypto/pki.ts';
import { injectFetch } from '../idp/testing.ts';
import { insured, pharmacies, practice } from '../seed/identities.ts';
import { createKonnektorClient, KonnektorClientError } from './client.ts';
import { CONTEXT, post, startTestKonnektor, type TestKonnektor } from './testing.ts';

const digestOf = (data: Buffer) => createHash('sha256').update(data).digest();
const handleOf = (k: TestKonnektor, identityId: string) => k.cards.cardsForIdentity(identityId)[0].handle;
const clientOf = (k: TestKonnektor) => createKonnektorClient('http://konnektor.test', { context: CONTEXT, fetch: injectFetch(k.app) });

test('SMC-B, HBA and eGK sign a digest with their AUT key; the signature verifies over the data with C.AUT', async () => {
  const k = await startTestKonnektor({ autoPin: true });
  try {
    const client = clientOf(k);
    for (const [identityId, pinType] of [[practice.id, 'PIN.SMC'], [k.cards.getCard(k.hba)!.identityId, 'PIN.CH'], [insured[0].id, 'PIN.CH']] as const) {
      const handle = handleOf(k, identityId);
      const cert = await client.readCardCertificate(handle);
      assert.deepEqual(cert, k.cards.getCard(handle)!.aut.cert, 'C.AUT is the card\'s AUT certificate');
      assert.equal((await client.getPinStatus(handle, pinType)).status, 'VERIFIABLE');
      const data = Buffer.from(`challenge for ${identityId}`);
      const signature = await client.externalAuthenticate(handle, digestOf(data));
      assert.equal(signature[0], 0x30, 'DER SEQUENCE');
      assert.equal(verify('sha256', data, new X509Certificate(cert).publicKey, signature), true);
      assert.equal(verify('sha256', Buffer.from('other data'), new X509Certificate(cert).publicKey, signature), false);
      assert.equal((await client.getPinStatus(handle, pinType)).status, 'VERIFIED', 'the terminal entered the AUT PIN');
    }
  } finally {
    await k.close();
  }
});

test('PIN prompt mode: the SMC-B PIN is needed once, a wrong one counts down, then the SMC-B stays unlocked; blocked is PIN_BLOCKED', async () => {
  const k = await startTestKonnektor({ autoPin: false });
  try {
    const client = clientOf(k);
    const smcb = handleOf(k, pharmacies[0].id);
    const digest = digestOf(Buffer.from('x'));
    await assert.rejects(client.externalAuthenticate(smcb, digest), (e: KonnektorClientError) =>
      e.status === 400 && e.error === 'PIN_REQUIRED' && /PIN-Eingabe erforderlich: PIN.SMC/.test(e.message));
    await assert.rejects(client.externalAuthenticate(smcb, digest, { pin: '000000' }), (e: KonnektorClientError) =>
      e.status === 403 && e.error === 'PIN_REJECTED' && e.details.leftTries === 2);
    assert.equal((await client.externalAuthenticate(smcb, digest, { pin: '123456' }))[0], 0x30);
    // unlocked: no PIN any more (unlike PIN.QES, which authorises one batch)
    assert.equal((await client.externalAuthenticate(smcb, digest))[0], 0x30);
    assert.deepEqual(await client.getPinStatus(smcb), { status: 'VERIFIED', leftTries: 3 });
    // a blocked SMC-B says so, not "PIN required"
    const other = handleOf(k, pharmacies[1].id);
    for (let i = 0; i < 3; i++) await k.cards.verifyPin(other, 'PIN.SMC', '999999');
    await assert.rejects(client.externalAuthenticate(other, digest), (e: KonnektorClientError) =>
      e.status === 423 && e.error === 'PIN_BLOCKED' && /PIN.SMC der Karte SMC-B-\d+ .* gesperrt; mit der PUK entsperren/.test(e.message));
  } finally {
    await k.close();
  }
});

test('dev mode with ERX_PIN_PROMPT (autoSmcbPin): the terminal unlocks the SMC-B, the HBA still needs the typed PIN', async () => {
  const k = await startTestKonnektor({ autoPin: false, autoSmcbPin: true });
  try {
    const client = clientOf(k);
    const digest = digestOf(Buffer.from('x'));
    assert.equal((await client.externalAuthenticate(handleOf(k, practice.id), digest))[0], 0x30);
    await assert.rejects(client.externalAuthenticate(k.hba, digest), (e: KonnektorClientError) => e.error === 'PIN_REQUIRED' && /PIN.CH/.test(e.message));
    assert.equal((await client.externalAuthenticate(k.hba, digest, { pin: '123456' }))[0], 0x30);
  } finally {
    await k.close();
  }
});

test('bad ExternalAuthenticate requests get clear errors', async () => {
  const k = await startTestKonnektor({ autoPin: true });
  try {
    const smcb = handleOf(k, practice.id);
    const hash = digestOf(Buffer.from('x')).toString('base64');
    const call = (b: object) => post(k.app, '/AuthSignatureService/ExternalAuthenticate', { Context: CONTEXT, CardHandle: smcb, BinaryString: hash, ...b });
    const rsa = await call({ OptionalInputs: { SignatureType: 'urn:ietf:rfc:3447' } });
    assert.deepEqual([rsa.status, rsa.body.error], [400, 'SIGNATURE_TYPE']);
    assert.match(rsa.body.message, /ECC/);
    const short = await call({ BinaryString: Buffer.from('too short').toString('base64') });
    assert.equal(short.status, 400);
    assert.match(short.body.message, /SHA-256-Hashwert sein \(32 Byte\), erhalten 9 Byte/);
    const notBase64 = await call({ BinaryString: 'not base64!' });
    assert.equal(notBase64.status, 400);
    assert.match(notBase64.body.message, /kein Base64/);
    const unknown = await call({ CardHandle: 'SMC-B-999' });
    assert.deepEqual([unknown.status, unknown.body.error], [404, 'CARD_NOT_FOUND']);
    const noContext = await post(k.app, '/AuthSignatureService/ExternalAuthenticate', { CardHandle: smcb, BinaryString: hash });
    assert.deepEqual([noContext.status, noContext.body.error], [400, 'CONTEXT']);
    const ok = await call({ OptionalInputs: { SignatureType: 'urn:bsi:tr:03111:ecdsa' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.SignatureObject.Base64Signature.Type, 'urn:bsi:tr:03111:ecdsa');
  } finally {
    await k.close();
  }
});

test('ReadCardCertificate: C.SIG of an SMC-B is its OSIG certificate; missing certificates and bad lists are refused', async () => {
  const k = await startTestKonnektor({ autoPin: true });
  try {
    const client = clientOf(k);
    const smcb = handleOf(k, practice.id);
    const osig = await client.readCardCertificate(smcb, 'C.SIG');
    assert.equal(certificateIdentity(osig).telematikId, practice.telematikId);
    assert.deepEqual(osig, k.cards.getCard(smcb)!.osig!.cert);
    assert.deepEqual(await client.readCardCertificate(k.hba, 'C.QES'), k.cards.getCard(k.hba)!.qes!.cert);
    await assert.rejects(client.readCardCertificate(smcb, 'C.QES'), (e: KonnektorClientError) => e.status === 404 && e.error === 'CERT_NOT_FOUND');
    const bad = await post(k.app, '/CertificateService/ReadCardCertificate', { Context: CONTEXT, CardHandle: smcb, CertRefList: ['C.XYZ'] });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /CertRefList/);
    const rsa = await post(k.app, '/CertificateService/ReadCardCertificate', { Context: CONTEXT, CardHandle: smcb, CertRefList: ['C.AUT'], Crypt: 'RSA' });
    assert.equal(rsa.status, 400);
  } finally {
    await k.close();
  }
});
