import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '../../fhir/types.ts';
import { NS } from '../task-resource.ts';
import { acceptedTask, call, dispenseParameters, useWorld } from '../testing.ts';

const env = useWorld();

test('the insured sees dispenses after $dispense, filtered by identifier and whenhandedover, with Medications included', async () => {
  const a = await acceptedTask(env.world);
  const b = await acceptedTask(env.world);
  assert.equal(((await call(env.world, 'insured', 'GET', '/MedicationDispense')).body as Bundle).entry?.length ?? 0, 0, 'nothing before $dispense');
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${a.id}/$dispense?secret=${a.secret}`, { body: dispenseParameters(env.world, a, 'pharmacy', '2026-01-10') })).status, 204);
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${b.id}/$dispense?secret=${b.secret}`, { body: dispenseParameters(env.world, b, 'pharmacy', '2026-02-10') })).status, 204);

  const all = (await call(env.world, 'insured', 'GET', '/MedicationDispense')).body as Bundle;
  assert.equal(all.type, 'searchset');
  const matches = all.entry!.filter((e) => e.search?.mode === 'match');
  const includes = all.entry!.filter((e) => e.search?.mode === 'include');
  assert.deepEqual(matches.map((e) => e.resource!.id).sort(), [a.id, b.id].sort(), 'the FD names the first dispense after the Task');
  assert.equal(includes.length, 2);
  assert.ok(includes.every((e) => e.fullUrl!.startsWith('urn:uuid:') && e.resource!.resourceType === 'Medication'));

  const byId = (await call(env.world, 'insured', 'GET', `/MedicationDispense?identifier=${NS.prescriptionId}|${a.id}`)).body as Bundle;
  assert.deepEqual(byId.entry!.filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id), [a.id]);
  const byDate = (await call(env.world, 'insured', 'GET', '/MedicationDispense?whenhandedover=ge2026-02-01')).body as Bundle;
  assert.deepEqual(byDate.entry!.filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id), [b.id]);

  // $reject deletes the dispense data; other people never see it
  assert.equal((await call(env.world, 'pharmacy', 'POST', `/Task/${a.id}/$reject?secret=${a.secret}`)).status, 204);
  const afterReject = (await call(env.world, 'insured', 'GET', '/MedicationDispense')).body as Bundle;
  assert.deepEqual(afterReject.entry!.filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id), [b.id]);
  assert.equal(((await call(env.world, 'stranger', 'GET', '/MedicationDispense')).body as Bundle).entry?.length ?? 0, 0);
  assert.equal((await call(env.world, 'pharmacy', 'GET', '/MedicationDispense')).status, 403);
});

test('$dispense checks PrescriptionID, KVNR and performer (400)', async () => {
  const t = await acceptedTask(env.world);
  const url = `/Task/${t.id}/$dispense?secret=${t.secret}`;
  assert.equal((await call(env.world, 'pharmacy', 'POST', url, { body: dispenseParameters(env.world, { ...t, kvnr: 'A123456780' }) })).status, 400);
  assert.equal((await call(env.world, 'pharmacy', 'POST', url, { body: dispenseParameters(env.world, { ...t, id: '160.000.000.000.001.54' }) })).status, 400);
  assert.equal((await call(env.world, 'pharmacy', 'POST', url, { body: dispenseParameters(env.world, t, 'pharmacy2') })).status, 400);
  assert.equal((await call(env.world, 'pharmacy', 'POST', url, { body: dispenseParameters(env.world, t, 'pharmacy', '10.01.2026') })).status, 400);
});
