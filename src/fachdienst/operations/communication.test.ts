import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Communication } from '../../fhir/types.ts';
import { NS } from '../task-resource.ts';
import { call, readyTask, type TaskHandle, useWorld } from '../testing.ts';

const env = useWorld();

const PROFILE = (kind: string) => `https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Communication_${kind}|1.5`;

function dispReq(t: TaskHandle, recipient: string, accessCode = t.accessCode): Communication {
  return {
    resourceType: 'Communication',
    meta: { profile: [PROFILE('DispReq')] },
    status: 'unknown',
    basedOn: [{ reference: `Task/${t.id}/$accept?ac=${accessCode}` }],
    recipient: [{ identifier: { system: NS.telematikId, value: recipient } }],
    payload: [{ contentString: JSON.stringify({ version: 1, supplyOptionsType: 'delivery', name: 'Lisa Müller', address: ['Chausseestraße 8', '10115 Berlin'] }) }],
  };
}

function reply(t: TaskHandle, kvnr: string): Communication {
  return {
    resourceType: 'Communication',
    meta: { profile: [PROFILE('Reply')] },
    status: 'unknown',
    basedOn: [{ reference: `Task/${t.id}` }],
    recipient: [{ identifier: { system: NS.kvnr, value: kvnr } }],
    payload: [{ contentString: JSON.stringify({ version: 1, supplyOptionsType: 'onPremise', info_text: 'Liegt bereit', pickUpCodeHR: '12341234' }) }],
  };
}

test('DispReq from the insured to a pharmacy, Reply back; received set on first GET; sender deletes', async () => {
  const t = await readyTask(env.world);
  const pharmacyId = env.world.identity('pharmacy').telematikId!;
  const posted = await call(env.world, 'insured', 'POST', '/Communication', { body: dispReq(t, pharmacyId) });
  assert.equal(posted.status, 201, JSON.stringify(posted.body));
  const sent = posted.body as Communication;
  assert.match(String(posted.res.headers.location), new RegExp(`/Communication/${sent.id}$`));
  assert.equal(sent.sender?.identifier?.value, 'X110614233');
  assert.ok(sent.sent);
  assert.equal(sent.received, undefined);

  const inbox = (await call(env.world, 'pharmacy', 'GET', '/Communication')).body as Bundle;
  const got = inbox.entry!.map((e) => e.resource as Communication).find((c) => c.id === sent.id)!;
  assert.ok(got.received, 'first retrieval by the recipient sets received');
  const otherPharmacy = (await call(env.world, 'pharmacy2', 'GET', '/Communication')).body as Bundle;
  assert.ok(!otherPharmacy.entry?.some((e) => e.resource!.id === sent.id));

  const answered = await call(env.world, 'pharmacy', 'POST', '/Communication', { body: reply(t, 'X110614233') });
  assert.equal(answered.status, 201, JSON.stringify(answered.body));
  const mine = (await call(env.world, 'insured', 'GET', '/Communication')).body as Bundle;
  assert.equal(mine.entry!.length, 2);

  assert.equal((await call(env.world, 'pharmacy', 'DELETE', `/Communication/${sent.id}`)).status, 403, 'only the sender deletes');
  assert.equal((await call(env.world, 'insured', 'DELETE', `/Communication/${sent.id}`)).status, 204);
  assert.equal((await call(env.world, 'insured', 'GET', `/Communication/${sent.id}`)).status, 404);
});

test('who may send what: wrong AccessCode, 169, Reply from insured, payload schema, message to self', async () => {
  const t = await readyTask(env.world);
  const pharmacyId = env.world.identity('pharmacy').telematikId!;
  assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: dispReq(t, pharmacyId, 'b'.repeat(64)) })).status, 403);
  assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: reply(t, 'K220745670') })).status, 403);
  assert.equal((await call(env.world, 'pharmacy', 'POST', '/Communication', { body: dispReq(t, pharmacyId) })).status, 403);
  const bad = dispReq(t, pharmacyId);
  bad.payload = [{ contentString: JSON.stringify({ version: 1, supplyOptionsType: 'drone' }) }];
  assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: bad })).status, 400);
  const extra = dispReq(t, pharmacyId);
  extra.payload = [{ contentString: JSON.stringify({ version: 1, supplyOptionsType: 'delivery', evil: true }) }];
  assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: extra })).status, 400);
  const direct = await readyTask(env.world, '169');
  assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: dispReq(direct, pharmacyId) })).status, 400);
  assert.equal((await call(env.world, 'pharmacy', 'POST', '/Communication', {
    body: { ...reply(t, 'X110614233'), recipient: [{ identifier: { system: NS.telematikId, value: pharmacyId } }] },
  })).status, 400);
  const infoReq = { ...dispReq(t, pharmacyId), meta: { profile: [PROFILE('InfoReq')] } };
  assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: infoReq })).status, 400);
});

test('Representative messages: at most 10 per sender, recipient and Task (429)', async () => {
  const t = await readyTask(env.world);
  const msg: Communication = {
    resourceType: 'Communication',
    meta: { profile: [PROFILE('Representative')] },
    status: 'unknown',
    basedOn: [{ reference: `Task/${t.id}` }],
    recipient: [{ identifier: { system: NS.kvnr, value: 'K220745670' } }],
    payload: [{ contentString: 'Bitte hol das Rezept ab' }],
  };
  for (let i = 0; i < 10; i++) assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: msg })).status, 201);
  assert.equal((await call(env.world, 'insured', 'POST', '/Communication', { body: msg })).status, 429);
});

test('$abort deletes the Communications of the Task', async () => {
  const t = await readyTask(env.world);
  const posted = await call(env.world, 'insured', 'POST', '/Communication', { body: dispReq(t, env.world.identity('pharmacy2').telematikId!) });
  assert.equal(posted.status, 201);
  assert.equal((await call(env.world, 'insured', 'POST', `/Task/${t.id}/$abort`)).status, 204);
  assert.equal((await call(env.world, 'pharmacy2', 'GET', `/Communication/${posted.body.id}`)).status, 404);
});
