// Flowtype 162 (DiGA) over the Fachdienst API on PGlite and PostgreSQL: the gematik eVDGA example is activated, a
// pharmacy may not accept it, the payer (Kostenträger) accepts it and closes it with a MedicationDispense_DiGA (no
// Medication); the insured sees the DiGA by name and the access protocol, and may assign it to the payer (DispReq
// without payload). Psychotherapists may prescribe DiGAs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { signCades } from '../../crypto/cades.ts';
import type { KeyAndCert } from '../../crypto/pki.ts';
import { parseFhir, toXml } from '../../fhir/codec.ts';
import { kvnrWithCheckDigit } from '../../fhir/identifiers.ts';
import { setAuthoredOn, setPrescriptionId } from '../../fhir/kbv/build-bundle.ts';
import { addMonths, berlinDay } from '../../fhir/kbv/dates.ts';
import { EVDGA_EXAMPLE, EVDGA_EXAMPLE_REPAIRS } from '../../fhir/kbv/test-support.ts';
import type { Bundle, Communication, MedicationDispense, Parameters, Task } from '../../fhir/types.ts';
import { splitTaskBundle, summarizeTask } from '../../insured/task-view.ts';
import { forEachEngine } from '../../storage/test-postgres.ts';
import { readFixture } from '../../../test/fixtures.ts';
import { EXT, NS } from '../task-resource.ts';
import {
  activateParameters, call, createTask, createWorld, identifierValue, signedPrescription, type TaskHandle, type World,
} from '../testing.ts';

const LUDGER = {
  id: 'insured-koenigsstein', role: 'insured' as const, professionOID: '1.2.276.0.76.4.49', name: 'Ludger Königsstein',
  kvnr: kvnrWithCheckDigit('X23456789'),
};
// KBV_PR_EVDGA_Bundle 1.1 (the example's version) was accepted until 2026-03-31 (versions.ts): the Fachdienst's clock
// stands on that day; the QES is made now, as the test PKI wants.
const ACCEPTED_DAY = new Date('2026-03-31T10:00:00Z');

/** The repaired gematik example for the Task, authoredOn = signing day, QES of the test HBA or `signer` (base64). */
function signedExample(world: World, task: TaskHandle, signingTime: Date, signer: KeyAndCert = world.qes): string {
  const bundle = parseFhir(readFixture(`kbv-bundle/${EVDGA_EXAMPLE}`), 'xml') as Bundle;
  for (const repair of EVDGA_EXAMPLE_REPAIRS) repair.edit(bundle);
  setPrescriptionId(bundle, task.id);
  setAuthoredOn(bundle, berlinDay(signingTime));
  return signCades(Buffer.from(toXml(bundle), 'utf8'), signer, { signingTime }).toString('base64');
}

function activate(world: World, task: TaskHandle, data: string) {
  return call(world, 'practice', 'POST', `/Task/${task.id}/$activate`, {
    format: 'xml', body: activateParameters(data), headers: { 'x-accesscode': task.accessCode },
  });
}

/** The gematik DiGA close input (GEM_ERP_PR_MedicationDispense_DiGA, no Medication) for this Task and performer. */
function closeInput(world: World, task: TaskHandle, performer: string): Parameters {
  const parameters = JSON.parse(readFixture('operations/close_request_Parameters_DiGA.json')) as Parameters;
  const dispense = parameters.parameter![0].part![0].resource as MedicationDispense;
  dispense.identifier![0].value = task.id;
  dispense.subject!.identifier!.value = task.kvnr;
  dispense.performer![0].actor.identifier!.value = performer;
  dispense.whenHandedOver = berlinDay(world.clock.now);
  return parameters;
}

