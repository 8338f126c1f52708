// The practice without the IDP's dev endpoints (ERX_DEV=0): its SMC-B logs in through the Konnektor, and a
// $createerptask + $processerp round trip ends with a ready Task at the Fachdienst. A revoked SMC-B AUT certificate
// makes the login fail, and the request says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCertificate } from '../crypto/pki.ts';
import { practice } from '../seed/identities.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { createPracticeWorld, postRequest, requestBundle, requestId, TENANT, testPki } from './testing.ts';

async function withWorld(fn: (world: Awaited<ReturnType<typeof createPracticeWorld>>, database: Database) => Promise<void>) {
  const database = await openDatabase({ dataDir: ':memory:' });
  const world = await createPracticeWorld(database);
  try {
    await fn(world, database);
  } finally {
    await world.close();
    await database.close();
  }
}

test('IDP without dev endpoints: $createerptask + $processerp with the SMC-B login; the Task is ready', async () => {
  await withWorld(async (world, database) => {
    assert.equal((await world.idp.inject({ method: 'POST', url: '/dev/token', payload: { id: practice.id } })).statusCode, 404);
    assert.equal((await world.idp.inject({ url: '/dev/identities' })).statusCode, 404);
    const bundle = requestBundle();
    assert.equal((await postRequest(world.app, bundle)).statusCode, 201);
    const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
    assert.equal(res.statusCode, 200, res.body);
    const [, prescriptionId, accessCode] = /Task\/([\d.]+)\/\$accept\?ac=([0-9a-f]{64})/.exec(res.body)!;
    const request = await world.store.getRequest(TENANT, requestId(bundle));
    assert.equal(request?.status, 'done');
    assert.equal(request?.prescriptionId, prescriptionId);
    const task = await database.db.selectFrom('fachdienst_task').selectAll().where('id', '=', prescriptionId).executeTakeFirstOrThrow();
    assert.equal(task.status, 'ready');
    assert.equal(task.access_code, accessCode);
  });
});

test('a revoked SMC-B AUT certificate: no token, the request fails with the IDP\'s reason', async () => {
  await withWorld(async (world) => {
    world.revocations.revoke(parseCertificate(testPki().cards[practice.id].aut.cert).serial, 'keyCompromise');
    const bundle = requestBundle();
    assert.equal((await postRequest(world.app, bundle)).statusCode, 201);
    const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
    assert.doesNotMatch(res.body, /\$accept/);
    const request = await world.store.getRequest(TENANT, requestId(bundle));
    assert.equal(request?.status, 'failed', 'a refused card is final, not retried forever');
    assert.match(request!.error!, /^\$create: Anmeldung der SMC-B SMC-B-\d+ am IDP fehlgeschlagen: Authentisierung: AUT-Zertifikat ist gesperrt \(OCSP revoked seit .*Grund keyCompromise\)/);
  });
});
