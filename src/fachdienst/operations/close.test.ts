// POST /Task/{id}/$close?secret=… (erp-api §1.2, §6.1): the receipt (GEM_ERP_PR_Bundle) with Composition, Device and
// the Digest of the prescription's QES, signed by the Fachdienst; the gematik error codes around it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { extractCadesContent, verifyCades } from '../../crypto/cades.ts';
import { createTestPki } from '../../crypto/pki.ts';
import { TrustStore } from '../../crypto/trust.ts';
import { parseFhir } from '../../fhir/codec.ts';
import type { Binary, Bundle, Composition, Device, Task } from '../../fhir/types.ts';
import { EXT, NS, PROFILE, fachdienstDevice } from '../task-resource.ts';
import { FACHDIENST_VERSION } from '../app.ts';
import {
  BASE_URL, acceptedTask, call, cancelledTask, dispenseParameters, readyTask, type Format, type TaskHandle, useWorld,
} from '../testing.ts';
import { NO_DISPENSE_TEXT } from './close.ts';

const env = useWorld();

const close = (t: TaskHandle, options: { secret?: string; body?: boolean; format?: Format; who?: 'pharmacy' | 'pharmacy2' } = {}) =>
  call(env.world, options.who ?? 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${options.secret ?? t.secret}`, {
    format: options.format, body: options.body === false ? undefined : dispenseParameters(env.world, t),
  });

/** The QES the pharmacy got on $accept, as bytes. */
async function qesOf(t: TaskHandle): Promise<Buffer> {
  const r = await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret}`);
  return Buffer.from(((r.body as Bundle).entry![1].resource as Binary).data!, 'base64');
}

