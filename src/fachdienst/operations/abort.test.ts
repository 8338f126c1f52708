// POST /Task/{id}/$abort (erp-api §2.1, §2.3): who may delete a prescription in which state, what goes with it (all
// personal and medical data, A_19027-06), and that every later call gets 410. Expected codes are written out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent, Bundle, Communication, Task } from '../../fhir/types.ts';
import { identityById, type Identity } from '../../seed/identities.ts';
import { NS } from '../task-resource.ts';
import { TaskStore } from '../task-store.ts';
import {
  activateParameters, call, createTask, dispenseParameters, identifierValue, readyTask, signedPrescription,
  type TaskHandle, type Who, useWorld,
} from '../testing.ts';

let store: TaskStore;
const env = useWorld({
  setup: ({ database }) => {
    store = new TaskStore(database);
  },
});

const child = identityById('insured-mueller-kind')!;
const weber = identityById('insured-weber')!;
type State = 'draft' | 'ready' | 'in-progress' | 'completed' | 'cancelled';
const STATES: State[] = ['draft', 'ready', 'in-progress', 'completed', 'cancelled'];

/** A Task of `patient` in `state` (accepted and closed by `pharmacy`, cancelled by the prescriber). */
async function taskIn(state: State, flowType = '160', patient?: Identity): Promise<TaskHandle> {
  if (state === 'draft') return createTask(env.world, flowType);
  const t = await readyTask(env.world, flowType, 'json', patient ? { patient } : {});
  if (state === 'ready') return t;
  if (state === 'cancelled') {
    assert.equal((await call(env.world, 'practice', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } })).status, 204);
    return t;
  }
  const accepted = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
  assert.equal(accepted.status, 200);
  const secret = identifierValue((accepted.body as Bundle).entry![0].resource as Task, NS.secret);
  const handle = { ...t, secret };
  if (state === 'in-progress') return handle;
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${secret}`, { body: dispenseParameters(env.world, handle) })).status, 200);
  return handle;
}

/** $abort as any seeded identity (the PKV insured is not one of the env.world's named callers). */
async function abortAs(identity: Identity, t: TaskHandle, headers: Record<string, string> = {}) {
  const res = await env.world.app.inject({
    method: 'POST', url: `/Task/${t.id}/$abort`,
    headers: { authorization: `Bearer ${await env.world.tokenOf(identity)}`, accept: 'application/fhir+json', ...headers },
  });
  return { status: res.statusCode, body: res.body ? res.json() : undefined };
}

interface Row {
  /** Task owner (patient) and flowtype. */
  flowType?: string;
  patient?: Identity;
  run: (t: TaskHandle) => Promise<{ status: number; body: any }>;
  /** draft, ready, in-progress, completed, cancelled */
  expected: number[];
}

const NO_SECRET = '0'.repeat(64);
const ROWS: Record<string, Row> = {
  'insured, own prescription': {
    run: (t) => call(env.world, 'insured', 'POST', `/Task/${t.id}/$abort`),
    expected: [403, 204, 403, 204, 410],
  },
  'insured as representative with X-AccessCode': {
    patient: child,
    run: (t) => call(env.world, 'insured', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } }),
    expected: [403, 204, 403, 204, 410],
  },
  'insured as representative without AccessCode': {
    patient: child,
    run: (t) => call(env.world, 'insured', 'POST', `/Task/${t.id}/$abort`),
    expected: [403, 403, 403, 403, 410],
  },
  'prescriber with AccessCode': {
    run: (t) => call(env.world, 'practice', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } }),
    expected: [403, 204, 403, 403, 410],
  },
  'prescriber with a wrong AccessCode': {
    run: (t) => call(env.world, 'practice', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': NO_SECRET } }),
    expected: [403, 403, 403, 403, 410],
  },
  'pharmacy with its Secret': {
    run: (t) => call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$abort?secret=${t.secret ?? NO_SECRET}`),
    expected: [403, 403, 204, 403, 410],
  },
  'another pharmacy (no Secret)': {
    run: (t) => call(env.world, 'pharmacy2', 'POST', `/Task/${t.id}/$abort?secret=${NO_SECRET}`),
    expected: [403, 403, 403, 403, 410],
  },
  'payer (role not allowed)': {
    run: (t) => call(env.world, 'payer', 'POST', `/Task/${t.id}/$abort?secret=${t.secret ?? NO_SECRET}`),
    expected: [403, 403, 403, 403, 403],
  },
  '169: insured, own (only when completed, A_22102-01)': {
    flowType: '169',
    run: (t) => call(env.world, 'insured', 'POST', `/Task/${t.id}/$abort`),
    expected: [403, 403, 403, 204, 410],
  },
  '169: representative, even with AccessCode': {
    flowType: '169',
    patient: child,
    run: (t) => call(env.world, 'insured', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } }),
    expected: [403, 403, 403, 403, 410],
  },
  '169: prescriber with AccessCode': {
    flowType: '169',
    run: (t) => call(env.world, 'practice', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } }),
    expected: [403, 204, 403, 403, 410],
  },
  '209 (PKV): insured, own (only when completed)': {
    flowType: '209',
    patient: weber,
    run: (t) => abortAs(weber, t),
    expected: [403, 403, 403, 204, 410],
  },
  '200 (PKV): insured, own': {
    flowType: '200',
    patient: weber,
    run: (t) => abortAs(weber, t),
    expected: [403, 204, 403, 204, 410],
  },
};

