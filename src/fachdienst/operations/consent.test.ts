import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachEngine } from '../../storage/test-postgres.ts';
import type { AuditEvent, Bundle, Consent } from '../../fhir/types.ts';
import { call, createWorld, readyTask, type World } from '../testing.ts';
import { CHARGCONS, chargconsConsent } from '../../insured/billing.ts';

forEachEngine('Consent (CHARGCONS)', (getDb) => {
  let world: World;
  let kvnr: string;
  before(async () => {
    world = await createWorld(getDb());
    kvnr = world.identity('pkv').kvnr!;
  });
  after(() => world.close());

  test('insured gives consent once (201, then 409), reads it, revokes it (204, then 404)', async () => {
    const posted = await call(world, 'pkv', 'POST', '/Consent', { body: chargconsConsent(kvnr) });
    assert.equal(posted.status, 201, JSON.stringify(posted.body));
    const consent = posted.body as Consent;
    assert.equal(consent.id, `CHARGCONS-${kvnr}`);
    assert.equal(posted.res.headers.location, `http://fd.test/Consent/CHARGCONS-${kvnr}`);
    assert.ok(consent.dateTime, 'the Fachdienst stamps dateTime');
    assert.equal(consent.patient?.identifier?.value, kvnr);

    const again = await call(world, 'pkv', 'POST', '/Consent', { body: chargconsConsent(kvnr) });
    assert.equal(again.status, 409);

    const list = (await call(world, 'pkv', 'GET', '/Consent')).body as Bundle;
    assert.equal(list.type, 'searchset');
    assert.equal(list.total, 1);
    assert.equal(list.entry?.[0].resource?.id, consent.id);
    assert.equal(list.entry?.[0].fullUrl, `http://fd.test/Consent/${consent.id}`);
    const others = (await call(world, 'insured', 'GET', '/Consent')).body as Bundle;
    assert.equal(others.total, 0, 'another insured sees none');
    assert.equal(others.entry, undefined);

    assert.equal((await call(world, 'pkv', 'DELETE', '/Consent')).status, 400, 'category is required');
    assert.equal((await call(world, 'pkv', 'DELETE', '/Consent?category=OTHER')).status, 400);
    assert.equal((await call(world, 'pkv', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 204);
    assert.equal((await call(world, 'pkv', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 404);
    assert.equal(((await call(world, 'pkv', 'GET', '/Consent')).body as Bundle).total, 0);
  });

  test('only the insured, only for their own KVNR, only CHARGCONS', async () => {
    const pharmacy = await call(world, 'pharmacy', 'POST', '/Consent', { body: chargconsConsent(kvnr) });
    assert.equal(pharmacy.status, 403);
    assert.equal((await call(world, 'pharmacy', 'GET', '/Consent')).status, 403);
    assert.equal((await call(world, 'practice', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 403);
    const foreign = await call(world, 'insured', 'POST', '/Consent', { body: chargconsConsent(kvnr) });
    assert.equal(foreign.status, 403, 'patient KVNR must be the caller’s');
    const wrongCategory = chargconsConsent(world.identity('insured').kvnr!);
    wrongCategory.category = [{ coding: [{ system: 'http://example.org/other', code: CHARGCONS }] }];
    assert.equal((await call(world, 'insured', 'POST', '/Consent', { body: wrongCategory })).status, 400);
    const xml = await call(world, 'insured', 'POST', '/Consent', { body: chargconsConsent(world.identity('insured').kvnr!), format: 'xml' });
    assert.equal(xml.status, 201, 'XML as well');
    assert.equal((await call(world, 'insured', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 204);
  });

  test('AuditEvents for giving, reading and revoking, about the Consent', async () => {
    assert.equal((await call(world, 'pkv', 'POST', '/Consent', { body: chargconsConsent(kvnr) })).status, 201);
    assert.equal((await call(world, 'pkv', 'GET', '/Consent')).status, 200);
    assert.equal((await call(world, 'pkv', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 204);
    const events = ((await call(world, 'pkv', 'GET', '/AuditEvent?_sort=-date')).body as Bundle).entry!.map((e) => e.resource as AuditEvent);
    const mine = events.filter((e) => e.entity?.[0]?.what?.reference === `http://fd.test/Consent/CHARGCONS-${kvnr}`);
    assert.deepEqual(mine.slice(0, 3).map((e) => e.action).sort(), ['C', 'D', 'R']);
    assert.match(mine.find((e) => e.action === 'D')!.text!.div, /Einwilligung .* widerrufen/);
    assert.equal(mine[0].agent?.[0]?.who?.identifier?.value, kvnr);
  });

  test('$accept of a PKV Task carries the consent when given, not otherwise; GKV Tasks never', async () => {
    const without = await readyTask(world, '200');
    const plain = (await call(world, 'pharmacy', 'POST', `/Task/${without.id}/$accept?ac=${without.accessCode}`)).body as Bundle;
    assert.deepEqual(plain.entry!.map((e) => e.resource!.resourceType), ['Task', 'Binary']);

    assert.equal((await call(world, 'pkv', 'POST', '/Consent', { body: chargconsConsent(kvnr) })).status, 201);
    const t = await readyTask(world, '200');
    const r = await call(world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const bundle = r.body as Bundle;
    assert.deepEqual(bundle.entry!.map((e) => e.resource!.resourceType), ['Task', 'Binary', 'Consent']);
    const consentEntry = bundle.entry![2];
    assert.equal(consentEntry.fullUrl, `http://fd.test/Consent/CHARGCONS-${kvnr}`);
    assert.equal((consentEntry.resource as Consent).patient?.identifier?.value, kvnr);

    const gkv = await readyTask(world, '160');
    const g = (await call(world, 'pharmacy', 'POST', `/Task/${gkv.id}/$accept?ac=${gkv.accessCode}`)).body as Bundle;
    assert.ok(!g.entry!.some((e) => e.resource!.resourceType === 'Consent'));
    assert.equal(g.entry![0].resource!.resourceType, 'Task');
    assert.equal((await call(world, 'pkv', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 204);
  });
});
