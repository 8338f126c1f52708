// POST /Task/{id}/$dispense?secret=… (erp-api §1.2, §8.3): the pharmacy records what it handed over while the Task
// stays in-progress. Repeatable until $close, each call replacing the stored data; 400 when a MedicationDispense
// names another prescription, insured or pharmacy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Medication, MedicationDispense, Parameters, Resource, Task } from '../../fhir/types.ts';
import { EXT, NS } from '../task-resource.ts';
import { TaskStore } from '../task-store.ts';
import {
  acceptedTask, call, cancelledTask, completedTask, createTask, dispenseParameters, readyTask,
  type TaskHandle, type Who, useWorld,
} from '../testing.ts';

let store: TaskStore;
const env = useWorld({
  setup: ({ database }) => {
    store = new TaskStore(database);
  },
});

const dispense = (t: TaskHandle, body: Resource | undefined, who: Who = 'pharmacy', secret = t.secret) =>
  call(env.world, who, 'POST', `/Task/${t.id}/$dispense?secret=${secret}`, { body });

/** Parameters with one rxDispensation per (day, medication text). */
function dispenses(t: TaskHandle, items: { day: string; medication: string }[]): Parameters {
  const groups = items.map(({ day, medication }) => {
    const group = (dispenseParameters(env.world, t, 'pharmacy', day) as Parameters).parameter![0];
    (group.part![1].resource as Medication).code!.text = medication;
    return group;
  });
  return { resourceType: 'Parameters', parameter: groups };
}

/** What the insured sees for the Task: [MedicationDispense, its Medication] pairs. */
async function insuredDispenses(t: TaskHandle): Promise<{ dispense: MedicationDispense; medication: Medication }[]> {
  const r = await call(env.world, 'insured', 'GET', `/MedicationDispense?identifier=${NS.prescriptionId}|${t.id}`);
  assert.equal(r.status, 200);
  const entries = (r.body as Bundle).entry ?? [];
  const medications = new Map(entries.filter((e) => e.search?.mode === 'include').map((e) => [e.fullUrl, e.resource as Medication]));
  return entries.filter((e) => e.search?.mode === 'match').map((e) => {
    const d = e.resource as MedicationDispense;
    return { dispense: d, medication: medications.get(d.medicationReference!.reference)! };
  });
}

const pharmacyView = async (t: TaskHandle) =>
  ((await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret}`)).body as Bundle).entry![0].resource as Task;

test('204: Task stays in-progress, owner and lastMedicationDispense set, the insured sees the dispense', async () => {
  const t = await acceptedTask(env.world);
  assert.deepEqual(await insuredDispenses(t), [], 'nothing before $dispense');
  const r = await dispense(t, dispenseParameters(env.world, t));
  assert.equal(r.status, 204, JSON.stringify(r.body));
  assert.equal(r.res.body, '');
  const task = await pharmacyView(t);
  assert.equal(task.status, 'in-progress');
  assert.equal(task.owner?.identifier?.value, env.world.identity('pharmacy').telematikId);
  const last = task.extension!.find((e) => e.url === EXT.lastMedicationDispense)!.valueInstant!;
  assert.equal(Date.parse(last), env.world.clock.now.getTime());

  const seen = await insuredDispenses(t);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].dispense.id, t.id, 'the first dispense is named after the Task');
  assert.equal(seen[0].dispense.subject?.identifier?.value, t.kvnr);
  assert.equal(seen[0].dispense.performer![0].actor.identifier?.value, env.world.identity('pharmacy').telematikId);
  assert.match(seen[0].dispense.medicationReference!.reference!, /^urn:uuid:[0-9a-f-]{36}$/);
  assert.equal(seen[0].medication.code?.text, 'Sumatriptan-1a Pharma 100 mg Tabletten');
});

test('repeatable until $close: each call replaces the stored data (two dispenses, then one other)', async () => {
  const t = await acceptedTask(env.world);
  const first = dispenses(t, [{ day: '2026-01-10', medication: 'Packung A' }, { day: '2026-01-11', medication: 'Packung B' }]);
  assert.equal((await dispense(t, first)).status, 204);
  const seen1 = await insuredDispenses(t);
  assert.deepEqual(seen1.map((s) => [s.dispense.id, s.dispense.whenHandedOver, s.medication.code?.text]), [
    [t.id, '2026-01-10', 'Packung A'], [`${t.id}-2`, '2026-01-11', 'Packung B'],
  ]);

  env.world.clock.now = new Date(env.world.clock.now.getTime() + 60_000);
  const second = dispenses(t, [{ day: '2026-01-12', medication: 'Packung C' }]);
  assert.equal((await dispense(t, second)).status, 204);
  const seen2 = await insuredDispenses(t);
  assert.deepEqual(seen2.map((s) => [s.dispense.id, s.dispense.whenHandedOver, s.medication.code?.text]), [[t.id, '2026-01-12', 'Packung C']]);
  const rows = await env.database.db.selectFrom('fachdienst_medication_dispense').select('id').where('prescription_id', '=', t.id).execute();
  assert.equal(rows.length, 1, 'the earlier rows are gone, not just hidden');
  const last = (await pharmacyView(t)).extension!.find((e) => e.url === EXT.lastMedicationDispense)!.valueInstant!;
  assert.equal(Date.parse(last), env.world.clock.now.getTime(), 'lastMedicationDispense moves with each call');

  // $close without body completes with what $dispense stored
  const closed = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret}`);
  assert.equal(closed.status, 200);
  assert.deepEqual((await insuredDispenses(t)).map((s) => s.medication.code?.text), ['Packung C']);
  // and after $close there is nothing to change any more
  const late = await dispense(t, first);
  assert.equal(late.status, 403);
  assert.equal(late.body.issue[0].details.text, 'Task not in status in-progress but in status completed');
});

