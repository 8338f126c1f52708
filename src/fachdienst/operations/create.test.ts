// POST /Task/$create (erp-api §1.2, §4): a draft Task per flowtype, Location, PrescriptionID and AccessCode; 400 for a
// missing, unknown or wrongly coded workflowType; 403 for every role but the prescriber's institution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrescriptionId } from '../../fhir/identifiers.ts';
import type { Resource, Task } from '../../fhir/types.ts';
import { EXT, FLOW_TYPE_DISPLAY, NS, PROFILE } from '../task-resource.ts';
import { BASE_URL, call, createParameters, identifierValue, type Format, type Who, useWorld } from '../testing.ts';

const env = useWorld();

const create = (body: Resource | undefined, who: Who = 'practice', format: Format = 'json') =>
  call(env.world, who, 'POST', '/Task/$create', { body, format });

const PERFORMER = {
  pharmacy: { code: 'urn:oid:1.2.276.0.76.4.54', display: 'Öffentliche Apotheke' },
  payer: { code: 'urn:oid:1.2.276.0.76.4.59', display: 'Kostenträger' },
};

for (const flowType of ['160', '162', '169', '200', '209']) {
  test(`workflowType ${flowType}: 201 draft Task, Location, PrescriptionID ${flowType}.…, 64-hex AccessCode`, async () => {
    for (const format of ['json', 'xml'] as Format[]) {
      const r = await create(createParameters(flowType), 'practice', format);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.match(String(r.res.headers['content-type']), format === 'xml' ? /^application\/fhir\+xml/ : /^application\/fhir\+json/);
      const task = r.body as Task;
      assert.equal(task.resourceType, 'Task');
      assert.deepEqual(task.meta?.profile, [PROFILE('GEM_ERP_PR_Task')]);
      assert.equal(r.res.headers.location, `${BASE_URL}/Task/${task.id}`);

      // Task.id is the PrescriptionID: flowtype prefix, valid ISO 7064 checksum
      const parsed = parsePrescriptionId(task.id!);
      assert.ok(parsed, `${task.id} is a valid PrescriptionID`);
      assert.equal(parsed.flowType, flowType);
      assert.equal(identifierValue(task, NS.prescriptionId), task.id);
      assert.match(identifierValue(task, NS.accessCode)!, /^[0-9a-f]{64}$/);
      assert.ok(task.identifier!.every((i) => i.use === 'official'));
      assert.equal(identifierValue(task, NS.secret), undefined);

      assert.equal(task.status, 'draft');
      assert.equal(task.intent, 'order');
      assert.equal(task.for, undefined, 'no KVNR before $activate');
      assert.equal(task.owner, undefined);
      assert.equal(task.input, undefined);
      const type = task.extension!.find((e) => e.url === EXT.prescriptionType)!.valueCoding!;
      assert.deepEqual({ system: type.system, code: type.code, display: type.display }, { system: NS.flowType, code: flowType, display: FLOW_TYPE_DISPLAY[flowType] });
      assert.ok(!task.extension!.some((e) => e.url === EXT.acceptDate || e.url === EXT.expiryDate));
      const performer = flowType === '162' ? PERFORMER.payer : PERFORMER.pharmacy;
      assert.equal(task.performerType![0].coding![0].system, NS.organizationType);
      assert.equal(task.performerType![0].coding![0].code, performer.code);
      assert.equal(task.performerType![0].coding![0].display, performer.display);
      assert.ok(task.authoredOn && task.lastModified);
    }
  });
}

test('each $create gives a new PrescriptionID and a new AccessCode', async () => {
  const tasks = await Promise.all(Array.from({ length: 10 }, () => create(createParameters('160'))));
  const ids = new Set(tasks.map((r) => r.body.id));
  const codes = new Set(tasks.map((r) => identifierValue(r.body, NS.accessCode)));
  assert.equal(ids.size, 10);
  assert.equal(codes.size, 10);
});

test('400 for a missing workflowType, an unknown code and a wrong system; 166 is not offered', async () => {
  const cases: [string, Resource | undefined, RegExp][] = [
    ['empty Parameters', { resourceType: 'Parameters' } as Resource, /genau einen Parameter workflowType/],
    ['other parameter', { resourceType: 'Parameters', parameter: [{ name: 'flowType', valueCoding: { system: NS.flowType, code: '160' } }] } as Resource, /genau einen Parameter workflowType/],
    ['two parameters', { resourceType: 'Parameters', parameter: [...(createParameters('160') as any).parameter, ...(createParameters('169') as any).parameter] } as Resource, /genau einen Parameter workflowType/],
    ['unknown code 999', createParameters('999'), /Ungültiger workflowType 999/],
    ['BtM 165 (not implemented)', createParameters('165'), /Ungültiger workflowType 165/],
    ['T-Rezept 166 (feature flag off)', createParameters('166'), /Ungültiger workflowType 166/],
    ['no code', { resourceType: 'Parameters', parameter: [{ name: 'workflowType', valueCoding: { system: NS.flowType } }] } as Resource, /Ungültiger workflowType \(leer\)/],
    ['wrong system', { resourceType: 'Parameters', parameter: [{ name: 'workflowType', valueCoding: { system: 'https://gematik.de/fhir/CodeSystem/Flowtype', code: '160' } }] } as Resource, /workflowType\.system muss https:\/\/gematik\.de\/fhir\/erp\/CodeSystem\/GEM_ERP_CS_FlowType sein/],
    ['valueCode instead of valueCoding', { resourceType: 'Parameters', parameter: [{ name: 'workflowType', valueCode: '160' }] } as Resource, /workflowType\.system muss/],
    ['not a Parameters', { resourceType: 'Task', status: 'draft', intent: 'order' } as Resource, /Parameters mit workflowType erwartet/],
    ['no body', undefined, /Parameters mit workflowType erwartet/],
  ];
  for (const [name, body, text] of cases) {
    for (const format of ['json', 'xml'] as Format[]) {
      const r = await create(body, 'practice', format);
      assert.equal(r.status, 400, `${name} (${format}): ${JSON.stringify(r.body)}`);
      assert.equal(r.body.resourceType, 'OperationOutcome');
      assert.equal(r.body.issue[0].code, 'invalid');
      assert.match(r.body.issue[0].details.text, text, name);
      assert.equal(r.res.headers.location, undefined);
    }
  }
});

test('403 for pharmacy, insured and payer (only prescribers create)', async () => {
  for (const who of ['pharmacy', 'insured', 'payer'] as Who[]) {
    const r = await create(createParameters('160'), who);
    assert.equal(r.status, 403, who);
    assert.equal(r.body.issue[0].code, 'forbidden');
    assert.match(r.body.issue[0].details.text, new RegExp(`Zugriff für die Rolle ${env.world.identity(who).professionOID!.replace(/\./g, '\\.')} nicht erlaubt`));
  }
});

test('401 without a token; 415 for a body that is not FHIR', async () => {
  const anonymous = await env.world.app.inject({ method: 'POST', url: '/Task/$create', headers: { 'content-type': 'application/fhir+json' }, payload: JSON.stringify(createParameters('160')) });
  assert.equal(anonymous.statusCode, 401);
  const plain = await env.world.app.inject({
    method: 'POST', url: '/Task/$create',
    headers: { authorization: `Bearer ${await env.world.token('practice')}`, 'content-type': 'text/plain', accept: 'application/fhir+json' },
    payload: 'workflowType=160',
  });
  assert.equal(plain.statusCode, 415);
  assert.equal(plain.json().resourceType, 'OperationOutcome');
});
