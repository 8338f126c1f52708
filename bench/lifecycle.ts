// Fachdienst throughput: complete prescription lifecycles ($create, $activate with QES check, $accept, $close with
// signed receipt) over HTTP (XML) against `erx serve fachdienst` running as its own process(es), on PGlite and on
// PostgreSQL with 1 and 2 workers; p50/p99 per request at that load; and the floor measured in the same run: the
// same crypto (QES verify, receipt CAdES) and the same database statements in one process, without HTTP and FHIR.
//
// The physician's QES signing is the client's work (a card in reality): the Tasks are created first, their bundles
// signed while no clock runs, then activated, accepted and closed. rate = lifecycles / (create time + rest time).
// The load generator (this process) shares the machine's cores with the Fachdienst and PostgreSQL.
// PostgreSQL runs as in production: fsync, full_page_writes and synchronous_commit on (every acknowledged operation
// is on disk), default memory settings (the data set fits shared_buffers); the Fachdienst reaches it through its
// Unix socket, as a co-located deployment does.
// The floor and the HTTP cases of an engine run interleaved, in ERX_BENCH_BLOCKS rounds each (default 4) in rotating
// order: this shared machine has slow and fast phases (a fifth apart), and measured one after the other the ratio
// moved with them (54-73 % in one afternoon); interleaved, both sides see the same phases.
// Each case first runs ERX_BENCH_WARMUP lifecycles unmeasured (default 500): V8 compiles the hot paths during the
// first few hundred, and that compilation (on background threads, counted in the process's CPU) made a 600-lifecycle run
// report a quarter more Fachdienst CPU per lifecycle; the table reports the steady state.
// Run: node --import tsx bench/lifecycle.ts   (ERX_BENCH_LIFECYCLES=<n>, default 2000; ERX_BENCH_CONCURRENCY, default 16;
// ERX_BENCH_BLOCKS=<n>; ERX_BENCH_CASES=pglite,pg1,pg2,floor; ERX_BENCH_PROFILE=<dir> for CPU profiles of the Fachdienst processes;
// ERX_BENCH_PG_TRANSPORT=tcp for loopback TCP; ERX_BENCH_PG_DURABLE=0 for the throw-away test settings)
import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extractCadesContent, signCadesAsync, verifyCades } from '../src/crypto/cades.ts';
import { RevocationRegistry, createOcspChecker } from '../src/crypto/ocsp.ts';
import { TrustStore } from '../src/crypto/trust.ts';
import { parseFhir, serializeFhir, toXml } from '../src/fhir/codec.ts';
import { randomToken } from '../src/fhir/identifiers.ts';
import { berlinDay } from '../src/fhir/kbv/dates.ts';
import { NS } from '../src/fachdienst/task-resource.ts';
import { TaskStore, type TaskRecord } from '../src/fachdienst/task-store.ts';
import { FACHDIENST_VERSION } from '../src/fachdienst/app.ts';
import type { Caller } from '../src/fachdienst/auth.ts';
import type { FachdienstContext } from '../src/fachdienst/context.ts';
import { buildReceipt } from '../src/fachdienst/receipt.ts';
import { activateParameters, createParameters, signPrescription } from '../src/fachdienst/testing.ts';
import { startFachdienstProcess, startIdp, type Idp } from '../src/fachdienst/testing-process.ts';
import { pharmacies, practice } from '../src/seed/identities.ts';
import { openDatabase, type Database } from '../src/storage/database.ts';
import { startTestPostgres } from '../src/storage/test-postgres.ts';
import type { Bundle, Resource } from '../src/fhir/types.ts';

