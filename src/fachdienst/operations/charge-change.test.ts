// ChargChangeReq/ChargChangeReply over POST/GET/DELETE /Communication: the PKV insured asks the pharmacy that
// provided a ChargeItem for a correction and hands it the ChargeItem's AccessCode; the pharmacy corrects (PUT) and
// answers. Deleting the ChargeItem or revoking the consent deletes the messages; the Task retention does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { signCades } from '../../crypto/cades.ts';
import type { KeyAndCert } from '../../crypto/pki.ts';
import { toXml } from '../../fhir/codec.ts';
import type { Bundle, ChargeItem, Communication, OperationOutcome } from '../../fhir/types.ts';
import { runRetention } from '../retention.ts';
import { NS } from '../task-resource.ts';
import { call, completedTask, readyTask, type TaskHandle, type Who, useWorld } from '../testing.ts';
import { CHARGCONS, chargconsConsent } from '../../insured/billing.ts';

let smcb: KeyAndCert;
const env = useWorld({
  setup: ({ world }) => {
    const pharmacy = world.identity('pharmacy');
    smcb = world.pki.issue({ kind: 'smcb-osig', name: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: '1.2.276.0.76.4.54' });
  },
});

const PROFILE = (kind: string, version = '1.0') => `https://gematik.de/fhir/erpchrg/StructureDefinition/GEM_ERPCHRG_PR_Communication_${kind}|${version}`;
const PKV_KVNR = 'http://fhir.de/sid/pkv/kvid-10';
const kvnr = () => env.world.identity('pkv').kvnr!;
const pharmacyId = () => env.world.identity('pharmacy').telematikId!;

interface Item { id: string; accessCode: string }

/** A ChargeItem the pharmacy provided for a completed PKV prescription of the `pkv` insured (consent given). */
async function chargeItem(flowType = '200'): Promise<Item> {
  const world = env.world;
  const consent = await call(world, 'pkv', 'POST', '/Consent', { body: chargconsConsent(kvnr()) });
  assert.ok(consent.status === 201 || consent.status === 409, JSON.stringify(consent.body));
  const t = await completedTask(world, flowType);
  const bundle: Bundle = {
    resourceType: 'Bundle', id: crypto.randomUUID(), type: 'document', identifier: { system: NS.prescriptionId, value: t.id },
    meta: { profile: ['http://fhir.abda.de/eRezeptAbgabedaten/StructureDefinition/DAV-PKV-PR-ERP-AbgabedatenBundle|1.3'] },
    timestamp: world.clock.now.toISOString(),
  };
  const data = signCades(Buffer.from(toXml(bundle), 'utf8'), smcb, { signingTime: world.clock.now }).toString('base64');
  const body: ChargeItem = {
    resourceType: 'ChargeItem',
    contained: [{ resourceType: 'Binary', id: 'abgabedaten', contentType: 'application/pkcs7-mime', data }],
    status: 'billable',
    code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable' }] },
    subject: { identifier: { system: PKV_KVNR, value: kvnr() } },
    supportingInformation: [{ reference: '#abgabedaten', display: 'Binary' }],
  };
  const posted = await call(world, 'pharmacy', 'POST', `/ChargeItem?task=${t.id}&secret=${t.secret}`, { body });
  assert.equal(posted.status, 201, JSON.stringify(posted.body));
  const listed = ((await call(world, 'pkv', 'GET', '/ChargeItem')).body as Bundle).entry!
    .map((e) => e.resource as ChargeItem).find((c) => c.id === t.id)!;
  return { id: t.id, accessCode: listed.identifier!.find((i) => i.system === NS.accessCode)!.value! };
}

