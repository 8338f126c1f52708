// GET /Task/{id} (erp-api §1.2, §7.2): the insured reads their own prescription (Task + the Fachdienst-signed copy),
// a representative with X-AccessCode, never for 169/209; the pharmacy with ?secret= (Task + QES + receipt) or
// recovers its Secret with ?ac= (412 unless it holds the Task).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Binary, Bundle, Task } from '../../fhir/types.ts';
import { parseFhir } from '../../fhir/codec.ts';
import { identityById, type Identity } from '../../seed/identities.ts';
import { NS } from '../task-resource.ts';
import {
  BASE_URL, acceptedTask, call, cancelledTask, completedTask, createTask, identifierValue, readyTask,
  type TaskHandle, useWorld,
} from '../testing.ts';

const env = useWorld();

const child = identityById('insured-mueller-kind')!;
const weber = identityById('insured-weber')!;
const entries = (b: Bundle) => b.entry!.map((e) => e.resource!);
const taskOf = (b: Bundle) => b.entry![0].resource as Task;
const systems = (t: Task) => t.identifier!.map((i) => i.system);

/** GET as any seeded identity (the PKV insured is not one of the env.world's named callers). */
async function getAs(identity: Identity, url: string, headers: Record<string, string> = {}) {
  const res = await env.world.app.inject({
    method: 'GET', url, headers: { authorization: `Bearer ${await env.world.tokenOf(identity)}`, accept: 'application/fhir+json', ...headers },
  });
  return { status: res.statusCode, body: res.json() };
}

test('insured, own: collection Bundle of the Task (with AccessCode, without Secret) and the signed copy', async () => {
  const t = await acceptedTask(env.world);
  const r = await call(env.world, 'insured', 'GET', `/Task/${t.id}`);
  assert.equal(r.status, 200);
  const bundle = r.body as Bundle;
  assert.equal(bundle.type, 'collection');
  assert.deepEqual(bundle.link, [{ relation: 'self', url: `${BASE_URL}/Task/${t.id}` }]);
  assert.deepEqual(entries(bundle).map((e) => e.resourceType), ['Task', 'Bundle']);
  assert.equal(bundle.entry![0].fullUrl, `${BASE_URL}/Task/${t.id}`);
  const task = taskOf(bundle);
  assert.equal(task.status, 'in-progress');
  assert.equal(identifierValue(task, NS.accessCode), t.accessCode);
  assert.ok(!systems(task).includes(NS.secret), 'never the Secret to the insured (A_21532-02)');
  assert.equal(task.for?.identifier?.value, env.world.identity('insured').kvnr);
  // input 2 (Patient Confirmation) points at the copy; no QES Binary for the insured
  assert.deepEqual(task.input?.map((i) => i.type.coding![0].code), ['2']);
  const copy = bundle.entry![1].resource as Bundle;
  assert.equal(task.input![0].valueReference!.reference, copy.id);
  assert.equal(bundle.entry![1].fullUrl, `urn:uuid:${copy.id}`);
  assert.equal(copy.identifier?.value, t.id);
  assert.equal(copy.signature?.sigFormat, 'application/jose');
  assert.equal(copy.signature?.who.reference, `${BASE_URL}/Device/1`);
});

test('insured: 403 for a draft, 403 for someone else\'s prescription, 404 unknown, 410 deleted', async () => {
  const draft = await createTask(env.world);
  const r = await call(env.world, 'insured', 'GET', `/Task/${draft.id}`);
  assert.equal(r.status, 403);
  assert.equal(r.body.issue[0].details.text, 'Task im Status draft ist für Versicherte nicht abrufbar');
  const t = await readyTask(env.world);
  const stranger = await call(env.world, 'stranger', 'GET', `/Task/${t.id}`);
  assert.equal(stranger.status, 403);
  assert.equal(stranger.body.issue[0].details.text, 'AccessCode mismatch');
  assert.equal((await call(env.world, 'insured', 'GET', '/Task/160.999.999.999.999.07')).status, 404);
  assert.equal((await call(env.world, 'insured', 'GET', '/Task/160.000.000.000.000.01')).status, 404, 'checksum wrong: 404');
  const cancelled = await cancelledTask(env.world);
  const gone = await call(env.world, 'insured', 'GET', `/Task/${cancelled.id}`);
  assert.equal(gone.status, 410);
  assert.equal(gone.body.issue[0].details.text, 'Task has already been deleted');
});