const LIFECYCLES = Number(process.env.ERX_BENCH_LIFECYCLES ?? 2000);
const WARMUP = Number(process.env.ERX_BENCH_WARMUP ?? 500);
const CONCURRENCY = Number(process.env.ERX_BENCH_CONCURRENCY ?? 16);
/** Rounds per case, interleaved with the other cases' (ERX_BENCH_BLOCKS, default 4). */
const BLOCKS = Number(process.env.ERX_BENCH_BLOCKS ?? 4);
const OPS = ['create', 'activate', 'accept', 'close'] as const;
type Op = (typeof OPS)[number];
const PHARMACY = pharmacies[0];
/** Which cases run (profiling one): pglite, pg1, pg2, floor; default all. */
const CASES = (process.env.ERX_BENCH_CASES ?? 'pglite,pg1,pg2,floor').split(',');
/** ERX_BENCH_PROFILE=<dir>: the Fachdienst processes write CPU profiles there. */
const nodeOptions = process.env.ERX_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ERX_BENCH_PROFILE}`] : [];

/** What the pharmacy hands over on $close (the floor stores the same). */
function medicationDispense(prescriptionId: string): Resource {
  return {
    resourceType: 'MedicationDispense', id: 'md-1', identifier: [{ system: NS.prescriptionId, value: prescriptionId }], status: 'completed',
    subject: { identifier: { system: NS.kvnr, value: 'X110614233' } },
    performer: [{ actor: { identifier: { system: NS.telematikId, value: PHARMACY.telematikId } } }],
    whenHandedOver: berlinDay(new Date()), medicationReference: { reference: 'Medication/med-1' },
  } as Resource;
}
const MEDICATION = { resourceType: 'Medication', id: 'med-1', code: { coding: [{ system: 'http://fhir.de/CodeSystem/ifa/pzn', code: '06313728' }] } } as Resource;

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function runConcurrently<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
  return performance.now() - start;
}

// --- CPU time per component (Linux /proc): where the 2 cores go ------------------------------------------
function procStat(pid: string): { ppid: string; comm: string; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    return { comm: text.slice(text.indexOf('(') + 1, close), ppid: fields[1], ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** CPU ms used so far by: this process, the Fachdienst process tree under `fdPid`, all postgres processes. */
function cpuSnapshot(fdPid: number | undefined): { generator: number; fachdienst: number; postgres: number } {
  const tick = 10; // USER_HZ 100
  let fachdienst = 0;
  let postgres = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const st = procStat(pid);
    if (!st) continue;
    if (st.comm === 'postgres') postgres += st.ticks * tick;
    else if (fdPid && (pid === String(fdPid) || st.ppid === String(fdPid))) fachdienst += st.ticks * tick;
  }
  const own = process.cpuUsage();
  return { generator: (own.user + own.system) / 1000, fachdienst, postgres };
}

// --- the load generator: keep-alive HTTP/1.1, bodies serialised before the clock runs ------------------------
// The generator shares the two cores with what it measures, so it is a minimal HTTP/1.1 client over CONCURRENCY
// kept-alive sockets (request written in one piece, response read by Content-Length) rather than node:http, whose
// client cost ~0.5 ms of CPU per lifecycle: a tenth of the machine at the target rate.
interface Handle { id: string; accessCode: string; der?: string }
type Cpu = { generator: number; fachdienst: number; postgres: number };
/** One round: its wall time (create + rest), the CPU ms of the rest phase, the request times (HTTP only). */
interface RoundResult { ms: number; cpu: Cpu; timings?: Record<Op, number[]>; errors: number }
/** A way of running lifecycles (over HTTP, or the floor), one round at a time. */
interface Runner { round(count: number): Promise<RoundResult>; close(): Promise<void> }

class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: ((response: { status: number; text: string }) => void) | undefined;
  private failed: ((err: Error) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.tryComplete();
    });
    socket.on('error', (err) => this.failed?.(err));
    socket.on('close', () => this.failed?.(new Error('connection closed by the server')));
  }

  static open(base: URL): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(Number(base.port), base.hostname, () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  request(head: string, body: string | undefined): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
      this.socket.write(body === undefined ? head : head + body);
    });
  }

  private tryComplete(): void {
    const headEnd = this.buffered.indexOf('\r\n\r\n');
    if (headEnd === -1 || !this.waiting) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.failed?.(new Error(`response without Content-Length: ${head.slice(0, 200)}`));
      return;
    }
    const total = headEnd + 4 + Number(length[1]);
    if (this.buffered.length < total) return;
    const status = Number(head.slice(9, 12));
    const text = this.buffered.toString('utf8', headEnd + 4, total);
    this.buffered = this.buffered.subarray(total);
    const done = this.waiting;
    this.waiting = undefined;
    this.failed = undefined;
    done({ status, text });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** CONCURRENCY connections; a request takes a free one (there are as many as concurrent clients). */
class Client {
  private constructor(private readonly base: URL, private readonly free: Connection[], private readonly all: Connection[]) {}

  static async open(base: URL, size: number): Promise<Client> {
    const all = await Promise.all(Array.from({ length: size }, () => Connection.open(base)));
    return new Client(base, [...all], all);
  }

  async post(path: string, token: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    const connection = this.free.pop();
    if (!connection) throw new Error('more concurrent requests than connections');
    let head = `POST ${path} HTTP/1.1\r\nhost: ${this.base.host}\r\nauthorization: Bearer ${token}\r\naccept: application/fhir+xml\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    head += body === undefined ? 'content-length: 0\r\n\r\n' : `content-type: application/fhir+xml\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n`;
    try {
      return await connection.request(head, body);
    } finally {
      this.free.push(connection);
    }
  }

  close(): void {
    for (const c of this.all) c.close();
  }
}