function changeReq(item: Item, options: { ac?: string | null; recipient?: string; text?: string } = {}): Communication {
  const ac = options.ac === null ? '' : `?ac=${options.ac ?? item.accessCode}`;
  return {
    resourceType: 'Communication',
    meta: { profile: [PROFILE('ChargChangeReq')] },
    status: 'unknown',
    basedOn: [{ reference: `ChargeItem/${item.id}${ac}` }],
    recipient: [{ identifier: { system: NS.telematikId, value: options.recipient ?? pharmacyId() } }],
    payload: [{ contentString: options.text ?? 'Bitte den Namen korrigieren: Günther statt Waltraud.' }],
  };
}

function changeReply(item: Item, recipient = kvnr()): Communication {
  return {
    resourceType: 'Communication',
    meta: { profile: [PROFILE('ChargChangeReply')] },
    status: 'unknown',
    basedOn: [{ reference: `ChargeItem/${item.id}` }],
    recipient: [{ identifier: { system: PKV_KVNR, value: recipient } }],
    payload: [{ contentString: 'Erledigt.' }],
  };
}

const post = (who: Who, body: Communication, format: 'json' | 'xml' = 'json') => call(env.world, who, 'POST', '/Communication', { body, format });
const inbox = async (who: Who) => (((await call(env.world, who, 'GET', '/Communication')).body as Bundle).entry ?? []).map((e) => e.resource as Communication);
const textOf = (r: { body: unknown }) => (r.body as OperationOutcome).issue[0].details?.text ?? '';

test('the insured hands the AccessCode to the pharmacy, which corrects the ChargeItem and answers; both list, the sender deletes', async () => {
  const item = await chargeItem();
  const req = await post('pkv', changeReq(item));
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const sent = req.body as Communication;
  assert.match(String(req.res.headers.location), new RegExp(`/Communication/${sent.id}$`));
  assert.deepEqual(sent.sender?.identifier, { system: PKV_KVNR, value: kvnr() }, 'the PKV KVNR system, as the FD sets it');
  assert.deepEqual(sent.recipient, [{ identifier: { system: NS.telematikId, value: pharmacyId() } }]);
  assert.ok(sent.sent);
  assert.equal(sent.received, undefined);

  // the pharmacy finds the message and reads the AccessCode from basedOn
  const got = (await inbox('pharmacy')).find((c) => c.id === sent.id)!;
  assert.ok(got, 'listed for the recipient');
  assert.ok(got.received, 'the first retrieval by the recipient sets received');
  assert.equal(got.meta?.profile?.[0], PROFILE('ChargChangeReq'));
  const ac = new URLSearchParams(got.basedOn![0].reference!.split('?')[1]).get('ac')!;
  assert.equal(ac, item.accessCode);
  assert.ok(!(await inbox('pharmacy2')).some((c) => c.id === sent.id), 'not for other pharmacies');
  const read = await call(env.world, 'pharmacy', 'GET', `/ChargeItem/${item.id}?ac=${ac}`);
  assert.equal(read.status, 200, 'the AccessCode opens the ChargeItem for the pharmacy');

  const answer = await post('pharmacy', changeReply(item), 'xml');
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  const answered = answer.body as Communication;
  assert.equal(answered.sender?.identifier?.value, pharmacyId());
  assert.deepEqual(answered.recipient?.[0].identifier, { system: PKV_KVNR, value: kvnr() });
  const mine = (await inbox('pkv')).filter((c) => c.basedOn?.[0].reference?.startsWith(`ChargeItem/${item.id}`));
  assert.deepEqual(mine.map((c) => c.id).sort(), [sent.id, answered.id].sort(), 'the insured sees what they sent and the answer');
  assert.ok(mine.find((c) => c.id === answered.id)!.received);
  assert.equal((await call(env.world, 'pkv', 'GET', `/Communication/${answered.id}`)).status, 200);

  assert.equal((await call(env.world, 'pharmacy', 'DELETE', `/Communication/${sent.id}`)).status, 403, 'only the sender deletes');
  assert.equal((await call(env.world, 'pkv', 'DELETE', `/Communication/${answered.id}`)).status, 403);
  assert.equal((await call(env.world, 'pkv', 'DELETE', `/Communication/${sent.id}`)).status, 204);
  assert.equal((await call(env.world, 'pharmacy', 'DELETE', `/Communication/${answered.id}`)).status, 204);
  assert.equal((await call(env.world, 'pharmacy', 'GET', `/Communication/${sent.id}`)).status, 404);
  assert.equal((await call(env.world, 'pkv', 'GET', `/Communication/${answered.id}`)).status, 404);
});

