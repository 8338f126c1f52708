import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { verifyCades } from '../crypto/cades.ts';
import { pharmacies } from '../seed/identities.ts';
import { CONTEXT, post, startTestKonnektor, type TestKonnektor } from './testing.ts';

let k: TestKonnektor;
before(async () => {
  k = await startTestKonnektor();
});
after(() => k.close());

const bundle = (i: number) => `<Bundle xmlns="http://hl7.org/fhir"><id value="doc-${i}"/></Bundle>`;
const requests = (n: number) => Array.from({ length: n }, (_, i) => ({
  RequestID: `req-${i}`,
  Document: { Base64Data: Buffer.from(bundle(i)).toString('base64'), MimeType: 'text/plain; charset=utf-8', ShortText: `E-Rezept ${i}` },
  IncludeRevocationInfo: false,
}));

async function jobNumber(): Promise<string> {
  const { status, body } = await post(k.app, '/SignatureService/GetJobNumber', { Context: CONTEXT });
  assert.equal(status, 200);
  assert.match(body.JobNumber, /^[A-Z]{3}-\d{3}$/);
  return body.JobNumber;
}

const hasOid = (der: Buffer, hex: string) => der.includes(Buffer.from(hex, 'hex'));

test('SignDocument returns a CAdES-BES enveloping CMS that verifyCades accepts, with the signed attributes', async () => {
  const before = Date.now();
  const { status, body } = await post(k.app, '/SignatureService/SignDocument', {
    Context: CONTEXT, CardHandle: k.hba, JobNumber: await jobNumber(), SignRequests: requests(1),
  });
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.SignatureMode, 'PIN');
  assert.equal(body.SignResponses.length, 1);
  const [response] = body.SignResponses;
  assert.equal(response.RequestID, 'req-0');
  assert.equal(response.Status.Result, 'OK');
  assert.equal(response.SignatureObject.Base64Signature.Type, 'urn:ietf:rfc:5652');
  const cms = Buffer.from(response.SignatureObject.Base64Signature.Value, 'base64');
  const verified = await verifyCades(cms, { trustAnchors: k.pki.trustAnchors(), requireProfessionOIDs: ['1.2.276.0.76.4.30'] });
  assert.equal(verified.content.toString(), bundle(0));
  assert.equal(verified.identity.telematikId, '1-1017838382202');
  assert.ok(verified.signingTime && verified.signingTime.getTime() >= Math.floor(before / 1000) * 1000 - 1000, 'signingTime is set');
  assert.ok(hasOid(cms, '06092a864886f70d010903'), 'contentType attribute');
  assert.ok(hasOid(cms, '06092a864886f70d010905'), 'signingTime attribute');
  assert.ok(hasOid(cms, '06092a864886f70d010904'), 'messageDigest attribute');
  assert.ok(hasOid(cms, '060b2a864886f70d010910022f'), 'ESS signingCertificateV2 attribute');
  assert.ok(hasOid(cms, '06092a864886f70d010934'), 'cmsAlgorithmProtection attribute');
  assert.equal(verified.mimeType, 'text/plain; charset=utf-8', 'ETSI mimeType = Document.MimeType');
  assert.equal(verified.contentHint, 'E-Rezept 0', 'contentHint = Document.ShortText');
  // QES key, not AUT: the signer is the HBA's C.HP.QES certificate
  assert.ok(verified.signer.equals(k.cards.getCard(k.hba)!.qes!.cert));
});

test('without MimeType and ShortText the CMS has no mimeType/contentHint, but still cmsAlgorithmProtection', async () => {
  const { status, body } = await post(k.app, '/SignatureService/SignDocument', {
    Context: CONTEXT, CardHandle: k.hba, JobNumber: await jobNumber(),
    SignRequests: [{ RequestID: 'bare', Document: { Base64Data: Buffer.from(bundle(7)).toString('base64') }, IncludeRevocationInfo: false }],
  });
  assert.equal(status, 200, JSON.stringify(body));
  const cms = Buffer.from(body.SignResponses[0].SignatureObject.Base64Signature.Value, 'base64');
  const verified = await verifyCades(cms, { trustAnchors: k.pki.trustAnchors() });
  assert.equal(verified.content.toString(), bundle(7));
  assert.equal(verified.mimeType, undefined);
  assert.equal(verified.contentHint, undefined);
  assert.ok(hasOid(cms, '06092a864886f70d010934'), 'cmsAlgorithmProtection attribute');
});