/** The value of an identifier with `system` in an XML Task (enough for a load generator: no full parse). */
function identifierIn(xml: string, system: string): string {
  const at = xml.indexOf(`<system value="${system}"/>`);
  const m = at >= 0 ? /<value value="([^"]+)"\/>/.exec(xml.slice(at)) : null;
  if (!m) throw new Error(`no identifier ${system} in ${xml.slice(0, 300)}`);
  return m[1];
}

async function httpRunner(url: string, idp: Idp, stop: () => Promise<void>, fdPid?: number): Promise<Runner> {
  const base = new URL(url);
  const client = await Client.open(base, CONCURRENCY);
  const practiceToken = await idp.token('practice-demopraxis');
  const pharmacyToken = await idp.token(PHARMACY.id);
  const qes = idp.pki.cards['physician-berger'].qes!;
  const createBody = serializeFhir(createParameters('160'), 'xml');
  const dispenseBody = (id: string) => serializeFhir({
    resourceType: 'Parameters',
    parameter: [{
      name: 'rxDispensation',
      part: [{ name: 'medicationDispense', resource: medicationDispense(id) }, { name: 'medication', resource: MEDICATION }],
    }],
  } as Resource, 'xml');
  let timings: Record<Op, number[]> = { create: [], activate: [], accept: [], close: [] };
  let errors = 0;
  const timed = async (op: Op, path: string, token: string, body?: string, headers?: Record<string, string>) => {
    const start = performance.now();
    const res = await client.post(path, token, body, headers);
    timings[op].push(performance.now() - start);
    if (res.status >= 300) {
      errors++;
      throw new Error(`${op}: ${res.status} ${res.text.slice(0, 300)}`);
    }
    return res.text;
  };

  const round = async (count: number): Promise<RoundResult> => {
    timings = { create: [], activate: [], accept: [], close: [] };
    errors = 0;
    const handles: Handle[] = Array.from({ length: count }, () => ({ id: '', accessCode: '' }));
    const createMs = await runConcurrently(handles, CONCURRENCY, async (h) => {
      const xml = await timed('create', '/Task/$create', practiceToken, createBody);
      h.id = /<id value="([^"]+)"\/>/.exec(xml)![1];
      h.accessCode = identifierIn(xml, NS.accessCode);
    });
    // the physician's side, off the clock
    const bodies = new Map(handles.map((h) => [h.id, {
      activate: serializeFhir(activateParameters(signPrescription(qes, h.id, '160')), 'xml'),
      close: dispenseBody(h.id),
    }]));
    const cpuStart = cpuSnapshot(fdPid);
    const restMs = await runConcurrently(handles, CONCURRENCY, async (h) => {
      const body = bodies.get(h.id)!;
      await timed('activate', `/Task/${h.id}/$activate`, practiceToken, body.activate, { 'x-accesscode': h.accessCode });
      const accepted = await timed('accept', `/Task/${h.id}/$accept?ac=${h.accessCode}`, pharmacyToken);
      const secret = identifierIn(accepted, NS.secret);
      await timed('close', `/Task/${h.id}/$close?secret=${secret}`, pharmacyToken, body.close);
    });
    const cpuEnd = cpuSnapshot(fdPid);
    // CPU of $activate+$accept+$close (the phase without the physician's signing in it)
    const cpu = { generator: cpuEnd.generator - cpuStart.generator, fachdienst: cpuEnd.fachdienst - cpuStart.fachdienst, postgres: cpuEnd.postgres - cpuStart.postgres };
    return { ms: createMs + restMs, cpu, timings, errors };
  };
  return {
    round,
    async close() {
      client.close();
      await stop();
    },
  };
}