test('ChargChangeReq without AccessCode is a plain request; a wrong AccessCode or a Task reference is refused', async () => {
  const item = await chargeItem('209');
  assert.equal((await post('pkv', changeReq(item, { ac: null }))).status, 201);
  const noPayload = changeReq(item);
  delete noPayload.payload;
  assert.equal((await post('pkv', noPayload)).status, 201, 'the text is optional');

  const wrongAc = await post('pkv', changeReq(item, { ac: 'f'.repeat(64) }));
  assert.equal(wrongAc.status, 400);
  assert.match(textOf(wrongAc), /AccessCode/);
  const taskAc = changeReq(item);
  taskAc.basedOn = [{ reference: `Task/${item.id}/$accept?ac=${item.accessCode}` }];
  const viaTask = await post('pkv', taskAc);
  assert.equal(viaTask.status, 400);
  assert.match(textOf(viaTask), /ChargeItem/);
  const extraParam = changeReq(item);
  extraParam.basedOn = [{ reference: `ChargeItem/${item.id}?ac=${item.accessCode}&secret=x` }];
  assert.equal((await post('pkv', extraParam)).status, 400);
  const reply = changeReply(item);
  reply.basedOn = [{ reference: `ChargeItem/${item.id}?ac=${item.accessCode}` }];
  const replyAc = await post('pharmacy', reply);
  assert.equal(replyAc.status, 400);
  assert.match(textOf(replyAc), /ChargChangeReply darf keinen AccessCode/);
});

test('who may send what: roles 403, other insured 403, missing or GKV ChargeItem 400, wrong recipient 400, structure 400', async () => {
  const item = await chargeItem();
  // wrong role
  assert.equal((await post('pharmacy', changeReq(item))).status, 403);
  assert.equal((await post('payer', changeReq(item))).status, 403);
  assert.equal((await post('pkv', changeReply(item))).status, 403);
  assert.equal((await post('practice', changeReply(item))).status, 403);
  // not the insured's ChargeItem, not the pharmacy that provided it
  const foreign = await post('insured', changeReq(item, { ac: null }));
  assert.equal(foreign.status, 403);
  assert.equal(foreign.body.resourceType, 'OperationOutcome');
  assert.equal((await post('pharmacy2', changeReply(item))).status, 403);
  // the ChargeItem must exist (A_22734-01) and be PKV
  const pending = await readyTask(env.world, '200');
  const missing = await post('pkv', changeReq({ id: pending.id, accessCode: item.accessCode }, { ac: null }));
  assert.equal(missing.status, 400);
  assert.match(textOf(missing), /existiert nicht/);
  const gkv = await readyTask(env.world, '160');
  const notPkv = await post('insured', changeReq({ id: gkv.id, accessCode: item.accessCode }, { ac: null }));
  assert.equal(notPkv.status, 400);
  assert.match(textOf(notPkv), /PKV/);
  // recipients: the pharmacy that provided it, the insured of the ChargeItem
  const otherPharmacy = await post('pkv', changeReq(item, { recipient: env.world.identity('pharmacy2').telematikId! }));
  assert.equal(otherPharmacy.status, 400);
  assert.match(textOf(otherPharmacy), /recipient/);
  assert.equal((await post('pharmacy', changeReply(item, env.world.identity('insured').kvnr!))).status, 400);
  const toPharmacy = changeReply(item);
  toPharmacy.recipient = [{ identifier: { system: NS.telematikId, value: pharmacyId() } }];
  assert.equal((await post('pharmacy', toPharmacy)).status, 400);
  // structure
  assert.equal((await post('pkv', { ...changeReq(item), status: 'completed' })).status, 400);
  const version = await post('pkv', { ...changeReq(item), meta: { profile: [PROFILE('ChargChangeReq', '9.9')] } });
  assert.equal(version.status, 400);
  assert.match(textOf(version), /Profilversion 9\.9/);
  assert.equal((await post('pkv', { ...changeReq(item), payload: [{ contentString: 'a' }, { contentString: 'b' }] })).status, 400);
  assert.equal((await post('pkv', changeReq(item, { text: 'Hallo\u0007' }))).status, 400);
  assert.equal((await post('pkv', { ...changeReq(item), recipient: [] })).status, 400);
  assert.equal((await post('pkv', { ...changeReq(item), meta: { profile: [PROFILE('ChargChangeRequest')] } })).status, 400);
  assert.ok(!(await inbox('pharmacy')).some((c) => c.basedOn?.[0].reference?.startsWith(`ChargeItem/${item.id}`)), 'nothing was stored');
});