for (const [name, row] of Object.entries(ROWS)) {
  test(`$abort by ${name}`, async () => {
    const actual: Record<string, number> = {};
    for (const state of STATES) actual[state] = (await row.run(await taskIn(state, row.flowType, row.patient))).status;
    assert.deepEqual(actual, Object.fromEntries(STATES.map((s, i) => [s, row.expected[i]])));
  });
}

test('the texts: draft, wrong state, deleted, no representative for 169', async () => {
  const draft = await call(env.world, 'insured', 'POST', `/Task/${(await taskIn('draft')).id}/$abort`);
  assert.equal(draft.body.issue[0].details.text, 'Abort not expected for newly created Task');
  const inProgress = await call(env.world, 'insured', 'POST', `/Task/${(await taskIn('in-progress')).id}/$abort`);
  assert.equal(inProgress.body.issue[0].details.text, 'Task in status in-progress can not be aborted');
  const completed = await taskIn('completed');
  const byPrescriber = await call(env.world, 'practice', 'POST', `/Task/${completed.id}/$abort`, { headers: { 'x-accesscode': completed.accessCode } });
  assert.equal(byPrescriber.body.issue[0].details.text, 'Task in status completed can not be aborted');
  const cancelled = await call(env.world, 'insured', 'POST', `/Task/${(await taskIn('cancelled')).id}/$abort`);
  assert.equal(cancelled.body.issue[0].details.text, 'Task has already been deleted');
  const rep169 = await taskIn('ready', '169', child);
  const r = await call(env.world, 'insured', 'POST', `/Task/${rep169.id}/$abort`, { headers: { 'x-accesscode': rep169.accessCode } });
  assert.equal(r.body.issue[0].details.text, 'Zugriff als Vertreter für diesen Flowtype nicht erlaubt');
  const wrongAc = await call(env.world, 'practice', 'POST', `/Task/${rep169.id}/$abort`, { headers: { 'x-accesscode': NO_SECRET } });
  assert.equal(wrongAc.body.issue[0].details.text, 'AccessCode mismatch');
  assert.equal(wrongAc.res?.headers['vau-error-code'], 'brute_force');
});