test('400 when the MedicationDispense names another prescription, insured or pharmacy; stored data unchanged', async () => {
  const t = await acceptedTask(env.world);
  assert.equal((await dispense(t, dispenses(t, [{ day: '2026-02-01', medication: 'Original' }]))).status, 204);
  const cases: [string, Resource, string][] = [
    ['PrescriptionID', dispenseParameters(env.world, { ...t, id: '160.000.000.000.001.54' }), 'Prescription ID in MedicationDispense does not match the one in the task'],
    ['KVNR', dispenseParameters(env.world, { ...t, kvnr: 'A123456780' }), 'KVNR in MedicationDispense does not match the one in the task'],
    ['Telematik-ID', dispenseParameters(env.world, t, 'pharmacy2'), 'Telematik-ID in MedicationDispense does not match the one of the caller'],
  ];
  for (const [name, body, text] of cases) {
    const r = await dispense(t, body);
    assert.equal(r.status, 400, name);
    assert.equal(r.body.resourceType, 'OperationOutcome');
    assert.equal(r.body.issue[0].details.text, text, name);
  }
  // one bad dispense among good ones refuses the whole call
  const mixed = dispenses(t, [{ day: '2026-02-02', medication: 'Neu' }]);
  mixed.parameter!.push((dispenseParameters(env.world, { ...t, kvnr: 'A123456780' }) as Parameters).parameter![0]);
  assert.equal((await dispense(t, mixed)).status, 400);
  assert.deepEqual((await insuredDispenses(t)).map((s) => s.medication.code?.text), ['Original']);
});

test('400 for malformed input: no rxDispensation, other parameters, missing parts, dates that are not days', async () => {
  const t = await acceptedTask(env.world);
  const good = dispenseParameters(env.world, t) as Parameters;
  const withoutMedication: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'rxDispensation', part: [good.parameter![0].part![0]] }] };
  const withoutDispense: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'rxDispensation', part: [good.parameter![0].part![1]] }] };
  const cases: [string, Resource | undefined, RegExp][] = [
    ['no body', undefined, /Parameters mit rxDispensation erwartet/],
    ['empty Parameters', { resourceType: 'Parameters' } as Resource, /Mindestens ein rxDispensation erforderlich/],
    ['other parameter', { resourceType: 'Parameters', parameter: [{ name: 'medicationDispense', resource: good.parameter![0].part![0].resource }] } as Resource, /nur rxDispensation/],
    ['no medication', withoutMedication, /rxDispensation\[0\]: medication fehlt/],
    ['no medicationDispense', withoutDispense, /rxDispensation\[0\]: medicationDispense fehlt/],
    ['whenHandedOver as dd.mm.yyyy', dispenseParameters(env.world, t, 'pharmacy', '10.01.2026'), /whenHandedOver muss ein Datum YYYY-MM-DD sein/],
    ['a bare MedicationDispense', good.parameter![0].part![0].resource as Resource, /Parameters mit rxDispensation erwartet/],
  ];
  for (const [name, body, text] of cases) {
    const r = await dispense(t, body);
    assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.issue[0].details.text, text, name);
  }
  assert.deepEqual(await insuredDispenses(t), []);
});

test('403 for a wrong Secret, for other states and for roles other than the pharmacy; 410 when deleted', async () => {
  const t = await acceptedTask(env.world);
  const wrong = await dispense(t, dispenseParameters(env.world, t), 'pharmacy', 'f'.repeat(64));
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.issue[0].details.text, 'No or invalid secret provided for Task');
  assert.equal(wrong.res.headers['vau-error-code'], 'brute_force');
  for (const who of ['payer', 'insured', 'practice'] as Who[]) {
    const r = await dispense(t, dispenseParameters(env.world, t), who);
    assert.equal(r.status, 403, who);
    assert.match(r.body.issue[0].details.text, /^Zugriff für die Rolle .* nicht erlaubt$/);
  }
  const draft = await createTask(env.world);
  const ready = await readyTask(env.world);
  const completed = await completedTask(env.world);
  for (const [task, status] of [[draft, 'draft'], [ready, 'ready'], [completed, 'completed']] as const) {
    const r = await dispense(task, dispenseParameters(env.world, { ...task, kvnr: task.kvnr ?? 'X110614233' }), 'pharmacy', task.secret ?? 'f'.repeat(64));
    assert.equal(r.status, 403, status);
    assert.equal(r.body.issue[0].details.text, `Task not in status in-progress but in status ${status}`);
  }
  const cancelled = await cancelledTask(env.world);
  const gone = await dispense(cancelled, dispenseParameters(env.world, { ...cancelled, kvnr: 'X110614233' }), 'pharmacy', 'f'.repeat(64));
  assert.equal(gone.status, 410);
  assert.equal((await store.getTask(t.id))!.lastMedicationDispense, null, 'none of the refused calls stored anything');
});