test('Stapelsignatur: 250 documents in one call with one PIN entry, answers in request order', async () => {
  const pinBefore = await post(k.app, '/CardService/GetPinStatus', { Context: CONTEXT, CardHandle: k.hba, PinTyp: 'PIN.QES' });
  assert.equal(pinBefore.body.LeftTries, 3);
  // One PIN for the batch: a wrong one refuses the whole batch and costs exactly one try.
  const wrong = await post(k.app, '/SignatureService/SignDocument', {
    Context: CONTEXT, CardHandle: k.hba, JobNumber: await jobNumber(), SignRequests: requests(250), Pin: '999999',
  });
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.leftTries, 2);
  const { status, body } = await post(k.app, '/SignatureService/SignDocument', {
    Context: CONTEXT, CardHandle: k.hba, JobNumber: await jobNumber(), SignRequests: requests(250),
  });
  assert.equal(status, 200);
  assert.equal(body.SignResponses.length, 250);
  assert.deepEqual(body.SignResponses.map((r: any) => r.RequestID), requests(250).map((r) => r.RequestID));
  const last = await verifyCades(Buffer.from(body.SignResponses[249].SignatureObject.Base64Signature.Value, 'base64'), { trustAnchors: k.pki.trustAnchors() });
  assert.equal(last.content.toString(), bundle(249));
  const pinAfter = await post(k.app, '/CardService/GetPinStatus', { Context: CONTEXT, CardHandle: k.hba, PinTyp: 'PIN.QES' });
  assert.deepEqual([pinAfter.body.PinStatus, pinAfter.body.LeftTries], ['VERIFIABLE', 3], 'right PIN reset the counter; QES state ends with the batch');
});

test('a batch of 251 documents is refused', async () => {
  const { status, body } = await post(k.app, '/SignatureService/SignDocument', {
    Context: CONTEXT, CardHandle: k.hba, JobNumber: await jobNumber(), SignRequests: requests(251),
  });
  assert.equal(status, 400);
  assert.equal(body.error, 'BATCH_TOO_LARGE');
  assert.match(body.message, /höchstens 250 Dokumente.*251/);
});

test('IncludeRevocationInfo embeds an OCSP response', async () => {
  const { status, body } = await post(k.app, '/SignatureService/SignDocument', {
    Context: CONTEXT, CardHandle: k.hba, JobNumber: await jobNumber(),
    SignRequests: [{ ...requests(1)[0], IncludeRevocationInfo: true }],
  });
  assert.equal(status, 200);
  const cms = Buffer.from(body.SignResponses[0].SignatureObject.Base64Signature.Value, 'base64');
  assert.ok(hasOid(cms, '06082b06010505071002'), 'id-ri-ocsp-response present');
  await verifyCades(cms, { trustAnchors: k.pki.trustAnchors() });
});

test('an SMC-B signs with its OSIG key; an eGK cannot sign documents', async () => {
  const [smcb] = k.cards.cardsForIdentity(pharmacies[3].id);
  const ok = await post(k.app, '/SignatureService/SignDocument', { Context: CONTEXT, CardHandle: smcb.handle, JobNumber: await jobNumber(), SignRequests: requests(2) });
  assert.equal(ok.status, 200);
  const verified = await verifyCades(Buffer.from(ok.body.SignResponses[1].SignatureObject.Base64Signature.Value, 'base64'), { trustAnchors: k.pki.trustAnchors() });
  assert.ok(verified.signer.equals(smcb.osig!.cert));
  const egk = k.cards.cards({ type: 'EGK' })[0];
  const refused = await post(k.app, '/SignatureService/SignDocument', { Context: CONTEXT, CardHandle: egk.handle, JobNumber: await jobNumber(), SignRequests: requests(1) });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error, 'CARD_TYPE');
});

test('bad requests get clear errors', async () => {
  const base = { Context: CONTEXT, CardHandle: k.hba, JobNumber: await jobNumber(), SignRequests: requests(1) };
  const cases: [object, number, string, RegExp][] = [
    [{ ...base, Context: undefined }, 400, 'CONTEXT', /Context fehlt/],
    [{ ...base, Context: { ...CONTEXT, WorkplaceId: '' } }, 400, 'CONTEXT', /WorkplaceId/],
    [{ ...base, CardHandle: 'HBA-999' }, 404, 'CARD_NOT_FOUND', /HBA-999/],
    [{ ...base, JobNumber: 'x' }, 400, 'JOB_NUMBER', /ABC-123/],
    [{ ...base, SignRequests: [] }, 400, 'INVALID_REQUEST', /mindestens ein Dokument/],
    [{ ...base, SignRequests: [{ RequestID: 'a', Document: { Base64Data: '***' } }] }, 400, 'INVALID_REQUEST', /kein Base64/],
    [{ ...base, SignRequests: [...requests(1), ...requests(1)] }, 400, 'INVALID_REQUEST', /doppelt/],
    [{ ...base, SignRequests: [{ ...requests(1)[0], IncludeEContent: false }] }, 400, 'INVALID_REQUEST', /detached/],
    [{ ...base, SignRequests: [{ ...requests(1)[0], Document: { Base64Data: 'AAAA', ShortText: 'x'.repeat(31) } }] }, 400, 'INVALID_REQUEST', /30 Zeichen/],
    [{ ...base, SignRequests: [{ ...requests(1)[0], Document: { Base64Data: 'AAAA', MimeType: 'text' } }] }, 400, 'INVALID_REQUEST', /MimeType/],
    [{ ...base, SignRequests: [{ ...requests(1)[0], Document: { Base64Data: 'AAAA', MimeType: 42 } }] }, 400, 'INVALID_REQUEST', /MimeType/],
  ];
  for (const [payload, status, error, message] of cases) {
    const res = await post(k.app, '/SignatureService/SignDocument', payload);
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error, error);
    assert.match(res.body.message, message);
  }
});
