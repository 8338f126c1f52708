// Fachdienst throughput: complete prescription lifecycles ($create, $activate, $accept, $close) over HTTP on
// loopback, with p50/p99 per operation, against the floor measured in the same run: the same crypto (QES verify,
// receipt CAdES) and the same database transactions, without HTTP, FHIR parsing/serialisation and validation.
// Run: node --import tsx bench/lifecycle.ts   (ERX_BENCH_LIFECYCLES=<n>, default 150; ERX_BENCH_CONCURRENCY, default 4)
import { randomUUID } from 'node:crypto';
import { signCades, verifyCades } from '../src/crypto/cades.ts';
import { RevocationRegistry, createOcspChecker } from '../src/crypto/ocsp.ts';
import { TrustStore } from '../src/crypto/trust.ts';
import { randomToken } from '../src/fhir/identifiers.ts';
import { openDatabase } from '../src/storage/database.ts';
import { recordAudit } from '../src/fachdienst/audit.ts';
import { TaskStore } from '../src/fachdienst/task-store.ts';
import {
  activateParameters, createParameters, createWorld, dispenseParameters, identifierValue, signedPrescription, type World,
} from '../src/fachdienst/testing.ts';
import { NS } from '../src/fachdienst/task-resource.ts';
import { serializeFhir, parseFhir } from '../src/fhir/codec.ts';
import type { Bundle, Resource, Task } from '../src/fhir/types.ts';

const LIFECYCLES = Number(process.env.ERX_BENCH_LIFECYCLES ?? 150);
const CONCURRENCY = Number(process.env.ERX_BENCH_CONCURRENCY ?? 4);
const OPS = ['create', 'activate', 'accept', 'close'] as const;
type Op = (typeof OPS)[number];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function runConcurrently(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++);
  }));
  return performance.now() - start;
}

// --- over HTTP ------------------------------------------------------------------------------------------------
const database = await openDatabase({ dataDir: ':memory:' });
const world: World = await createWorld(database);
const address = await world.app.listen({ port: 0, host: '127.0.0.1' });
const tokens = { practice: await world.token('practice'), pharmacy: await world.token('pharmacy') };
const timings: Record<Op, number[]> = { create: [], activate: [], accept: [], close: [] };

async function post(op: Op, who: 'practice' | 'pharmacy', path: string, body?: Resource, headers: Record<string, string> = {}): Promise<Resource> {
  const start = performance.now();
  const res = await fetch(`${address}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens[who]}`, accept: 'application/fhir+xml', ...(body ? { 'content-type': 'application/fhir+xml' } : {}), ...headers },
    body: body ? serializeFhir(body, 'xml') : undefined,
  });
  const text = await res.text();
  timings[op].push(performance.now() - start);
  if (res.status >= 300) throw new Error(`${op}: ${res.status} ${text.slice(0, 300)}`);
  return parseFhir(text, 'xml');
}

async function lifecycleOverHttp(): Promise<void> {
  const task = (await post('create', 'practice', '/Task/$create', createParameters('160'))) as Task;
  const accessCode = identifierValue(task, NS.accessCode)!;
  const qes = signedPrescription(world, task.id!, '160'); // the physician's side, not the Fachdienst's work
  await post('activate', 'practice', `/Task/${task.id}/$activate`, activateParameters(qes), { 'x-accesscode': accessCode });
  const accepted = (await post('accept', 'pharmacy', `/Task/${task.id}/$accept?ac=${accessCode}`)) as Bundle;
  const secret = identifierValue(accepted.entry![0].resource as Task, NS.secret)!;
  await post('close', 'pharmacy', `/Task/${task.id}/$close?secret=${secret}`,
    dispenseParameters(world, { id: task.id!, flowType: '160', accessCode, kvnr: 'X110614233' }));
}

for (let i = 0; i < 10; i++) await lifecycleOverHttp(); // warm-up
for (const op of OPS) timings[op].length = 0;
const httpMs = await runConcurrently(LIFECYCLES, CONCURRENCY, () => lifecycleOverHttp());
const httpRate = (LIFECYCLES * 1000) / httpMs;
await world.app.close();

