// Crash safety in-process: a request whose process died at any step is resumed by the next batch from its stored
// progress. A Task activated at the Fachdienst whose success was never recorded is not activated again (the
// Fachdienst's 403 "already ready" for our own Task counts as success); a stored CMS is re-sent unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachEngine } from '../storage/test-postgres.ts';
import { createPracticeWorld, postRequest, requestBundle, requestId, TENANT } from './testing.ts';

forEachEngine('resume after a crash', (getDb) => {
  test('died after $activate, before recording it: finished without a second activation', async () => {
    const db = getDb().db;
    const world = await createPracticeWorld(getDb(), { claimLeaseMs: 0 });
    try {
      const bundle = requestBundle();
      await postRequest(world.app, bundle);
      await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
      const done = (await world.store.getRequest(TENANT, requestId(bundle)))!;
      assert.equal(done.status, 'done');
      const atFachdienst = await db.selectFrom('fachdienst_task').select('prescription_cms').where('id', '=', done.prescriptionId).executeTakeFirstOrThrow();
      assert.ok(done.cms && Buffer.from(atFachdienst.prescription_cms).equals(done.cms), 'the stored CMS is byte for byte the one activated');
      // Roll the practice's view back to "signing, CMS stored": what a crash right after $activate leaves.
      await db.updateTable('practice_request').set({ status: 'signing', completed_at: null, claimed_at: new Date(0) })
        .where('tenant', '=', TENANT).where('id', '=', done.id).execute();

      const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.body, new RegExp(done.prescriptionId!.replace(/\./g, '\\.')));
      const after = (await world.store.getRequest(TENANT, done.id))!;
      assert.equal(after.status, 'done');
      assert.equal(after.prescriptionId, done.prescriptionId);
      assert.deepEqual(after.cms, done.cms, 'the same signature');
      const audits = await db.selectFrom('fachdienst_audit_event').select('id').where('prescription_id', '=', done.prescriptionId).execute();
      assert.equal(audits.length, 1, 'activated once at the Fachdienst');
    } finally {
      await world.close();
    }
  });

  test('died after $create, before signing: the same Task is used; a live claim is not taken over', async () => {
    const db = getDb().db;
    const world = await createPracticeWorld(getDb(), { claimLeaseMs: 60_000 });
    try {
      const [stale, live] = [requestBundle(), requestBundle()];
      await postRequest(world.app, stale);
      await postRequest(world.app, live);
      // Both were claimed by a process that created their Tasks; one claim is old (process died), one is fresh.
      for (const [b, claimedAt] of [[stale, new Date(0)], [live, new Date()]] as const) {
        const task = await world.store.db.selectFrom('practice_request').select('flow_type').where('id', '=', requestId(b)).executeTakeFirstOrThrow();
        const r = await fetchCreate(world, task.flow_type);
        await db.updateTable('practice_request').set({ status: 'signing', claimed_by: 'dead-process', claimed_at: claimedAt, prescription_id: r.prescriptionId, access_code: r.accessCode })
          .where('tenant', '=', TENANT).where('id', '=', requestId(b)).execute();
      }
      const before = (await world.store.getRequest(TENANT, requestId(stale)))!;
      const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
      assert.equal(res.statusCode, 200, res.body);
      const resumed = (await world.store.getRequest(TENANT, requestId(stale)))!;
      assert.equal(resumed.status, 'done');
      assert.equal(resumed.prescriptionId, before.prescriptionId, 'no second $create');
      assert.equal((await world.store.getRequest(TENANT, requestId(live)))!.status, 'signing', 'a fresh claim belongs to its (living) process');
    } finally {
      await world.close();
    }
  });
});

async function fetchCreate(world: Awaited<ReturnType<typeof createPracticeWorld>>, flowType: string) {
  const token = await world.token('practice-demopraxis');
  const res = await world.fachdienst.inject({
    method: 'POST', url: '/Task/$create',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    payload: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'workflowType', valueCoding: { system: 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType', code: flowType } }] }),
  });
  assert.equal(res.statusCode, 201, res.body);
  const task = res.json();
  return { prescriptionId: task.id as string, accessCode: task.identifier.find((i: any) => i.system.endsWith('AccessCode')).value as string };
}