// --- the floor: the same crypto and transactions in one process, no HTTP, no FHIR ----------------------------
function floorRunner(database: Database, idp: Idp): Runner {
  const store = new TaskStore(database);
  const trust = TrustStore.fromCertificates(idp.pki.trustList());
  const ocsp = createOcspChecker(new RevocationRegistry(null));
  const qesKey = idp.pki.cards['physician-berger'].qes!;
  const fd = idp.pki.fachdienst;
  // The callers as the Fachdienst records them in the AuditEvents.
  const prescriber: Caller = { role: 'prescriber', professionOID: practice.professionOID, id: practice.telematikId!, name: practice.name };
  const pharmacy: Caller = { role: 'pharmacy', professionOID: PHARMACY.professionOID, id: PHARMACY.telematikId!, name: PHARMACY.name };
  // A real receipt (Composition, Device, Digest), built off the clock: building it and its XML is FHIR handling; the
  // clock runs for signing that XML and storing the receipt as the Fachdienst does (same size, so the same TOAST work).
  const receiptContext = { baseUrl: 'http://localhost:8080', signer: fd, version: FACHDIENST_VERSION } as FachdienstContext;
  const kvnr = 'X110614233';
  const round = async (count: number): Promise<RoundResult> => {
    const ids: string[] = [];
    const createMs = await runConcurrently(Array.from({ length: count }, (_, i) => i), CONCURRENCY, async () => {
      ids.push((await store.createTask({ flowType: '160', accessCode: randomToken(), now: new Date() })).id);
    });
    const ders = new Map(ids.map((id) => [id, Buffer.from(signPrescription(qesKey, id, '160'), 'base64')]));
    // The KBV bundle as the Fachdienst stores it (parsing it is FHIR handling: done here, off the clock).
    const bundles = new Map([...ders].map(([id, der]) => [id, parseFhir(extractCadesContent(der).toString('utf8'), 'xml')]));
    const receipts = new Map<string, { xml: Buffer; receipt: Bundle }>();
    for (const id of ids) {
      const task = { id, acceptedAt: new Date(), prescriptionDigest: randomToken().slice(0, 44) } as TaskRecord;
      const receipt = await buildReceipt(receiptContext, { task, beneficiary: PHARMACY.telematikId!, closedAt: new Date() });
      const { signature, ...unsigned } = receipt;
      receipts.set(id, { xml: Buffer.from(toXml(unsigned as Bundle), 'utf8'), receipt });
    }
    const cpuStart = cpuSnapshot(undefined);
    const restMs = await runConcurrently(ids, CONCURRENCY, async (id) => {
      const now = new Date();
      const der = ders.get(id)!;
      const qes = await verifyCades(der, { trust, ocsp, requireProfessionOIDs: ['1.2.276.0.76.4.30', '1.2.276.0.76.4.31'] });
      const seen = await store.getTask(id);
      await store.updateTaskOptimistic(id, async (t) => ({
        patch: { status: 'ready', kvnr, prescriptionCms: der, prescriptionDigest: qes.messageDigest.toString('base64'), prescriptionBinaryId: randomUUID(), patientConfirmationId: randomUUID(), bundle: bundles.get(id)!, lastModified: now },
        audit: { kind: 'activate', kvnr, prescriptionId: t.id, caller: prescriber, recorded: now, baseUrl: receiptContext.baseUrl },
        result: undefined,
      }), seen);
      await store.updateTaskOptimistic(id, async (t) => ({
        patch: { status: 'in-progress', secret: randomToken(), owner: PHARMACY.telematikId, acceptedAt: now, lastModified: new Date(now.getTime() + 1) },
        audit: { kind: 'accept', kvnr, prescriptionId: t.id, caller: pharmacy, recorded: now, baseUrl: receiptContext.baseUrl },
        result: undefined,
      }));
      await store.updateTaskOptimistic(id, async (t) => {
        const { xml, receipt } = receipts.get(id)!;
        const signature = await signCadesAsync(xml, fd, { signingTime: now });
        return {
          patch: { status: 'completed', closedAt: now, lastModified: now, receipt: { ...receipt, signature: { ...receipt.signature!, data: signature.toString('base64') } } },
          audit: { kind: 'close', kvnr, prescriptionId: t.id, caller: pharmacy, recorded: now, baseUrl: receiptContext.baseUrl },
          insertDispenses: [{ id: 'md-1', kvnr, performer: PHARMACY.telematikId!, whenHandedOver: berlinDay(now), whenPrepared: null, resource: medicationDispense(id), medication: MEDICATION }],
          result: undefined,
        };
      }, undefined, { withCms: false });
    });
    const cpuEnd = cpuSnapshot(undefined);
    // this process does the Fachdienst's work here
    const cpu = { generator: 0, fachdienst: cpuEnd.generator - cpuStart.generator, postgres: cpuEnd.postgres - cpuStart.postgres };
    return { ms: createMs + restMs, cpu, errors: 0 };
  };
  return { round, close: () => database.close() };
}