test('representative with X-AccessCode: 200 (Task without AccessCode); without or wrong: 403; not via ?ac=', async () => {
  const t = await readyTask(env.world, '160', 'json', { patient: child });
  const ok = await call(env.world, 'insured', 'GET', `/Task/${t.id}`, { headers: { 'x-accesscode': t.accessCode } });
  assert.equal(ok.status, 200);
  const task = taskOf(ok.body);
  assert.equal(task.for?.identifier?.value, child.kvnr);
  assert.ok(!systems(task).includes(NS.accessCode), 'the representative already has it; it is not handed on');
  assert.ok(!systems(task).includes(NS.secret));
  assert.equal((await call(env.world, 'insured', 'GET', `/Task/${t.id}`)).status, 403);
  assert.equal((await call(env.world, 'insured', 'GET', `/Task/${t.id}`, { headers: { 'x-accesscode': 'a'.repeat(64) } })).status, 403);
  assert.equal((await call(env.world, 'insured', 'GET', `/Task/${t.id}?ac=${t.accessCode}`)).status, 403, 'the representative uses the header');
  // the patient himself needs nothing
  assert.equal((await call(env.world, 'child', 'GET', `/Task/${t.id}`)).status, 200);
});

test('169 and 209: the insured reads their own without AccessCode; no representative access', async () => {
  const own169 = await readyTask(env.world, '169');
  const r169 = await call(env.world, 'insured', 'GET', `/Task/${own169.id}`);
  assert.equal(r169.status, 200);
  assert.ok(!systems(taskOf(r169.body)).includes(NS.accessCode), 'AccessCode removed for 169');
  assert.equal(taskOf(r169.body).status, 'ready');

  const own209 = await readyTask(env.world, '209');
  const r209 = await getAs(weber, `/Task/${own209.id}`);
  assert.equal(r209.status, 200);
  assert.ok(!systems(taskOf(r209.body)).includes(NS.accessCode), 'AccessCode removed for 209');
  assert.equal(taskOf(r209.body).for?.identifier?.value, weber.kvnr);

  const rep = await readyTask(env.world, '169', 'json', { patient: child });
  const denied = await call(env.world, 'insured', 'GET', `/Task/${rep.id}`, { headers: { 'x-accesscode': rep.accessCode } });
  assert.equal(denied.status, 403);
  assert.equal(denied.body.issue[0].details.text, 'Zugriff als Vertreter für diesen Flowtype nicht erlaubt');
  assert.equal((await call(env.world, 'insured', 'GET', `/Task/${own209.id}`, { headers: { 'x-accesscode': own209.accessCode } })).status, 403);

  // a 160 Task of the same insured keeps its AccessCode
  const own160 = await readyTask(env.world, '160');
  assert.ok(systems(taskOf((await call(env.world, 'insured', 'GET', `/Task/${own160.id}`)).body)).includes(NS.accessCode));
});