// --- floor: crypto + database only --------------------------------------------------------------------------
const floorDb = await openDatabase({ dataDir: ':memory:' });
const store = new TaskStore(floorDb);
const trust = TrustStore.fromCertificates(world.pki.trustList());
const ocsp = createOcspChecker(new RevocationRegistry(null));
const receiptXml = Buffer.from(`<Bundle xmlns="http://hl7.org/fhir">${'<entry><fullUrl value="urn:uuid:c624cf47-e235-4624-af71-0a09dc9254dc"/></entry>'.repeat(30)}</Bundle>`);
const dispense = dispenseParameters(world, { id: '160.000.000.000.001.54', flowType: '160', accessCode: '', kvnr: 'X110614233' });

async function lifecycleFloor(): Promise<void> {
  const now = new Date();
  const task = await store.createTask({ flowType: '160', accessCode: randomToken(), now });
  const der = Buffer.from(signedPrescription(world, task.id, '160'), 'base64'); // physician side, as above
  const qes = await verifyCades(der, { trust, ocsp, requireProfessionOIDs: ['1.2.276.0.76.4.30', '1.2.276.0.76.4.31'] });
  await store.updateTask(task.id, async (t, tx) => {
    await recordAudit(tx, { kind: 'activate', kvnr: 'X110614233', prescriptionId: t.id, recorded: now, baseUrl: '' });
    return { patch: { status: 'ready', kvnr: 'X110614233', prescriptionCms: der, prescriptionDigest: qes.messageDigest.toString('base64'), prescriptionBinaryId: randomUUID(), patientConfirmationId: randomUUID(), bundle: { resourceType: 'Bundle' } as Resource, lastModified: now }, result: undefined };
  });
  await store.updateTask(task.id, async (t, tx) => {
    await recordAudit(tx, { kind: 'accept', kvnr: 'X110614233', prescriptionId: t.id, recorded: now, baseUrl: '' });
    return { patch: { status: 'in-progress', secret: randomToken(), owner: '3-x', acceptedAt: now, lastModified: now }, result: undefined };
  });
  await store.updateTask(task.id, async (t, tx) => {
    await store.replaceDispenses(tx, t.id, [{ id: t.id, kvnr: 'X110614233', performer: '3-x', whenHandedOver: '2026-01-01', whenPrepared: null, resource: dispense, medication: null }]);
    const receiptSignature = signCades(receiptXml, world.fd, { signingTime: now });
    await recordAudit(tx, { kind: 'close', kvnr: 'X110614233', prescriptionId: t.id, recorded: now, baseUrl: '' });
    return { patch: { status: 'completed', closedAt: now, lastModified: now, receipt: { resourceType: 'Bundle', id: randomUUID(), signature: { data: receiptSignature.toString('base64') } } as Resource }, result: undefined };
  });
}

// The physician's QES signing is inside both loops; measure it alone to take it out of both rates.
const signStart = performance.now();
for (let i = 0; i < LIFECYCLES; i++) signedPrescription(world, '160.000.000.000.001.54', '160');
const signMs = performance.now() - signStart;

for (let i = 0; i < 10; i++) await lifecycleFloor();
const floorMs = await runConcurrently(LIFECYCLES, CONCURRENCY, () => lifecycleFloor());
const floorRate = (LIFECYCLES * 1000) / floorMs;
await floorDb.close();
await database.close();

// Signing runs on the same (single) JS thread, so subtracting its time gives the Fachdienst-only rates.
const httpOnly = (LIFECYCLES * 1000) / Math.max(1, httpMs - signMs);
const floorOnly = (LIFECYCLES * 1000) / Math.max(1, floorMs - signMs);

console.log(`\nFachdienst lifecycles (${LIFECYCLES}, concurrency ${CONCURRENCY}, PGlite in memory, XML over HTTP loopback)\n`);
console.log('| case | lifecycles/s | lifecycles/s without the physician\'s QES signing |');
console.log('| --- | --- | --- |');
console.log(`| HTTP + FHIR (create, activate, accept, close) | ${httpRate.toFixed(1)} | ${httpOnly.toFixed(1)} |`);
console.log(`| floor: same crypto + DB, no HTTP/FHIR | ${floorRate.toFixed(1)} | ${floorOnly.toFixed(1)} |`);
console.log(`| ratio HTTP / floor | ${(httpRate / floorRate).toFixed(2)} | ${(httpOnly / floorOnly).toFixed(2)} |`);
console.log('\n| operation | p50 ms | p99 ms |');
console.log('| --- | --- | --- |');
for (const op of OPS) {
  const sorted = [...timings[op]].sort((a, b) => a - b);
  console.log(`| ${op} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 99).toFixed(2)} |`);
}
