// Bundle?action=$createerp (sign now, optional patient printout), TI?action=$getcards, and the Task operations
// $abort (practice, 200) and $reject (pharmacy, 204) forwarded to the Fachdienst with the caller's role.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { PDFDocument } from 'pdf-lib';
import { toXml, parseXml } from '../fhir/codec.ts';
import type { Binary, Bundle, Task } from '../fhir/types.ts';
import { pharmacies, physician } from '../seed/identities.ts';
import { NS_ACCESS_CODE, NS_PRESCRIPTION_ID } from './red-xml.ts';
import { usePracticeWorld, requestBundle, requestId, TENANT } from './testing.ts';

const PHARMACY_TENANT = 'apotheke_gendarmenmarkt';
const env = usePracticeWorld({ extraTenants: [{ name: PHARMACY_TENANT, identity: pharmacies[0] }] });

const createErp = (bundle: Bundle, query = '') => env.world.app.inject({
  method: 'POST', url: `/${TENANT}/Bundle?action=$createerp${query}`,
  headers: { 'content-type': 'application/fhir+xml' }, payload: toXml(bundle),
});
const identifier = (task: Task, system: string) => task.identifier?.find((i) => i.system === system)?.value;
const fdStatus = async (id: string) => (await env.database.db.selectFrom('fachdienst_task').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;

test('$createerp signs at once and answers the Task with PrescriptionId and AccessCode; a repeat gives the same', async () => {
  const bundle = requestBundle();
  const res = await createErp(bundle);
  assert.equal(res.statusCode, 201, res.body);
  const task = parseXml(res.body) as Task;
  assert.equal(task.id, requestId(bundle));
  assert.equal(task.status, 'ready');
  const pid = identifier(task, NS_PRESCRIPTION_ID)!;
  assert.match(identifier(task, NS_ACCESS_CODE)!, /^[0-9a-f]{64}$/);
  assert.equal(await fdStatus(pid), 'ready');
  const again = await createErp(bundle);
  assert.equal(again.statusCode, 200);
  assert.equal(identifier(parseXml(again.body) as Task, NS_PRESCRIPTION_ID), pid);
});

test('$createerp&patientdocument=1 adds the printout as base64 PDF; hbaiccsn and smbiccsn pick the cards', async () => {
  const cards = await env.world.konnektor.app.inject({ method: 'POST', url: '/EventService/GetCards', payload: { Context: { MandantId: TENANT, ClientSystemId: 'PVS', WorkplaceId: 'A1' } } });
  const all = cards.json().Cards as { CardType: string; Iccsn: string; TelematikId?: string }[];
  const hba = all.find((c) => c.CardType === 'HBA' && c.TelematikId === physician.telematikId)!;
  const smcb = all.find((c) => c.CardType === 'SMC-B')!;
  const res = await createErp(requestBundle(), `&hbaiccsn=${hba.Iccsn}&smbiccsn=${smcb.Iccsn}&patientdocument=true`);
  assert.equal(res.statusCode, 201, res.body);
  const bundle = parseXml(res.body) as Bundle;
  const task = bundle.entry!.find((e) => e.resource?.resourceType === 'Task')!.resource as Task;
  const binary = bundle.entry!.find((e) => e.resource?.resourceType === 'Binary')!.resource as Binary;
  assert.equal(task.status, 'ready');
  assert.equal(binary.contentType, 'application/pdf');
  assert.equal((await PDFDocument.load(Buffer.from(binary.data!, 'base64'))).getPageCount(), 1);

  const noCard = await createErp(requestBundle(), '&hbaiccsn=80276000000000000000');
  assert.equal(noCard.statusCode, 409);
  assert.match(noCard.body, /HBA/);
  const noSmcb = await createErp(requestBundle(), '&smcbiccsn=80276000000000000000');
  assert.equal(noSmcb.statusCode, 409);
});

test('$getcards: <ConnectorResponse><Card> with CardType, CardHandle, Iccsn, CtId, SlotId, CardHolderName', async () => {
  const res = await env.world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$getcards` });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /xml/);
  const doc = new XMLParser({ isArray: (name) => name === 'Card' }).parse(res.body);
  const cards = doc.ConnectorResponse.Card as Record<string, unknown>[];
  assert.ok(cards.some((c) => c.CardType === 'HBA' && c.CardHolderName === physician.name));
  assert.ok(cards.some((c) => c.CardType === 'SMC-B'));
  for (const c of cards) assert.deepEqual(Object.keys(c), ['CardType', 'CardHandle', 'Iccsn', 'CtId', 'SlotId', 'CardHolderName']);
});

test('$abort by the practice: 200, the Task is cancelled at the Fachdienst', async () => {
  const task = parseXml((await createErp(requestBundle())).body) as Task;
  const pid = identifier(task, NS_PRESCRIPTION_ID)!;
  const res = await env.world.app.inject({ method: 'GET', url: `/${TENANT}/Task?action=$abort&prescriptionid=${pid}&accesscode=${identifier(task, NS_ACCESS_CODE)}` });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(await fdStatus(pid), 'cancelled');
  // Again: the Fachdienst says it is gone.
  const again = await env.world.app.inject({ method: 'GET', url: `/${TENANT}/Task?prescriptionid=${pid}&action=$abort` });
  assert.equal(again.statusCode, 410);
  const missing = await env.world.app.inject({ method: 'GET', url: `/${TENANT}/Task?action=$abort` });
  assert.equal(missing.statusCode, 400);
});

test('$reject: 204 for the pharmacy that accepted (Task ready again); 403 for a practice tenant', async () => {
  const task = parseXml((await createErp(requestBundle())).body) as Task;
  const pid = identifier(task, NS_PRESCRIPTION_ID)!;
  const token = await env.world.token(pharmacies[0].id);
  const accepted = await env.world.fachdienst.inject({ method: 'POST', url: `/Task/${pid}/$accept?ac=${identifier(task, NS_ACCESS_CODE)}`, headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
  assert.equal(accepted.statusCode, 200, accepted.body);
  const secret = (accepted.json().entry[0].resource as Task).identifier!.find((i) => i.system!.endsWith('GEM_ERP_NS_Secret'))!.value;
  assert.equal(await fdStatus(pid), 'in-progress');

  const byPractice = await env.world.app.inject({ method: 'GET', url: `/${TENANT}/Task?action=$reject&prescriptionid=${pid}&secret=${secret}` });
  assert.equal(byPractice.statusCode, 403);
  const res = await env.world.app.inject({ method: 'GET', url: `/${PHARMACY_TENANT}/Task?action=$reject&prescriptionid=${pid}&secret=${secret}` });
  assert.equal(res.statusCode, 204, res.body);
  assert.equal(res.body, '');
  assert.equal(await fdStatus(pid), 'ready');
});
