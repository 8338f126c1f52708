// A failure in the middle of an operation leaves nothing half-written: the whole transaction rolls back.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { openDatabase, type Database } from '../storage/database.ts';
import type { Bundle, Task } from '../fhir/types.ts';
import { createWorld, call, acceptedTask, dispenseParameters, type World } from './testing.ts';

let database: Database;
let world: World;
before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  const probe = await createWorld(database);
  await probe.close();
  // A Fachdienst whose receipt key cannot sign (RSA where CAdES needs EC): $close fails after the dispense write.
  const broken = { ...probe.fd, key: generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey };
  world = await createWorld(database, { signer: broken });
});
after(async () => {
  await world.close();
  await database.close();
});

test('$close failing at the receipt signature: 500, Task still in-progress, no dispense data, no audit entry', async () => {
  const t = await acceptedTask(world);
  const auditBefore = (await database.db.selectFrom('fachdienst_audit_event').select('id').execute()).length;
  const r = await call(world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret}`, { body: dispenseParameters(world, t) });
  assert.equal(r.status, 500);
  assert.equal(r.body.resourceType, 'OperationOutcome');
  assert.doesNotMatch(JSON.stringify(r.body), /at .*\.ts:\d+/, 'no stack trace to the client');
  const read = await call(world, 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret}`);
  const task = (read.body as Bundle).entry![0].resource as Task;
  assert.equal(task.status, 'in-progress');
  assert.equal(task.extension!.some((e) => e.url.endsWith('LastMedicationDispense')), false);
  assert.equal((await database.db.selectFrom('fachdienst_medication_dispense').select('id').where('prescription_id', '=', t.id).execute()).length, 0);
  // the GET above added one read entry; the failed $close added none
  assert.equal((await database.db.selectFrom('fachdienst_audit_event').select('id').execute()).length, auditBefore + 1);
});