for (const format of ['xml', 'json'] as Format[]) {
  test(`receipt (${format}): document Bundle of Composition, Device, Digest; period from $accept to $close`, async () => {
    const acceptedAt = new Date(env.world.clock.now.getTime());
    const t = await acceptedTask(env.world, '160', format);
    const qes = await qesOf(t);
    const closedAt = new Date(acceptedAt.getTime() + 90 * 60_000); // closed 90 minutes later
    env.world.clock.now = closedAt;
    const r = await close(t, { format }).finally(() => {
      env.world.clock.now = acceptedAt;
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.match(String(r.res.headers['content-type']), format === 'xml' ? /^application\/fhir\+xml/ : /^application\/fhir\+json/);

    const receipt = r.body as Bundle;
    assert.equal(receipt.resourceType, 'Bundle');
    assert.deepEqual(receipt.meta?.profile, [PROFILE('GEM_ERP_PR_Bundle')]);
    assert.equal(receipt.type, 'document');
    assert.deepEqual(receipt.identifier, { system: NS.prescriptionId, value: t.id });
    assert.equal(receipt.timestamp, closedAt.toISOString().replace('Z', '+00:00'));
    assert.deepEqual(receipt.link, [{ relation: 'self', url: `${BASE_URL}/Task/${t.id}/$close/` }]);
    assert.deepEqual(receipt.entry!.map((e) => e.resource!.resourceType), ['Composition', 'Device', 'Binary'], 'exactly three entries');
    assert.ok(receipt.entry!.every((e) => /^urn:uuid:[0-9a-f-]{36}$/.test(e.fullUrl!)));
    // as in the gematik receipts: Composition and Digest under their own id, the Device is always Device/1
    assert.equal(receipt.entry![0].fullUrl, `urn:uuid:${receipt.entry![0].resource!.id}`);
    assert.equal(receipt.entry![1].resource!.id, '1');
    assert.equal(receipt.entry![2].fullUrl, `urn:uuid:${receipt.entry![2].resource!.id}`);
    const [compositionUrl, deviceUrl, digestUrl] = receipt.entry!.map((e) => e.fullUrl);

    const composition = receipt.entry![0].resource as Composition;
    assert.deepEqual(composition.meta?.profile, [PROFILE('GEM_ERP_PR_Composition')]);
    assert.ok(compositionUrl);
    assert.deepEqual(composition.extension, [{ url: EXT.beneficiary, valueIdentifier: { system: NS.telematikId, value: env.world.identity('pharmacy').telematikId } }]);
    assert.equal(composition.status, 'final');
    assert.deepEqual(composition.type.coding, [{ system: NS.documentType, code: '3', display: 'Receipt' }]);
    assert.equal(composition.title, 'Quittung');
    assert.deepEqual(composition.author, [{ reference: deviceUrl }]);
    assert.equal(Date.parse(composition.date), closedAt.getTime());
    const period = composition.event![0].period!;
    assert.ok(Math.abs(Date.parse(period.start!) - acceptedAt.getTime()) < 1000, 'start = time of $accept');
    assert.equal(Date.parse(period.end!), closedAt.getTime(), 'end = time of $close');
    assert.deepEqual(composition.section, [{ entry: [{ reference: digestUrl }] }]);

    const device = receipt.entry![1].resource as Device;
    assert.deepEqual({ ...device }, fachdienstDevice(FACHDIENST_VERSION));
    assert.equal(device.deviceName![0].name, 'E-Rezept-Fachdienst');
    assert.equal(device.contact![0].value, 'betrieb@gematik.de');

    // Digest: SHA-256 of the signed prescription content, i.e. the messageDigest the QES was made over
    const digest = receipt.entry![2].resource as Binary;
    assert.deepEqual(digest.meta?.profile, [PROFILE('GEM_ERP_PR_Digest')]);
    assert.equal(digest.contentType, 'application/octet-stream');
    assert.equal(digest.data, createHash('sha256').update(extractCadesContent(qes)).digest('base64'));
    assert.equal(Buffer.from(digest.data!, 'base64').length, 32);

  });
}

test('receipt signature: CAdES by the Fachdienst key, verifies against the trust list, signs the receipt itself', async () => {
  const t = await acceptedTask(env.world);
  const r = await close(t, { format: 'xml' });
  assert.equal(r.status, 200);
  const receipt = r.body as Bundle;
  const signature = receipt.signature!;
  assert.deepEqual(signature.type, [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1' }]);
  assert.equal(signature.sigFormat, 'application/pkcs7-mime');
  assert.equal(signature.who.reference, `${BASE_URL}/Device/1`);
  assert.equal(signature.when, receipt.timestamp);

  const trust = TrustStore.fromCertificates(env.world.pki.trustList());
  const verified = await verifyCades(Buffer.from(signature.data!, 'base64'), { trust });
  assert.ok(verified.signer.equals(env.world.fd.cert), 'signed with C.FD.SIG');
  assert.equal(verified.signingTime?.getTime(), Math.floor(Date.parse(receipt.timestamp!) / 1000) * 1000);
  const signed = parseFhir(verified.content.toString('utf8'), 'xml') as Bundle;
  const { signature: _ignored, ...unsigned } = receipt;
  assert.deepEqual(signed, unsigned, 'the CMS content is the receipt without its signature');

  // a changed byte breaks it; another CA's trust list does not accept it
  const tampered = Buffer.from(signature.data!, 'base64');
  const at = tampered.indexOf(Buffer.from('Quittung'));
  tampered[at] ^= 0x01;
  await assert.rejects(verifyCades(tampered, { trust }), /messageDigest/);
  await assert.rejects(verifyCades(Buffer.from(signature.data!, 'base64'), { trust: TrustStore.fromCertificates(createTestPki().trustList()) }));
});

test('after $close: Task completed, owner and receipt output; the pharmacy gets the same receipt again', async () => {
  const t = await acceptedTask(env.world);
  const receipt = (await close(t)).body as Bundle;
  const again = await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret}`);
  assert.equal(again.status, 200);
  const [taskEntry, , receiptEntry] = (again.body as Bundle).entry!;
  const task = taskEntry.resource as Task;
  assert.equal(task.status, 'completed');
  assert.equal(task.owner?.identifier?.value, env.world.identity('pharmacy').telematikId);
  assert.deepEqual(task.output?.[0].valueReference, { reference: receipt.id });
  assert.ok(task.extension!.some((e) => e.url === EXT.lastMedicationDispense), '$close with body sets lastMedicationDispense');
  assert.deepEqual(receiptEntry.resource, receipt);
  // the insured now sees the dispense
  const dispenses = (await call(env.world, 'insured', 'GET', `/MedicationDispense?identifier=${NS.prescriptionId}|${t.id}`)).body as Bundle;
  assert.equal(dispenses.entry?.filter((e) => e.search?.mode === 'match').length, 1);
});

test('403 with a wrong Secret (brute_force hint), none at all, or by a role that may not close', async () => {
  const t = await acceptedTask(env.world);
  const wrong = await close(t, { secret: 'a'.repeat(64) });
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.issue[0].details.text, 'No or invalid secret provided for Task');
  assert.equal(wrong.res.headers['vau-error-code'], 'brute_force');
  const none = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$close`, { body: dispenseParameters(env.world, t) });
  assert.equal(none.status, 403);
  for (const who of ['insured', 'practice'] as const) {
    const r = await call(env.world, who, 'POST', `/Task/${t.id}/$close?secret=${t.secret}`, { body: dispenseParameters(env.world, t) });
    assert.equal(r.status, 403, who);
  }
  assert.equal((await close(t)).status, 200, 'still closable with the right Secret');
});

test('second $close: 403 "Task not in status in-progress but in status completed"', async () => {
  const t = await acceptedTask(env.world);
  assert.equal((await close(t)).status, 200);
  const again = await close(t);
  assert.equal(again.status, 403);
  assert.equal(again.body.issue[0].details.text, 'Task not in status in-progress but in status completed');
});

test('empty body without prior $dispense: 403 with the gematik text; the Task stays in-progress', async () => {
  const t = await acceptedTask(env.world);
  for (const format of ['json', 'xml'] as Format[]) {
    const r = await close(t, { body: false, format });
    assert.equal(r.status, 403);
    assert.equal(r.body.issue[0].details.text, NO_DISPENSE_TEXT);
    assert.equal(r.body.issue[0].details.text, 'Abschluss des Workflows konnte nicht durchgeführt werden. Dispensierinformationen wurden nicht bereitgestellt.');
  }
  const task = ((await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret}`)).body as Bundle).entry![0].resource as Task;
  assert.equal(task.status, 'in-progress');
  // after $dispense the empty $close completes
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$dispense?secret=${t.secret}`, { body: dispenseParameters(env.world, t) })).status, 204);
  assert.equal((await close(t, { body: false })).status, 200);
});

test('wrong state and deleted: ready 403, cancelled 410, unknown 404', async () => {
  const ready = await readyTask(env.world);
  const r = await close({ ...ready, kvnr: 'X110614233' }, { secret: 'a'.repeat(64) });
  assert.equal(r.status, 403);
  const cancelled = await cancelledTask(env.world);
  const gone = await close({ ...cancelled, kvnr: 'X110614233' }, { secret: 'a'.repeat(64) });
  assert.equal(gone.status, 410);
  assert.equal(gone.body.issue[0].details.text, 'Task has already been deleted');
  const unknown = await close({ id: '160.999.999.999.999.07', flowType: '160', accessCode: '', kvnr: 'X110614233' }, { secret: 'a'.repeat(64) });
  assert.equal(unknown.status, 404);
});

test('dispense data in the body is checked: 400 for a MedicationDispense of another Task', async () => {
  const t = await acceptedTask(env.world);
  const other = await acceptedTask(env.world);
  const r = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret}`, { body: dispenseParameters(env.world, other) });
  assert.equal(r.status, 400);
  assert.equal(r.body.issue[0].details.text, 'Prescription ID in MedicationDispense does not match the one in the task');
  assert.equal((await close(t)).status, 200);
});