test('all personal and medical data goes: QES, bundle, receipt, dispenses, Communications, codes; the audit trail stays', async () => {
  const t = await readyTask(env.world);
  const pharmacyId = env.world.identity('pharmacy').telematikId!;
  const dispReq: Communication = {
    resourceType: 'Communication',
    meta: { profile: ['https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Communication_DispReq|1.5'] },
    status: 'unknown',
    basedOn: [{ reference: `Task/${t.id}/$accept?ac=${t.accessCode}` }],
    recipient: [{ identifier: { system: NS.telematikId, value: pharmacyId } }],
    payload: [{ contentString: JSON.stringify({ version: 1, supplyOptionsType: 'onPremise' }) }],
  };
  const posted = await call(env.world, 'insured', 'POST', '/Communication', { body: dispReq });
  assert.equal(posted.status, 201, JSON.stringify(posted.body));
  const accepted = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
  const secret = identifierValue((accepted.body as Bundle).entry![0].resource as Task, NS.secret)!;
  const handle = { ...t, secret };
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${secret}`, { body: dispenseParameters(env.world, handle) })).status, 200);
  const before = (await store.getTask(t.id))!;
  assert.ok(before.prescriptionCms && before.bundle && before.receipt && before.kvnr, 'there was data to delete');

  assert.equal((await call(env.world, 'insured', 'POST', `/Task/${t.id}/$abort`)).status, 204);

  const after = (await store.getTask(t.id))!;
  assert.equal(after.status, 'cancelled');
  for (const field of ['kvnr', 'accessCode', 'secret', 'owner', 'prescriptionCms', 'prescriptionBinaryId', 'patientConfirmationId',
    'prescriptionDigest', 'bundle', 'receipt', 'lastMedicationDispense'] as const) {
    assert.equal(after[field], null, field);
  }
  const count = async (table: 'fachdienst_medication_dispense' | 'fachdienst_communication') =>
    (await env.database.db.selectFrom(table).select('prescription_id').where('prescription_id', '=', t.id).execute()).length;
  assert.equal(await count('fachdienst_medication_dispense'), 0);
  assert.equal(await count('fachdienst_communication'), 0);

  // seen from outside: gone from the insured's lists and the pharmacy's inbox
  const tasks = (await call(env.world, 'insured', 'GET', '/Task')).body as Bundle;
  assert.ok(!tasks.entry?.some((e) => e.resource!.id === t.id));
  const dispenses = (await call(env.world, 'insured', 'GET', `/MedicationDispense?identifier=${NS.prescriptionId}|${t.id}`)).body as Bundle;
  assert.equal(dispenses.entry?.length ?? 0, 0);
  assert.equal((await call(env.world, 'pharmacy', 'GET', `/Communication/${posted.body.id}`)).status, 404);

  // the insured's protocol keeps the deletion (newest first)
  const events = ((await call(env.world, 'insured', 'GET', '/AuditEvent?_count=3')).body as Bundle).entry!.map((e) => e.resource as AuditEvent);
  const deletion = events.find((e) => e.entity?.[0].what?.identifier?.value === t.id)!;
  assert.equal(deletion.action, 'D');
  assert.equal(deletion.text!.div.replace(/<[^>]+>/g, ''), `${env.world.identity('insured').name} hat ein E-Rezept ${t.id} gelöscht`);
});

test('after $abort every call on the Task is 410', async () => {
  const t = await taskIn('in-progress');
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$abort?secret=${t.secret}`)).status, 204);
  const later: [string, Who, 'GET' | 'POST', string, object?][] = [
    ['GET (insured)', 'insured', 'GET', `/Task/${t.id}`],
    ['GET ?secret (pharmacy)', 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret}`],
    ['GET ?ac (pharmacy)', 'pharmacy', 'GET', `/Task/${t.id}?ac=${t.accessCode}`],
    ['$activate', 'practice', 'POST', `/Task/${t.id}/$activate?ac=${t.accessCode}`, activateParameters(signedPrescription(env.world, t.id, '160'))],
    ['$accept', 'pharmacy2', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`],
    ['$reject', 'pharmacy', 'POST', `/Task/${t.id}/$reject?secret=${t.secret}`],
    ['$dispense', 'pharmacy', 'POST', `/Task/${t.id}/$dispense?secret=${t.secret}`, dispenseParameters(env.world, t)],
    ['$close', 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret}`, dispenseParameters(env.world, t)],
    ['$abort (pharmacy)', 'pharmacy', 'POST', `/Task/${t.id}/$abort?secret=${t.secret}`],
    ['$abort (insured)', 'insured', 'POST', `/Task/${t.id}/$abort`],
    ['$abort (prescriber)', 'practice', 'POST', `/Task/${t.id}/$abort?ac=${t.accessCode}`],
  ];
  for (const [name, who, method, url, body] of later) {
    const r = await call(env.world, who, method, url, body ? { body: body as never } : {});
    assert.equal(r.status, 410, name);
    assert.equal(r.body.issue[0].code, 'deleted', name);
    assert.equal(r.body.issue[0].details.text, 'Task has already been deleted', name);
  }
});
