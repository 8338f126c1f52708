import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCertificate } from '../../crypto/certificate.ts';
import { formatPrescriptionId } from '../../fhir/identifiers.ts';
import { PROFESSION } from '../../seed/identities.ts';
import type { FhirError } from '../../fhir/errors.ts';
import type { MedicationRequest, Practitioner } from '../../fhir/types.ts';
import { ePrescriptionOf } from './activate.ts';
import { activateParameters, call, createTask, signedPrescription, useWorld } from '../testing.ts';

const env = useWorld();

async function activate(taskId: string, accessCode: string, data: string) {
  return call(env.world, 'practice', 'POST', `/Task/${taskId}/$activate`, { body: activateParameters(data), headers: { 'x-accesscode': accessCode } });
}

test('second $activate: 403 "Task not in status draft but in status ready"', async () => {
  const t = await createTask(env.world);
  const data = signedPrescription(env.world, t.id, '160');
  assert.equal((await activate(t.id, t.accessCode, data)).status, 200);
  const again = await activate(t.id, t.accessCode, data);
  assert.equal(again.status, 403);
  assert.equal(again.body.issue[0].details.text, 'Task not in status draft but in status ready');
});

test('wrong AccessCode 403; unknown Task 404; AccessCode also as ?ac=', async () => {
  const t = await createTask(env.world);
  const data = signedPrescription(env.world, t.id, '160');
  assert.equal((await activate(t.id, 'a'.repeat(64), data)).status, 403);
  assert.equal((await activate(formatPrescriptionId('160', 999_999_999_999), t.accessCode, data)).status, 404);
  const viaQuery = await call(env.world, 'practice', 'POST', `/Task/${t.id}/$activate?ac=${t.accessCode}`, { body: activateParameters(data) });
  assert.equal(viaQuery.status, 200);
});

test('revoked HBA certificate: 400 with the German reason; OCSP unavailable: 512', async () => {
  const revoked = env.world.pki.issue({ kind: 'hba-qes', name: 'Dr. Gesperrt' });
  env.world.revocations.revoke(parseCertificate(revoked.cert).serial);
  const t = await createTask(env.world);
  const r = await activate(t.id, t.accessCode, signedPrescription(env.world, t.id, '160', { signer: revoked }));
  assert.equal(r.status, 400);
  assert.equal(r.body.issue[0].details.text, 'Das Signaturzertifikat ist gesperrt.');
  assert.equal(r.res.headers['vau-error-code'], 'invalid_prescription');

  env.world.ocspDown.value = true;
  try {
    const t2 = await createTask(env.world);
    const down = await activate(t2.id, t2.accessCode, signedPrescription(env.world, t2.id, '160'));
    assert.equal(down.status, 512);
  } finally {
    env.world.ocspDown.value = false;
  }
});

test('signer without a prescribing profession (pharmacist HBA): 400; Task stays draft', async () => {
  const pharmacist = env.world.pki.issue({ kind: 'hba-qes', name: 'Apothekerin', professionOID: PROFESSION.pharmacist });
  const t = await createTask(env.world);
  const r = await activate(t.id, t.accessCode, signedPrescription(env.world, t.id, '160', { signer: pharmacist }));
  assert.equal(r.status, 400);
  assert.equal((await activate(t.id, t.accessCode, signedPrescription(env.world, t.id, '160'))).status, 200);
});

test('bundle rules: PrescriptionID mismatch, signing day ≠ authoredOn, no base64, not a CMS', async () => {
  const t = await createTask(env.world);
  const other = await createTask(env.world);
  const mismatch = await activate(t.id, t.accessCode, signedPrescription(env.world, t.id, '160', { prescriptionId: other.id }));
  assert.equal(mismatch.status, 400);
  const wrongDay = await activate(t.id, t.accessCode, signedPrescription(env.world, t.id, '160', {
    edit: (b) => {
      const mr = b.entry!.find((e) => e.resource?.resourceType === 'MedicationRequest')!.resource as MedicationRequest;
      mr.authoredOn = '2020-01-01';
    },
  }));
  assert.equal(wrongDay.status, 400);
  assert.equal(wrongDay.body.issue[0].details.text, 'Ausstellungsdatum und Signaturzeitpunkt weichen voneinander ab, müssen aber taggleich sein');
  assert.equal((await activate(t.id, t.accessCode, '!!!not base64')).status, 400);
  assert.equal((await activate(t.id, t.accessCode, Buffer.from('hello').toString('base64'))).status, 400);
  const noParam = await call(env.world, 'practice', 'POST', `/Task/${t.id}/$activate`, {
    body: { resourceType: 'Parameters', parameter: [] } as never, headers: { 'x-accesscode': t.accessCode },
  });
  assert.equal(noParam.status, 400);
});

test('LANR with a wrong check digit: 252 success with warning', async () => {
  const t = await createTask(env.world);
  const r = await activate(t.id, t.accessCode, signedPrescription(env.world, t.id, '160', {
    edit: (b) => {
      const p = b.entry!.find((e) => e.resource?.resourceType === 'Practitioner')!.resource as Practitioner;
      const lanr = p.identifier!.find((i) => /lanr|ANR/i.test(i.system ?? '') || /^\d{9}$/.test(i.value ?? ''))!;
      lanr.value = '838382302';
    },
  }));
  assert.equal(r.status, 252, JSON.stringify(r.body));
  assert.equal(r.body.status, 'ready');
  assert.match(String(r.res.headers.warning), /^252 /);
});

test('ePrescription data: canonical, line-broken and unpadded base64 are read; other characters and stray bits are 400', () => {
  const params = (data: string) => ({ resourceType: 'Parameters', parameter: [{ name: 'ePrescription', resource: { resourceType: 'Binary', contentType: 'application/pkcs7-mime', data } }] });
  const bytes = Buffer.from('prescription bytes!');
  const b64 = bytes.toString('base64');
  assert.ok(b64.endsWith('='), 'the sample needs padding');
  assert.deepEqual(ePrescriptionOf(params(b64)), bytes);
  assert.deepEqual(ePrescriptionOf(params(`${b64.slice(0, 8)}\r\n${b64.slice(8)}`)), bytes);
  assert.deepEqual(ePrescriptionOf(params(b64.replace(/=+$/, ''))), bytes);
  for (const bad of ['QR==', 'QUI=x', 'QU!=', 'QUJ', '====']) {
    assert.throws(() => ePrescriptionOf(params(bad)), (err: FhirError) => err.status === 400, bad);
  }
  assert.deepEqual(ePrescriptionOf(params('QQ==')), Buffer.from('A'));
  assert.deepEqual(ePrescriptionOf(params('QUI=')), Buffer.from('AB'));
});
