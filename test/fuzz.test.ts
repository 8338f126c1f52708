// Hostile-input fuzzing of every Fachdienst endpoint through inject(): malformed and truncated XML/JSON,
// DOCTYPE/entities, deep nesting, huge bodies, invalid and tampered CMS, forged/expired/`alg: none` tokens, every
// role on every operation, other insureds' KVNRs and path tricks in ids. Never a 5xx, never someone else's data in
// a response (a protected value that the request did not carry itself), never a change to an existing record.
// Seeded PRNG: ERX_FUZZ_SEED reproduces a run; ERX_FUZZ_COUNT sets the count (ERX_LONG_TESTS=1: 100,000).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openDatabase, type Database } from '../src/storage/database.ts';
import { insured, pharmacies, payer, physician, practice } from '../src/seed/identities.ts';
import { serializeFhir } from '../src/fhir/codec.ts';
import type { Resource } from '../src/fhir/types.ts';
import { NS } from '../src/fachdienst/task-resource.ts';
import {
  activateParameters, call, completedTask, createParameters, createTask, createWorld, dispenseParameters,
  readyTask, acceptedTask, signedPrescription, type TaskHandle, type World,
} from '../src/fachdienst/testing.ts';

const SEED = Number(process.env.ERX_FUZZ_SEED ?? 20261123);
const COUNT = Number(process.env.ERX_FUZZ_COUNT ?? (process.env.ERX_LONG_TESTS === '1' ? 100_000 : 10_000));