/**
 * Runs the cases interleaved: each warms up, then BLOCKS rounds per case in rotating order, so a slow phase of this
 * shared machine (it moves the figures by a fifth between runs) hits the floor and the HTTP cases alike and the
 * ratio stays comparable. Rates are lifecycles over the summed round times.
 */
async function interleaved(runners: Runner[]): Promise<Measured[]> {
  for (const r of runners) await r.round(WARMUP); // JIT, pools, token verification, WAL segments
  const measured = runners.map((): Measured => ({ rate: 0, ms: 0, count: 0, cpu: { generator: 0, fachdienst: 0, postgres: 0 }, timings: { create: [], activate: [], accept: [], close: [] }, errors: 0 }));
  const perBlock = Math.ceil(LIFECYCLES / BLOCKS);
  for (let b = 0; b < BLOCKS; b++) {
    for (let k = 0; k < runners.length; k++) {
      const i = (b + k) % runners.length;
      const r = await runners[i].round(perBlock);
      const m = measured[i];
      m.ms += r.ms;
      m.count += perBlock;
      m.errors += r.errors;
      for (const key of ['generator', 'fachdienst', 'postgres'] as const) m.cpu[key] += r.cpu[key];
      for (const op of OPS) for (const t of r.timings?.[op] ?? []) m.timings[op].push(t);
    }
  }
  for (const m of measured) {
    m.rate = (m.count * 1000) / m.ms;
    for (const key of ['generator', 'fachdienst', 'postgres'] as const) m.cpu[key] /= m.count;
  }
  return measured;
}

/** A case's figures: rate, CPU ms per lifecycle (rest phase), request times. */
interface Measured { rate: number; ms: number; count: number; cpu: Cpu; timings: Record<Op, number[]>; errors: number }

// --- the run --------------------------------------------------------------------------------------------------
interface Row { engine: string; workers: number; http: Measured; floor: Measured | undefined }
const rows: Row[] = [];
/** The floor of each engine that had one (for the CPU table). */
const floors: { engine: string; figures: Measured }[] = [];
const root = mkdtempSync(join(tmpdir(), 'erx-bench-'));
const idp = await startIdp(root);
// Durable commits (fsync, synchronous_commit on) as in production. ERX_BENCH_PG_DURABLE=0 for the old test set-up.
const postgres = await startTestPostgres({ durable: process.env.ERX_BENCH_PG_DURABLE !== '0' });
/** ERX_BENCH_PG_TRANSPORT=tcp|socket: how the Fachdienst reaches the co-located PostgreSQL. */
const pgUrl = postgres && (process.env.ERX_BENCH_PG_TRANSPORT === 'tcp' ? postgres.url : postgres.socketUrl);

/**
 * Each PostgreSQL case gets a database of its own (no case runs on another's tables, dead rows and autovacuum), and a
 * CHECKPOINT once they exist (no case runs into a checkpoint that earlier WAL had due).
 */
async function freshDatabases(names: string[]): Promise<string[]> {
  const admin = new pg.Client({ connectionString: pgUrl! });
  await admin.connect();
  try {
    for (const name of names) await admin.query(`create database ${name}`);
    await admin.query('checkpoint');
  } finally {
    await admin.end();
  }
  return names.map((name) => pgUrl!.replace(/\/postgres(\?|$)/, `/${name}$1`));
}

async function fachdienstRunner(options: { databaseUrl?: string; workers?: number }): Promise<Runner> {
  const fdProcess = await startFachdienstProcess({ dataDir: root, idpUrl: idp.url, nodeOptions, ...options });
  return httpRunner(fdProcess.url, idp, () => fdProcess.stop(), fdProcess.child.pid);
}

