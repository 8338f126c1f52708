// POST /{tenant}/TI?action=$createerptask: validation like a manual entry, durable storage, the MedicationRequest
// id as correlation key, flowtype by coverage and named pharmacy, requesting system recorded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseXml } from '../fhir/codec.ts';
import type { OperationOutcome, Patient, Task } from '../fhir/types.ts';
import { pharmacies } from '../seed/identities.ts';
import { usePracticeWorld, postRequest, requestBundle, requestId, TENANT, weber } from './testing.ts';

const env = usePracticeWorld();

const outcome = (body: string) => parseXml(body) as OperationOutcome;

test('first request 201 (pending, not listed as signed), repeat with the same MedicationRequest id 200, one stored', async () => {
  const bundle = requestBundle();
  const first = await postRequest(env.world.app, bundle, '', 'Praxis-KIS/2.1');
  assert.equal(first.statusCode, 201, first.body);
  assert.match(String(first.headers['content-type']), /xml/);
  const task = parseXml(first.body) as Task;
  assert.equal(task.id, requestId(bundle));
  assert.equal(task.status, 'draft');
  assert.deepEqual(task.basedOn, [{ reference: `MedicationRequest/${requestId(bundle)}` }]);

  const again = await postRequest(env.world.app, bundle);
  assert.equal(again.statusCode, 200);
  const stored = await env.world.store.listRequests(TENANT);
  assert.equal(stored.filter((r) => r.id === requestId(bundle)).length, 1);
  const r = stored.find((x) => x.id === requestId(bundle))!;
  assert.equal(r.requestingSystem, 'Praxis-KIS/2.1');
  assert.equal(r.flowType, '160');
  assert.equal(r.status, 'pending');
  assert.ok(Date.now() - r.receivedAt.getTime() < 60_000);
  assert.equal(r.medication, 'Sumatriptan-1a Pharma 100 mg Tabletten');
});

test('flowtype: PKV 200; a named pharmacy makes it 169 (GKV) or 209 (PKV)', async () => {
  const pharmacy = pharmacies[0].telematikId!;
  const cases: [ReturnType<typeof requestBundle>, string, string][] = [
    [requestBundle({ patient: weber() }), '', '200'],
    [requestBundle(), `&pharmacy=${pharmacy}`, '169'],
    [requestBundle({ patient: weber() }), `&pharmacy=${pharmacy}`, '209'],
  ];
  for (const [bundle, query, flowType] of cases) {
    const res = await postRequest(env.world.app, bundle, query);
    assert.equal(res.statusCode, 201, res.body);
    const r = await env.world.store.getRequest(TENANT, requestId(bundle));
    assert.equal(r?.flowType, flowType);
    assert.equal(r?.pharmacy, query ? pharmacy : null);
  }
});

test('medication variants ingredient, compounding and free text are accepted', async () => {
  const variants = [
    { kind: 'Ingredient' as const, ingredient: 'Ibuprofen', strength: { value: 400, unit: 'mg' }, form: 'Tabletten' },
    { kind: 'Compounding' as const, ingredients: [{ name: 'Hydrochlorothiazid', amount: { value: 2, unit: 'mg/ml' } }], form: 'Suspension', amount: { value: '100', unit: 'ml' } },
    { kind: 'FreeText' as const, text: 'Testpräparat für eine Freitextverordnung' },
  ];
  for (const medication of variants) {
    const res = await postRequest(env.world.app, requestBundle({ medication }));
    assert.equal(res.statusCode, 201, `${medication.kind}: ${res.body}`);
  }
});

test('invalid KVNR check digit: 400 OperationOutcome naming the patient identifier; nothing stored', async () => {
  const bundle = requestBundle();
  const patient = bundle.entry!.find((e) => e.resource?.resourceType === 'Patient')!.resource as Patient;
  patient.identifier![0].value = 'X110614234';
  const res = await postRequest(env.world.app, bundle);
  assert.equal(res.statusCode, 400);
  const oo = outcome(res.body);
  assert.equal(oo.resourceType, 'OperationOutcome');
  assert.match(oo.issue[0].details!.text!, /KVNR|Versichertennummer|Prüfziffer/i);
  assert.equal(await env.world.store.getRequest(TENANT, requestId(bundle)), undefined);
});

test('missing Medication entry and a Bundle that is not a prescription: clear 400s', async () => {
  const bundle = requestBundle();
  bundle.entry = bundle.entry!.filter((e) => e.resource?.resourceType !== 'Medication');
  const res = await postRequest(env.world.app, bundle);
  assert.equal(res.statusCode, 400);
  assert.match(outcome(res.body).issue[0].details!.text!, /Medication|nicht auflösen/);

  const notXml = await env.world.app.inject({ method: 'POST', url: `/${TENANT}/TI?action=$createerptask`, headers: { 'content-type': 'application/fhir+xml' }, payload: '<Bundle xmlns="http://hl7.org/fhir"><type value="document"/' });
  assert.equal(notXml.statusCode, 400);
  assert.equal(outcome(notXml.body).resourceType, 'OperationOutcome');
});

test('bad pharmacy Telematik-ID, unknown action and unknown tenant', async () => {
  const badPharmacy = await postRequest(env.world.app, requestBundle(), '&pharmacy=not-a-telematik-id');
  assert.equal(badPharmacy.statusCode, 400);
  assert.match(outcome(badPharmacy.body).issue[0].details!.text!, /Telematik-ID/);

  const unknownAction = await env.world.app.inject({ method: 'POST', url: `/${TENANT}/TI?action=$foo`, headers: { 'content-type': 'application/fhir+xml' }, payload: '<Bundle xmlns="http://hl7.org/fhir"/>' });
  assert.equal(unknownAction.statusCode, 400);

  const unknownTenant = await env.world.app.inject({ method: 'GET', url: '/nobody_1/Task?from=202501010000&to=202501020000' });
  assert.equal(unknownTenant.statusCode, 404);
  assert.match(String(unknownTenant.headers['content-type']), /fhir\+xml/);
  assert.match(outcome(unknownTenant.body).issue[0].details!.text!, /Mandant/);
});

test('concurrent requests share INSERTs: each stored once, a repeat in the same moment 200, a row the database refuses fails alone', async () => {
  const [a, b] = [requestBundle(), requestBundle()];
  const answers = await Promise.all([a, b, a].map((bundle) => postRequest(env.world.app, bundle)));
  assert.deepEqual(answers.map((r) => r.statusCode).sort(), [200, 201, 201]);
  const stored = await env.world.store.listRequests(TENANT);
  assert.equal(stored.filter((r) => r.id === requestId(a) || r.id === requestId(b)).length, 2);

  // Same tick, so the three go into one statement; PostgreSQL refuses \u0000 in jsonb.
  const input = (bundle: ReturnType<typeof requestBundle>, medication = 'Ibuprofen') =>
    ({ tenant: TENANT, id: requestId(bundle), flowType: '160', bundle, patient: {}, medication });
  const [ok1, bad, ok2] = [requestBundle(), requestBundle(), requestBundle()];
  (bad as any).language = 'de\u0000';
  const results = await Promise.allSettled([ok1, bad, ok2].map((bundle) => env.world.store.insertRequest(input(bundle))));
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  assert.equal((results[0] as PromiseFulfilledResult<{ created: boolean }>).value.created, true);
  assert.equal(await env.world.store.getRequest(TENANT, requestId(bad)), undefined);
  assert.equal((await env.world.store.getRequest(TENANT, requestId(ok2)))?.medication, 'Ibuprofen');
});
