import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEvent, Bundle } from '../../fhir/types.ts';
import { call, completedTask, readyTask, useWorld } from '../testing.ts';

const env = useWorld();

const text = (e: AuditEvent) => e.text!.div.replace(/<[^>]+>/g, '');

test('every access to the insured\'s prescription is logged in German, newest first, paged by 20', async () => {
  const t = await completedTask(env.world);
  const events = ((await call(env.world, 'insured', 'GET', '/AuditEvent')).body as Bundle).entry!.map((e) => e.resource as AuditEvent);
  const forTask = events.filter((e) => e.entity?.[0].what?.identifier?.value === t.id);
  assert.deepEqual(forTask.map((e) => e.action), ['U', 'U', 'C'], 'close, accept, activate (newest first)');
  assert.equal(text(forTask[2]), `${env.world.identity('practice').name} hat ein E-Rezept ${t.id} eingestellt`);
  assert.equal(text(forTask[1]), `${env.world.identity('pharmacy').name} hat ein E-Rezept ${t.id} angenommen`);
  assert.equal(forTask[0].entity?.[0].name, 'X110614233');
  assert.equal(forTask[1].agent[0].who?.identifier?.value, env.world.identity('pharmacy').telematikId);
  assert.equal(forTask[0].source.observer.reference, 'Device/1');

  // reads are logged too (the insured's own GET /Task/{id})
  await call(env.world, 'insured', 'GET', `/Task/${t.id}`);
  const latest = ((await call(env.world, 'insured', 'GET', '/AuditEvent?_count=1')).body as Bundle);
  assert.equal((latest.entry![0].resource as AuditEvent).action, 'R');
  assert.ok(latest.link!.some((l) => l.relation === 'next'));

  for (let i = 0; i < 18; i++) await readyTask(env.world);
  const page = (await call(env.world, 'insured', 'GET', '/AuditEvent')).body as Bundle;
  assert.equal(page.entry!.length, 20, 'default page size 20');
  const next = page.link!.find((l) => l.relation === 'next')!.url.replace(/^https?:\/\/[^/]+/, '');
  const page2 = (await call(env.world, 'insured', 'GET', next)).body as Bundle;
  assert.ok(page2.entry!.length >= 1);
  assert.ok(!page2.entry!.some((e) => page.entry!.some((p) => p.resource!.id === e.resource!.id)));

  const one = page.entry![0].resource as AuditEvent;
  assert.equal((await call(env.world, 'insured', 'GET', `/AuditEvent/${one.id}`)).status, 200);
  assert.equal((await call(env.world, 'stranger', 'GET', `/AuditEvent/${one.id}`)).status, 404);
  assert.equal(((await call(env.world, 'stranger', 'GET', '/AuditEvent')).body as Bundle).entry?.length ?? 0, 0);
  assert.equal((await call(env.world, 'pharmacy', 'GET', '/AuditEvent')).status, 403);
});

test('Accept-Language en gives English texts; German is the default', async () => {
  const t = await readyTask(env.world);
  const en = await call(env.world, 'insured', 'GET', '/AuditEvent?_count=1', { headers: { 'accept-language': 'en-US,en;q=0.9,de;q=0.5' } });
  const event = en.body.entry[0].resource as AuditEvent;
  assert.equal(event.language, 'en');
  assert.equal(text(event), `${env.world.identity('practice').name} created the prescription ${t.id}`);
  const de = await call(env.world, 'insured', 'GET', `/AuditEvent/${event.id}`, { headers: { 'accept-language': 'de-DE' } });
  assert.equal(text(de.body), `${env.world.identity('practice').name} hat ein E-Rezept ${t.id} eingestellt`);
});

test('GET /metadata and GET /Device', async () => {
  const meta = await call(env.world, 'pharmacy', 'GET', '/metadata');
  assert.equal(meta.status, 200);
  assert.equal(meta.body.resourceType, 'CapabilityStatement');
  assert.deepEqual(meta.body.format, ['xml', 'json']);
  const ops = meta.body.rest[0].resource.find((r: { type: string }) => r.type === 'Task').operation.map((o: { name: string }) => o.name);
  assert.deepEqual(ops, ['create', 'activate', 'accept', 'reject', 'dispense', 'close', 'abort']);
  const device = await call(env.world, 'insured', 'GET', '/Device');
  assert.equal(device.body.deviceName[0].name, 'E-Rezept-Fachdienst');
  assert.equal(device.body.contact[0].value, 'betrieb@gematik.de');
});