forEachEngine('flowtype 162 (DiGA)', (getDb) => {
  let world: World;
  before(async () => {
    world = await createWorld(getDb());
    world.clock.now = new Date(ACCEPTED_DAY);
  });
  after(() => world.close());

  test('activate the eVDGA example, payer accepts (pharmacy may not), closes without Medication; the insured sees the DiGA', async () => {
    const created = await createTask(world, '162', 'xml');
    const signingTime = new Date();
    const activated = await activate(world, created, signedExample(world, created, signingTime));
    assert.equal(activated.status, 200, JSON.stringify(activated.body));
    const ready = activated.body as Task;
    assert.equal(ready.status, 'ready');
    assert.equal(ready.for?.identifier?.value, LUDGER.kvnr);
    const expiry = addMonths(berlinDay(signingTime), 3);
    assert.equal(ready.extension?.find((e) => e.url === EXT.expiryDate)?.valueDate, expiry);
    assert.equal(ready.extension?.find((e) => e.url === EXT.acceptDate)?.valueDate, expiry);
    const task: TaskHandle = { ...created, kvnr: LUDGER.kvnr };

    const byPharmacy = await call(world, 'pharmacy', 'POST', `/Task/${task.id}/$accept?ac=${task.accessCode}`);
    assert.equal(byPharmacy.status, 403, JSON.stringify(byPharmacy.body));
    const accepted = await call(world, 'payer', 'POST', `/Task/${task.id}/$accept?ac=${task.accessCode}`, { format: 'xml' });
    assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
    const inProgress = (accepted.body as Bundle).entry![0].resource as Task;
    assert.equal(inProgress.status, 'in-progress');
    const payer = world.identity('payer').telematikId!;
    assert.equal(inProgress.owner?.identifier?.value, payer);
    assert.deepEqual(inProgress.performerType?.[0].coding?.map((c) => c.code), ['urn:oid:1.2.276.0.76.4.59']);
    assert.equal((accepted.body as Bundle).entry![1].resource?.resourceType, 'Binary', 'the QES goes to the payer');
    const secret = identifierValue(inProgress, NS.secret)!;

    const closed = await call(world, 'payer', 'POST', `/Task/${task.id}/$close?secret=${secret}`, { format: 'xml', body: closeInput(world, task, payer) });
    assert.equal(closed.status, 200, JSON.stringify(closed.body));
    const receipt = closed.body as Bundle;
    assert.equal(receipt.type, 'document');
    assert.equal(receipt.identifier?.value, task.id);

    // the insured: the Task list, the Task with the Fachdienst's copy read as a DiGA, the access protocol
    const authorization = `Bearer ${await world.tokenOf(LUDGER)}`;
    const list = await call(world, 'insured', 'GET', '/Task', { headers: { authorization } });
    assert.equal(list.status, 200, JSON.stringify(list.body));
    assert.deepEqual((list.body as Bundle).entry?.map((e) => e.resource?.id), [task.id]);
    const own = await call(world, 'insured', 'GET', `/Task/${task.id}`, { headers: { authorization } });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    const { task: seen, prescription } = splitTaskBundle(own.body as Bundle);
    const summary = summarizeTask(seen!, prescription);
    assert.equal(summary.status, 'completed');
    assert.equal(summary.flowType, '162');
    assert.equal(summary.medication, 'Vantis KHK und Herzinfarkt 001');
    assert.equal(summary.prescriber, 'Jörgen Meier');
    assert.equal(summary.practice, 'Hausarztpraxis Dr. Topp-Glücklich');
    const audit = await call(world, 'insured', 'GET', '/AuditEvent', { headers: { authorization } });
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    assert.ok((audit.body as Bundle).entry!.length >= 3, 'activate, accept and close are in the access protocol');
    // the dispense information: the MedicationDispense_DiGA, and no Medication with it
    const dispenses = await call(world, 'insured', 'GET', `/MedicationDispense?identifier=${NS.prescriptionId}|${task.id}`, { headers: { authorization } });
    assert.equal(dispenses.status, 200, JSON.stringify(dispenses.body));
    const found = (dispenses.body as Bundle).entry!.map((e) => e.resource!);
    assert.deepEqual(found.map((r) => r.resourceType), ['MedicationDispense']);
    assert.equal((found[0] as MedicationDispense).medicationReference?.display, 'Gematico Diabetestherapie');
  });

  test('psychotherapists may prescribe a DiGA (162) but not a medicine (160)', async () => {
    const psychotherapist = world.pki.issue({ kind: 'hba-qes', name: 'Psychotherapeutin', professionOID: '1.2.276.0.76.4.45' });
    const diga = await createTask(world, '162', 'xml');
    const signingTime = new Date();
    const ok = await activate(world, diga, signedExample(world, diga, signingTime, psychotherapist));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const medicine = await createTask(world, '160', 'xml');
    const refused = await activate(world, medicine, signedPrescription(world, medicine.id, '160', { signer: psychotherapist, signingTime }));
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.match(refused.body.issue[0].details.text, /Berufsgruppe im Signaturzertifikat ist zur Ausstellung dieser Verordnung nicht berechtigt/);
  });

  test('the insured assigns the DiGA to the payer: DispReq without payload (A_27767-01), not to a pharmacy', async () => {
    const task = await createTask(world, '162', 'xml');
    assert.equal((await activate(world, task, signedExample(world, task, new Date()))).status, 200);
    const dispReq = (recipient: string): Communication => {
      const c = JSON.parse(readFixture('communication/post_DispReq_DiGA_request.json')) as Communication;
      delete c.id;
      c.recipient![0].identifier!.value = recipient;
      c.basedOn![0].reference = `Task/${task.id}/$accept?ac=${task.accessCode}`;
      return c;
    };
    const authorization = `Bearer ${await world.tokenOf(LUDGER)}`;
    const toPharmacy = await call(world, 'insured', 'POST', '/Communication', { body: dispReq(world.identity('pharmacy').telematikId!), headers: { authorization } });
    assert.equal(toPharmacy.status, 403, JSON.stringify(toPharmacy.body));
    const toPayer = await call(world, 'insured', 'POST', '/Communication', { body: dispReq(world.identity('payer').telematikId!), headers: { authorization } });
    assert.equal(toPayer.status, 201, JSON.stringify(toPayer.body));
    assert.equal((toPayer.body as Communication).payload, undefined);
  });
});