test('pharmacy ?secret=: Task with Secret and owner, the QES byte for byte; after $close also the receipt', async () => {
  const t = await readyTask(env.world);
  const accept = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
  const secret = identifierValue(taskOf(accept.body), NS.secret)!;
  const qesOnAccept = (accept.body.entry[1].resource as Binary).data;
  assert.equal((await call(env.world, 'pharmacy2', 'GET', `/Task/${t.id}?secret=${secret}`)).status, 200, 'the Secret is the key, whichever pharmacy shows it');
  const r = await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${secret}`, { format: 'xml' });
  assert.equal(r.status, 200);
  assert.match(String(r.res.headers['content-type']), /^application\/fhir\+xml/);
  const bundle = r.body as Bundle;
  assert.equal(bundle.type, 'collection');
  assert.deepEqual(entries(bundle).map((e) => e.resourceType), ['Task', 'Binary']);
  const task = taskOf(bundle);
  assert.equal(task.status, 'in-progress');
  assert.equal(identifierValue(task, NS.secret), secret);
  assert.equal(identifierValue(task, NS.accessCode), t.accessCode);
  assert.equal(task.owner?.identifier?.value, env.world.identity('pharmacy').telematikId);
  const binary = bundle.entry![1].resource as Binary;
  assert.equal(binary.contentType, 'application/pkcs7-mime');
  assert.equal(binary.data, qesOnAccept, 'the same PKCS#7 as on $accept');
  assert.equal(task.input!.find((i) => i.type.coding![0].code === '1')!.valueReference!.reference, `Binary/${binary.id}`);
  assert.ok(!task.input!.some((i) => i.type.coding![0].code === '2'), 'no patient copy for the pharmacy');

  const done = await completedTask(env.world);
  const after = await call(env.world, 'pharmacy', 'GET', `/Task/${done.id}?secret=${done.secret}`);
  assert.deepEqual(entries(after.body).map((e) => e.resourceType), ['Task', 'Binary', 'Bundle']);
  const receipt = after.body.entry[2].resource as Bundle;
  assert.equal(receipt.type, 'document');
  assert.equal(receipt.identifier?.value, done.id);
  assert.deepEqual(taskOf(after.body).output?.[0].valueReference, { reference: receipt.id });
});

test('pharmacy: wrong or missing Secret 403 (brute_force); the payer and the practice get nothing', async () => {
  const t = await acceptedTask(env.world);
  const wrong = await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${'a'.repeat(64)}`);
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.issue[0].details.text, 'No or invalid secret provided for Task');
  assert.equal(wrong.res.headers['vau-error-code'], 'brute_force');
  assert.equal((await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}`)).status, 403);
  assert.equal((await call(env.world, 'payer', 'GET', `/Task/${t.id}?secret=${'a'.repeat(64)}`)).status, 403);
  const practice = await call(env.world, 'practice', 'GET', `/Task/${t.id}?secret=${t.secret}`);
  assert.equal(practice.status, 403);
  assert.match(practice.body.issue[0].details.text, /^Zugriff für die Rolle .* nicht erlaubt$/);
});

test('pharmacy ?ac= (Secret recovery): 200 with the same Secret for the holder; 412 otherwise; 403 wrong AccessCode', async () => {
  const t = await acceptedTask(env.world);
  const recovered = await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?ac=${t.accessCode}`);
  assert.equal(recovered.status, 200);
  assert.equal(identifierValue(taskOf(recovered.body), NS.secret), t.secret);
  assert.deepEqual(entries(recovered.body).map((e) => e.resourceType), ['Task', 'Binary']);

  const other = await call(env.world, 'pharmacy2', 'GET', `/Task/${t.id}?ac=${t.accessCode}`);
  assert.equal(other.status, 412, 'another pharmacy does not hold the Task');
  assert.equal(other.body.issue[0].details.text, 'Task ist nicht in Abgabe durch die anfragende Institution');
  assert.ok(!JSON.stringify(other.body).includes(t.secret!));

  const ready = await readyTask(env.world);
  assert.equal((await call(env.world, 'pharmacy', 'GET', `/Task/${ready.id}?ac=${ready.accessCode}`)).status, 412, 'ready: nobody holds it');
  const wrong = await call(env.world, 'pharmacy', 'GET', `/Task/${t.id}?ac=${'b'.repeat(64)}`);
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.issue[0].details.text, 'AccessCode mismatch');

  const done = await completedTask(env.world);
  const afterClose = await call(env.world, 'pharmacy', 'GET', `/Task/${done.id}?ac=${done.accessCode}`);
  assert.equal(afterClose.status, 200, 'completed by this pharmacy: recoverable too');
  assert.equal(identifierValue(taskOf(afterClose.body), NS.secret), done.secret);
});

test('default format: JSON for the insured, XML for the pharmacy (no Accept)', async () => {
  const t = await acceptedTask(env.world);
  const insured = await env.world.app.inject({ method: 'GET', url: `/Task/${t.id}`, headers: { authorization: `Bearer ${await env.world.token('insured')}` } });
  assert.equal(insured.statusCode, 200);
  assert.match(String(insured.headers['content-type']), /^application\/fhir\+json/);
  const pharmacy = await env.world.app.inject({ method: 'GET', url: `/Task/${t.id}?secret=${t.secret}`, headers: { authorization: `Bearer ${await env.world.token('pharmacy')}` } });
  assert.equal(pharmacy.statusCode, 200);
  assert.match(String(pharmacy.headers['content-type']), /^application\/fhir\+xml/);
  assert.equal((parseFhir(pharmacy.body, 'xml') as Bundle).entry![0].resource!.id, t.id);
});