/** Runs the floor (if asked for) and the HTTP cases interleaved and records their rows. */
async function runGroup(engine: string, floorCase: (() => Promise<Runner>) | undefined, httpCases: { workers: number; start: () => Promise<Runner> }[]): Promise<void> {
  const runners: Runner[] = [];
  try {
    if (floorCase) runners.push(await floorCase());
    for (const c of httpCases) runners.push(await c.start());
    const measured = await interleaved(runners);
    const floorFigures = floorCase ? measured[0] : undefined;
    if (floorFigures) floors.push({ engine, figures: floorFigures });
    httpCases.forEach((c, i) => rows.push({ engine, workers: c.workers, http: measured[i + (floorCase ? 1 : 0)], floor: floorFigures }));
  } finally {
    for (const r of runners) await r.close();
  }
}

try {
  // PGlite: the embedded engine, one process (the floor on a database of its own in this process).
  if (CASES.includes('pglite')) {
    await runGroup('PGlite',
      CASES.includes('floor') ? async () => floorRunner(await openDatabase({ dataDir: join(root, 'floor-pglite') }), idp) : undefined,
      [{ workers: 1, start: () => fachdienstRunner({}) }]);
  }
  if (postgres) {
    const workers = [1, 2].filter((w) => CASES.includes(`pg${w}`));
    const [floorUrl, ...urls] = await freshDatabases(['erx_bench_floor', ...workers.map((w) => `erx_bench_pg${w}`)]);
    await runGroup('PostgreSQL',
      CASES.includes('floor') ? async () => floorRunner(await openDatabase({ databaseUrl: floorUrl }), idp) : undefined,
      workers.map((w, i) => ({ workers: w, start: () => fachdienstRunner({ databaseUrl: urls[i], workers: w }) })));
  } else {
    console.log('PostgreSQL rows skipped: no postgres binary');
  }
} finally {
  await postgres?.stop();
  await idp.stop();
  rmSync(root, { recursive: true, force: true });
}

console.log(`\nFachdienst lifecycles (${LIFECYCLES} per case after ${WARMUP} unmeasured, in ${BLOCKS} rounds interleaved with the floor's; ${CONCURRENCY} concurrent clients, XML over HTTP loopback, QES brainpoolP256r1)\n`);
console.log('| engine | Fachdienst processes | lifecycles/s | floor lifecycles/s (1 process, no HTTP/FHIR) | ratio to floor | failed requests |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  const floorRate = r.floor?.rate ?? NaN;
  console.log(`| ${r.engine} | ${r.workers} | ${r.http.rate.toFixed(1)} | ${floorRate.toFixed(1)} | ${(100 * r.http.rate / floorRate).toFixed(0)} % | ${r.http.errors} |`);
}
console.log('\nCPU ms per lifecycle in the $activate/$accept/$close phase (2 cores = 2000 CPU ms per second)\n');
console.log('| engine | processes | load generator | Fachdienst | PostgreSQL | total |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
/** PGlite runs inside the process that uses it: its CPU is in that column. */
const cpuRow = (label: string, workers: number, c: Cpu, isPg: boolean, generator: string, embeddedIn: string) => {
  const pgCpu = isPg ? c.postgres : 0;
  console.log(`| ${label} | ${workers} | ${generator} | ${c.fachdienst.toFixed(2)} | ${isPg ? pgCpu.toFixed(2) : `(in ${embeddedIn})`} | ${(c.generator + c.fachdienst + pgCpu).toFixed(2)} |`);
};
for (const r of rows) cpuRow(r.engine, r.workers, r.http.cpu, r.engine === 'PostgreSQL', r.http.cpu.generator.toFixed(2), 'Fachdienst');
for (const f of floors) cpuRow(`${f.engine} floor`, 1, f.figures.cpu, f.engine === 'PostgreSQL', '—', 'process');
console.log('\n| engine | processes | operation | p50 ms | p99 ms |');
console.log('| --- | ---: | --- | ---: | ---: |');
for (const r of rows) {
  for (const op of OPS) {
    const sorted = [...r.http.timings[op]].sort((a, b) => a - b);
    console.log(`| ${r.engine} | ${r.workers} | ${op} | ${percentile(sorted, 50).toFixed(2)} | ${percentile(sorted, 99).toFixed(2)} |`);
  }
}