/** mulberry32: small, fast, good enough to pick inputs reproducibly. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick<T>(list: readonly T[]): T {
      return list[Math.floor(next() * list.length)];
    },
  };
}

let database: Database;
let world: World;
before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createWorld(database);
});
after(async () => {
  await world.close();
  await database.close();
});

const TABLES = ['fachdienst_task', 'fachdienst_medication_dispense', 'fachdienst_communication'] as const;

async function snapshot(): Promise<Map<string, string>> {
  const rows = new Map<string, string>();
  for (const table of TABLES) {
    for (const row of await database.db.selectFrom(table).selectAll().execute()) {
      const key = `${table}:${row.id}:${row.seq ?? ''}:${row.prescription_id ?? ''}`;
      rows.set(key, JSON.stringify(row, (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)));
    }
  }
  return rows;
}

test(`fuzz: ${COUNT} hostile requests across all endpoints (seed ${SEED})`, { timeout: 30 * 60_000 }, async () => {
  const r = prng(SEED);
  // --- the world the fuzzer attacks: data of Lisa Müller and her child, handled by pharmacies[0] -------------
  const victims: TaskHandle[] = [
    await createTask(world), await readyTask(world), await acceptedTask(world), await completedTask(world),
    await readyTask(world, '160', 'json', { patient: insured[1] }), await readyTask(world, '169'),
  ];
  const ready = victims[1];
  const dispReq = await call(world, 'insured', 'POST', '/Communication', {
    body: {
      resourceType: 'Communication', status: 'unknown',
      meta: { profile: ['https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Communication_DispReq|1.5'] },
      basedOn: [{ reference: `Task/${ready.id}/$accept?ac=${ready.accessCode}` }],
      recipient: [{ identifier: { system: NS.telematikId, value: pharmacies[0].telematikId } }],
      payload: [{ contentString: JSON.stringify({ version: 1, supplyOptionsType: 'delivery', name: 'Lisa Müller', address: ['Chausseestraße 8', '10115 Berlin'] }) }],
    } as Resource,
  });
  assert.equal(dispReq.status, 201, JSON.stringify(dispReq.body));
  // Drafts whose AccessCode the fuzzer knows: it may reach the QES check, but only with invalid or tampered CMS.
  const drafts = [await createTask(world), await createTask(world, '169')];
  const secrets = [...victims, ...drafts].flatMap((t) => [t.accessCode, t.secret]).filter((s): s is string => !!s);
  const protectedValues = [
    insured[0].kvnr!, insured[1].kvnr!, insured[0].given!, insured[0].family!, insured[1].given!, 'Chausseestraße',
    ...victims.flatMap((t) => [t.accessCode, t.secret]).filter((s): s is string => !!s),
  ];
  const before = await snapshot();

  // --- tokens: every role (none of them the victims' own), and broken ones ---------------------------------
  const good = {
    prescriber: await world.tokenOf(practice), physician: await world.tokenOf(physician), pharmacy: await world.tokenOf(pharmacies[1]),
    payer: await world.tokenOf(payer), insured: await world.tokenOf(insured[2]),
  };
  const valid = good.pharmacy;
  const [h, p] = valid.split('.');
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  const badTokens = [
    `${b64({ alg: 'none', typ: 'at+JWT' })}.${b64({ ...payload, idNummer: insured[0].kvnr, professionOID: '1.2.276.0.76.4.49' })}.`,
    `${b64({ alg: 'none' })}.${p}.`,
    `${b64({ alg: 'HS256' })}.${p}.${Buffer.from('x'.repeat(32)).toString('base64url')}`,
    `${h}.${b64({ ...payload, idNummer: insured[0].kvnr, professionOID: '1.2.276.0.76.4.49' })}.${valid.split('.')[2]}`,
    `${h}.${b64({ ...payload, exp: payload.exp + 86_400 })}.${valid.split('.')[2]}`,
    valid.slice(0, -10), valid + 'A', valid.split('.').slice(0, 2).join('.'), `${valid}.x.y`, 'a.b.c', '', ' ', 'Bearer', '%00',
    await world.tokenOf(insured[0], { now: new Date(Date.now() - 7200_000), lifetimeSeconds: 300 }), // expired
    await world.tokenOf(insured[0], { now: new Date(Date.now() + 7200_000) }), // not yet valid
    await world.tokenOf(insured[0], { audience: 'https://other.example/' }),
    await world.tokenOf(insured[0], { issuer: 'https://evil.example' }),
    'x'.repeat(20_000),
  ];
  const anyToken = () => (r.next() < 0.7 ? r.pick(Object.values(good)) : r.pick(badTokens));

  // --- ids and bodies ---------------------------------------------------------------------------------------
  const ids = [...victims, ...drafts].map((t) => t.id);
  const pathIds = [
    ...ids, '160.000.000.000.001.00', '160.000.000.000.999.99', '../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', '%2e%2e',
    `${ids[0]}%00`, `${ids[0]}/../${ids[1]}`, `${ids[0]};select 1`, `${ids[0]}'--`, 'Ω'.repeat(10), '0'.repeat(300), '-1', 'null',
    encodeURIComponent('<script>'), `${ids[0]}?x=1`, insured[0].kvnr!, '%', '%%', '%zz',
  ];
  const signedGood = signedPrescription(world, drafts[0].id, '160');
  const cms = Buffer.from(signedGood, 'base64');
  const tamperedCms = () => {
    const copy = Buffer.from(cms);
    const choice = r.int(4);
    if (choice === 0) copy[copy.length - 1 - r.int(60)] ^= 1 + r.int(255); // signature value
    else if (choice === 1) copy[200 + r.int(Math.max(1, copy.length / 2))] ^= 1 + r.int(255); // content
    else if (choice === 2) return copy.subarray(0, r.int(copy.length)).toString('base64'); // truncated
    else return Buffer.from(Array.from({ length: r.int(2000) }, () => r.int(256))).toString('base64'); // noise
    return copy.toString('base64');
  };
  const otherPatientCms = () => signedPrescription(world, drafts[r.int(2)].id, r.pick(['160', '169']), { prescriptionId: ids[r.int(ids.length)] });
  const wrongSigner = () => signedPrescription(world, drafts[0].id, '160', { signer: world.fd });
  const validBodies: Resource[] = [
    createParameters(r.pick(['160', '162', '169', '200', '209', '166', '999'])),
    activateParameters(signedGood.slice(0, 100)),
    dispenseParameters(world, { ...victims[2], kvnr: insured[0].kvnr }),
    { resourceType: 'Communication', status: 'unknown', basedOn: [{ reference: `Task/${ready.id}` }], recipient: [{ identifier: { system: NS.kvnr, value: insured[0].kvnr } }], payload: [{ contentString: 'x' }] } as Resource,
    { resourceType: 'Parameters', parameter: [] } as Resource,
    { resourceType: 'Task', id: ids[1], status: 'completed' } as Resource,
  ];
  const nest = (depth: number, xml: boolean) => (xml ? '<Parameters xmlns="http://hl7.org/fhir">' + '<parameter>'.repeat(depth) + '</parameter>'.repeat(depth) + '</Parameters>' : '{"resourceType":"Parameters","parameter":' + '['.repeat(depth) + ']'.repeat(depth) + '}');
  const hostileXml = [
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Parameters xmlns="http://hl7.org/fhir"><id value="&lol3;"/></Parameters>',
    '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Parameters xmlns="http://hl7.org/fhir"><id value="&xxe;"/></Parameters>',
    '<Parameters xmlns="http://hl7.org/fhir"><parameter><name value="ePrescription"/><resource><Binary><data value="&#x41;&#0;"/></Binary></resource></parameter></Parameters>',
    '<Parameters xmlns="http://hl7.org/fhir"><![CDATA[x]]><?pi x?><!-- c --></Parameters>',
    '<Parameters xmlns="http://hl7.org/fhir" a="1" a="2"/>', '<a', '<', '', '\u0000', '<Parameters>', '<x:Parameters xmlns:x="urn:evil"/>',
  ];
  const hostileJson = ['{', '[]', 'null', '1e999', '"x"', '{"resourceType":"Parameters","__proto__":{"admin":true}}', '{"resourceType":"Parameters","constructor":{"prototype":{"x":1}}}', '\uFEFF{}', '{"resourceType":"Parameters","parameter":[{"name":"workflowType","valueCoding":{"system":"https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType","code":"160"}}],"parameter":[]}'];
  const mutate = (text: string): string => {
    const kind = r.int(5);
    if (kind === 0) return text.slice(0, r.int(text.length + 1));
    if (kind === 1) {
      const at = r.int(text.length + 1);
      return text.slice(0, at) + String.fromCharCode(r.int(0x3000)) + text.slice(at + 1);
    }
    if (kind === 2) {
      const at = r.int(text.length + 1);
      return text.slice(0, at) + r.pick(['<', '>', '"', '&', '{', '}', '[', ']', ',', '\\', '\u0000', '&amp;', '<!--', ']]>']) + text.slice(at);
    }
    if (kind === 3) return text.replace(/value="[^"]*"/, `value="${r.pick(['', '"', '&#1114112;', 'x'.repeat(5000), insured[0].kvnr])}"`);
    return text + text.slice(0, r.int(text.length));
  };

  type Req = { method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH'; url: string; headers: Record<string, string>; payload?: string | Buffer };
  const format = () => (r.next() < 0.5 ? 'xml' : 'json') as 'xml' | 'json';
  const ctype = (f: 'xml' | 'json') => r.pick([`application/fhir+${f}`, `application/fhir+${f};charset=utf-8`, `application/fhir+${f};charset=latin1`, 'text/plain', 'multipart/form-data; boundary=x', `application/${f}`]);
  const query = () => r.pick(['', `?ac=${r.pick([...secrets.map((s) => s.slice(0, -1) + 'x'), 'x', '', '%00'])}`, `?secret=${'0'.repeat(64)}`, '?_format=xml', '?_format=html', '?_count=-1', '?_count=100000', `?identifier=${NS.kvnr}|${insured[0].kvnr}`, `?subject=${insured[0].kvnr}`, `?for=${insured[1].kvnr}`, '?_sort=;drop', '?status=ready&status=ready', '?authored-on=gt2020', '?__offset=-5', '?_id=' + ids[1], '?ac=' + 'a'.repeat(10_000)]);
  const bodyFor = (f: 'xml' | 'json', op: string, taskId: string): string | Buffer => {
    const k = r.int(10);
    if (k === 0) return f === 'xml' ? r.pick(hostileXml) : r.pick(hostileJson);
    if (k === 1) return nest(r.pick([50, 500, 5000, 50_000]), f === 'xml');
    if (k === 2 && r.next() < 0.1) return Buffer.alloc(1024 * 1024 + 10 + r.int(1000), 0x41); // huge
    if (op === '$activate' && k < 6) {
      const data = r.pick([tamperedCms, otherPatientCms, wrongSigner, () => '!!!', () => cms.toString('base64').replace(/=+$/, '') + '=====', () => ''])();
      const text = serializeFhir(activateParameters(data), f);
      return k === 5 ? mutate(text) : text;
    }
    const base = op === '$create' && r.next() < 0.5 ? validBodies[0] : r.pick(validBodies);
    const text = serializeFhir(op === '$close' || op === '$dispense' ? dispenseParameters(world, { id: taskId, flowType: '160', accessCode: '', kvnr: r.pick(insured).kvnr }) : base, f);
    return r.next() < 0.6 ? mutate(text) : text;
  };
  const generate = (): Req => {
    const f = format();
    const id = r.pick(pathIds);
    const op = r.pick(['$create', '$activate', '$accept', '$reject', '$dispense', '$close', '$abort', 'GET Task', 'GET Task/id', 'GET MD', 'POST Comm', 'GET Comm', 'GET Comm/id', 'DELETE Comm', 'GET Audit', 'GET Audit/id', 'GET metadata', 'GET Device', 'PUT Task', 'PATCH Task', 'GET random']);
    const auth: Record<string, string> = r.next() < 0.03 ? {} : { authorization: (r.next() < 0.9 ? 'Bearer ' : r.pick(['bearer ', 'Basic ', 'Bearer  ', 'Bearer\t'])) + anyToken() };
    const headers: Record<string, string> = { ...auth, accept: r.pick([`application/fhir+${f}`, '*/*', 'text/html', '', 'application/fhir+json;q=0, application/fhir+xml;q=0']) };
    if (r.next() < 0.3) headers['x-accesscode'] = r.pick(secrets).replace(/.$/, 'z');
    if (drafts.some((d) => d.id === id) && op === '$activate' && r.next() < 0.8) headers['x-accesscode'] = drafts.find((d) => d.id === id)!.accessCode;
    const taskOp = (name: string, withBody: boolean): Req => {
      const req: Req = { method: 'POST', url: `/Task/${id}/${name}${query()}`, headers };
      if (withBody || r.next() < 0.3) {
        req.payload = bodyFor(f, name, id);
        headers['content-type'] = ctype(f);
      }
      return req;
    };
    switch (op) {
      case '$create': return { method: 'POST', url: '/Task/$create', headers: { ...headers, 'content-type': ctype(f) }, payload: bodyFor(f, op, id) };
      case '$activate': return taskOp('$activate', true);
      case '$accept': return taskOp('$accept', false);
      case '$reject': return taskOp('$reject', false);
      case '$dispense': return taskOp('$dispense', true);
      case '$close': return taskOp('$close', r.next() < 0.7);
      case '$abort': return taskOp('$abort', false);
      case 'GET Task': return { method: 'GET', url: `/Task${query()}`, headers };
      case 'GET Task/id': return { method: 'GET', url: `/Task/${id}${query()}`, headers };
      case 'GET MD': return { method: 'GET', url: `/MedicationDispense${query()}`, headers };
      case 'POST Comm': return { method: 'POST', url: '/Communication', headers: { ...headers, 'content-type': ctype(f) }, payload: bodyFor(f, op, id) };
      case 'GET Comm': return { method: 'GET', url: `/Communication${query()}`, headers };
      case 'GET Comm/id': return { method: 'GET', url: `/Communication/${r.pick([dispReq.body.id, id])}`, headers };
      case 'DELETE Comm': return { method: 'DELETE', url: `/Communication/${r.pick([dispReq.body.id, id])}`, headers };
      case 'GET Audit': return { method: 'GET', url: `/AuditEvent${query()}`, headers };
      case 'GET Audit/id': return { method: 'GET', url: `/AuditEvent/${id}`, headers };
      case 'GET metadata': return { method: 'GET', url: `/metadata${query()}`, headers };
      case 'GET Device': return { method: 'GET', url: '/Device/1', headers };
      case 'PUT Task': return { method: 'PUT', url: `/Task/${id}`, headers: { ...headers, 'content-type': ctype(f) }, payload: bodyFor(f, op, id) };
      case 'PATCH Task': return { method: 'PATCH', url: `/Task/${id}`, headers: { ...headers, 'content-type': ctype(f) }, payload: bodyFor(f, op, id) };
      default: return { method: 'GET', url: '/' + r.pick(['', '%2e%2e/', 'Task/', 'Task//', 'admin', 'health/../Task', '\\Task', 'Task/%00', 'Patient', '.env']) + r.pick(pathIds), headers };
    }
  };

  // --- run ----------------------------------------------------------------------------------------------------
  const outcomes = new Map<number | string, number>();
  for (let i = 0; i < COUNT; i++) {
    const req = generate();
    let res;
    try {
      res = await world.app.inject(req);
    } catch {
      // an URL no HTTP client can send (light-my-request refuses it before the server sees it)
      outcomes.set('unsendable', (outcomes.get('unsendable') ?? 0) + 1);
      continue;
    }
    outcomes.set(res.statusCode, (outcomes.get(res.statusCode) ?? 0) + 1);
    const context = () => `input #${i} (seed ${SEED}): ${req.method} ${req.url.slice(0, 200)} -> ${res.statusCode} ${res.body.slice(0, 300)}`;
    assert.ok(res.statusCode < 500, `server error for ${context()}`);
    const sent = `${req.url} ${JSON.stringify(req.headers)} ${typeof req.payload === 'string' ? req.payload : ''}`;
    for (const value of protectedValues) {
      if (res.body.includes(value) && !sent.includes(value)) assert.fail(`response carries ${JSON.stringify(value)}: ${context()}`);
    }
  }
  const afterRows = await snapshot();
  for (const [key, row] of before) assert.equal(afterRows.get(key), row, `record changed: ${key}`);
  const summary = [...outcomes].sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([s, n]) => `${s}: ${n}`).join(', ');
  console.log(`fuzz: ${COUNT} inputs tried (seed ${SEED}); outcomes ${summary}; ${afterRows.size - before.size} new rows (drafts/messages of the fuzzer's own roles)`);
  assert.ok(outcomes.size >= 5, 'the inputs reach many different answers');
});
