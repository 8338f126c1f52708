// POST /Task/{id}/$reject?secret=… (erp-api §1.2, §2.1): the pharmacy gives an accepted Task back. Status ready again,
// Secret and owner gone, dispense data from $dispense deleted; 403 for a wrong Secret or state, 410 when deleted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent, Bundle, Task } from '../../fhir/types.ts';
import { EXT, NS } from '../task-resource.ts';
import { TaskStore } from '../task-store.ts';
import {
  acceptedTask, call, cancelledTask, completedTask, createTask, dispenseParameters, identifierValue, readyTask,
  type TaskHandle, useWorld,
} from '../testing.ts';

let store: TaskStore;
const env = useWorld({
  setup: ({ database }) => {
    store = new TaskStore(database);
  },
});

/** `secret` null: no ?secret= at all. */
const reject = (t: TaskHandle, secret: string | null | undefined = t.secret, who: 'pharmacy' | 'pharmacy2' | 'insured' | 'practice' | 'payer' = 'pharmacy') =>
  call(env.world, who, 'POST', `/Task/${t.id}/$reject${secret === null ? '' : `?secret=${secret}`}`);

const insuredView = async (t: TaskHandle) => ((await call(env.world, 'insured', 'GET', `/Task/${t.id}`)).body as Bundle).entry![0].resource as Task;

test('204: Task ready again without Secret and owner; the old Secret is worthless; another pharmacy may accept', async () => {
  const t = await acceptedTask(env.world);
  const r = await reject(t);
  assert.equal(r.status, 204);
  assert.equal(r.res.body, '');

  const task = await insuredView(t);
  assert.equal(task.status, 'ready');
  assert.equal(task.owner, undefined);
  assert.equal(identifierValue(task, NS.secret), undefined);
  assert.equal(identifierValue(task, NS.accessCode), t.accessCode, 'the AccessCode stays');
  const stored = (await store.getTask(t.id))!;
  assert.equal(stored.secret, null);
  assert.equal(stored.owner, null);
  assert.equal(stored.acceptedAt, null);

  const old = await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret}`);
  assert.equal(old.status, 403, 'the old Secret no longer opens the Task');
  assert.equal((await reject(t)).status, 403, 'nor rejects it again');

  const other = await call(env.world, 'pharmacy2', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
  assert.equal(other.status, 200);
  const task2 = (other.body as Bundle).entry![0].resource as Task;
  assert.equal(task2.owner?.identifier?.value, env.world.identity('pharmacy2').telematikId);
  const newSecret = identifierValue(task2, NS.secret)!;
  assert.match(newSecret, /^[0-9a-f]{64}$/);
  assert.notEqual(newSecret, t.secret);
});

test('dispense data from $dispense is deleted; the insured no longer sees it', async () => {
  const t = await acceptedTask(env.world);
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$dispense?secret=${t.secret}`, { body: dispenseParameters(env.world, t) })).status, 204);
  const search = `/MedicationDispense?identifier=${NS.prescriptionId}|${t.id}`;
  assert.equal(((await call(env.world, 'insured', 'GET', search)).body as Bundle).entry?.length, 2, 'dispense + medication before');

  assert.equal((await reject(t)).status, 204);
  assert.equal(((await call(env.world, 'insured', 'GET', search)).body as Bundle).entry?.length ?? 0, 0);
  const rows = await env.database.db.selectFrom('fachdienst_medication_dispense').select('id').where('prescription_id', '=', t.id).execute();
  assert.equal(rows.length, 0);
  const task = await insuredView(t);
  assert.ok(!task.extension?.some((e) => e.url === EXT.lastMedicationDispense), 'lastMedicationDispense removed');
});

test('the insured\'s protocol says who gave the prescription back', async () => {
  const t = await acceptedTask(env.world);
  assert.equal((await reject(t)).status, 204);
  const events = ((await call(env.world, 'insured', 'GET', '/AuditEvent?_count=5')).body as Bundle).entry!.map((e) => e.resource as AuditEvent);
  const last = events.find((e) => e.entity?.[0].what?.identifier?.value === t.id)!;
  assert.equal(last.text!.div.replace(/<[^>]+>/g, ''), `${env.world.identity('pharmacy').name} hat ein E-Rezept ${t.id} zurückgegeben`);
});

test('403 for a wrong or missing Secret (brute_force hint); the Task stays with the pharmacy', async () => {
  const t = await acceptedTask(env.world);
  const wrong = await reject(t, 'b'.repeat(64));
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.issue[0].details.text, 'No or invalid secret provided for Task');
  assert.equal(wrong.res.headers['vau-error-code'], 'brute_force');
  assert.equal((await reject(t, null)).status, 403);
  assert.equal((await reject(t, '')).status, 403);
  // another pharmacy cannot reject it with its own guess, nor accept it meanwhile
  assert.equal((await reject(t, 'c'.repeat(64), 'pharmacy2')).status, 403);
  assert.equal((await call(env.world, 'pharmacy2', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`)).status, 409);
  assert.equal((await store.getTask(t.id))!.status, 'in-progress');
});

test('403 in every state but in-progress; 410 when deleted; 404 unknown', async () => {
  const draft = await createTask(env.world);
  const ready = await readyTask(env.world);
  const completed = await completedTask(env.world);
  for (const [t, status] of [[draft, 'draft'], [ready, 'ready'], [completed, 'completed']] as const) {
    const r = await reject(t, t.secret ?? 'd'.repeat(64));
    assert.equal(r.status, 403, status);
    assert.equal(r.body.issue[0].details.text, `Task not in status in-progress but in status ${status}`);
  }
  assert.equal((await store.getTask(completed.id))!.status, 'completed', 'a completed Task is never reopened');
  const cancelled = await cancelledTask(env.world);
  const gone = await reject(cancelled, 'd'.repeat(64));
  assert.equal(gone.status, 410);
  assert.equal(gone.body.issue[0].details.text, 'Task has already been deleted');
  assert.equal((await reject({ id: '160.999.999.999.999.07', flowType: '160', accessCode: '' }, 'd'.repeat(64))).status, 404);
});

test('403 for roles other than pharmacy and payer', async () => {
  const t = await acceptedTask(env.world);
  for (const who of ['insured', 'practice'] as const) {
    const r = await reject(t, t.secret, who);
    assert.equal(r.status, 403, who);
    assert.match(r.body.issue[0].details.text, /^Zugriff für die Rolle .* nicht erlaubt$/);
  }
  // the payer may reject (DiGA), but not a pharmacy's Task without its Secret
  assert.equal((await reject(t, 'e'.repeat(64), 'payer')).status, 403);
  assert.equal((await reject(t)).status, 204);
});