test('DELETE /ChargeItem deletes its messages, not those about other ChargeItems', async () => {
  const gone = await chargeItem();
  const kept = await chargeItem();
  const req = (await post('pkv', changeReq(gone))).body as Communication;
  const reply = (await post('pharmacy', changeReply(gone))).body as Communication;
  const other = (await post('pkv', changeReq(kept))).body as Communication;
  assert.equal((await call(env.world, 'pkv', 'DELETE', `/ChargeItem/${gone.id}`)).status, 204);
  for (const id of [req.id, reply.id]) {
    assert.equal((await call(env.world, 'pkv', 'GET', `/Communication/${id}`)).status, 404);
    assert.equal((await call(env.world, 'pharmacy', 'GET', `/Communication/${id}`)).status, 404);
  }
  assert.equal((await call(env.world, 'pkv', 'GET', `/Communication/${other.id}`)).status, 200);
  assert.equal((await post('pkv', changeReq(gone))).status, 400, 'no messages about a deleted ChargeItem');
});

test('the Task retention keeps them; revoking the consent deletes all of the insured’s ChargeItem messages, nothing else', async () => {
  const item = await chargeItem();
  const req = (await post('pkv', changeReq(item))).body as Communication;
  const reply = (await post('pharmacy', changeReply(item))).body as Communication;
  // the completed Task goes after 100 days; its ChargeItem and the messages about it stay
  await runRetention(env.database, { now: new Date(env.world.clock.now.getTime() + 101 * 86_400_000) });
  assert.equal((await call(env.world, 'pkv', 'GET', `/Communication/${req.id}`)).status, 200);
  assert.equal((await call(env.world, 'pkv', 'GET', `/Communication/${reply.id}`)).status, 200);

  // an ordinary message of someone else stays
  const gkv = await readyTask(env.world, '160');
  const dispReq = await call(env.world, 'insured', 'POST', '/Communication', {
    body: {
      resourceType: 'Communication',
      meta: { profile: ['https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Communication_DispReq|1.5'] },
      status: 'unknown',
      basedOn: [{ reference: `Task/${gkv.id}/$accept?ac=${gkv.accessCode}` }],
      recipient: [{ identifier: { system: NS.telematikId, value: pharmacyId() } }],
      payload: [{ contentString: JSON.stringify({ version: 1, supplyOptionsType: 'onPremise' }) }],
    } as Communication,
  });
  assert.equal(dispReq.status, 201, JSON.stringify(dispReq.body));

  assert.equal((await call(env.world, 'pkv', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 204);
  assert.equal((await call(env.world, 'pharmacy', 'GET', `/Communication/${req.id}`)).status, 404);
  assert.equal((await call(env.world, 'pharmacy', 'GET', `/Communication/${reply.id}`)).status, 404);
  assert.deepEqual(await inbox('pkv'), []);
  assert.equal((await call(env.world, 'insured', 'GET', `/Communication/${dispReq.body.id}`)).status, 200);
});
