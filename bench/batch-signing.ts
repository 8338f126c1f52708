// Practice batch signing: time from 250 `$createerptask` calls to `Task?from&to` returning all 250 (through
// `$processerp`: $create, one 250-document SignDocument call, $activate per request), against doing the same 250
// directly at the Fachdienst ($create, the same batch signature, $activate) in the same run. In-process (inject)
// on PGlite with its data directory on disk, as `erx start` runs it (ERX_BENCH_PGLITE=memory for an in-memory
// database); target < 2 s. Run: node --import tsx bench/batch-signing.ts   (ERX_BENCH_REQUESTS, default 250)
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { toXml, parseXml } from '../src/fhir/codec.ts';
import { berlinDay } from '../src/fhir/kbv/dates.ts';
import type { Bundle } from '../src/fhir/types.ts';
import { physician, practice, TENANT } from '../src/seed/identities.ts';
import { openDatabase } from '../src/storage/database.ts';
import { completeBundle } from '../src/practice/batch-signing.ts';
import { mapLimit } from '../src/practice/pool.ts';
import { formatRedMinute } from '../src/practice/red-dates.ts';
import type { PracticeRequest } from '../src/practice/store.ts';
import { createPracticeWorld, FD_URL, postRequest, requestBundle } from '../src/practice/testing.ts';
import { createFachdienstClient, type TokenSource } from '../src/practice/fachdienst-client.ts';
import { injectFetch } from '../src/idp/testing.ts';
import { createKonnektorClient } from '../src/konnektor/client.ts';

const N = Number(process.env.ERX_BENCH_REQUESTS ?? 250);
const inMemory = process.env.ERX_BENCH_PGLITE === 'memory';
const dataDir = inMemory ? ':memory:' : mkdtempSync(join(tmpdir(), 'erx-bench-batch-'));
const database = await openDatabase({ dataDir });
const world = await createPracticeWorld(database);
const tenant = { name: TENANT, practice, physician };

// Warm-up (JIT, token, first SignDocument), not measured.
await postRequest(world.app, requestBundle());
await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });

const bundles = Array.from({ length: N }, () => requestBundle());
const payloads = bundles.map((b) => toXml(b));

// --- through the practice ------------------------------------------------------------------------------------
const from = formatRedMinute(new Date(Date.now() - 60_000));
const t0 = performance.now();
await mapLimit(payloads, 8, async (payload) => {
  const res = await world.app.inject({ method: 'POST', url: `/${TENANT}/TI?action=$createerptask`, headers: { 'content-type': 'application/fhir+xml' }, payload });
  if (res.statusCode !== 201) throw new Error(`createerptask ${res.statusCode}: ${res.body}`);
});
const tCreated = performance.now();
const processed = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
if (processed.statusCode !== 200) throw new Error(`processerp ${processed.statusCode}`);
const tProcessed = performance.now();
const to = formatRedMinute(new Date(Date.now() + 60_000));
let listed = 0;
for (let page = 1; ; page++) {
  const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/Task?from=${from}&to=${to}&page=${page}` });
  const bundle = parseXml(res.body) as Bundle;
  if (!bundle.entry?.length) break;
  listed += bundle.entry.length;
}
const tListed = performance.now();
if (listed < N) throw new Error(`only ${listed} of ${N} listed`);

// --- directly at the Fachdienst (same client, same batch signature, same parallelism) ----------------------------
// The practice's SMC-B login, once (the practice caches its token the same way).
const practiceToken = await world.token(practice.id);
const tokens: TokenSource = { token: async () => practiceToken, invalidate() {} };
const direct = createFachdienstClient({ baseUrl: FD_URL, tokens, fetch: injectFetch(world.fachdienst) });
const konnektor = createKonnektorClient('http://k.test', {
  context: { MandantId: TENANT, ClientSystemId: 'PVS', WorkplaceId: 'Arbeitsplatz1' }, fetch: injectFetch(world.konnektor.app),
});
await direct.createTask('160'); // token warm-up
const d0 = performance.now();
const tasks = await mapLimit(bundles, 8, async () => direct.createTask('160'));
const hba = (await konnektor.getCards({ cardType: 'HBA' }))[0].CardHandle;
const day = berlinDay(new Date());
const docs = bundles.map((b, i) => toXml(completeBundle({ bundle: b, prescriptionId: tasks[i].prescriptionId } as PracticeRequest, physician, tenant.practice, day)));
const signed = await konnektor.signDocuments(hba, docs.map((content, i) => ({ requestId: String(i), content, mimeType: 'text/xml; charset=utf-8' })));
await mapLimit(signed.signed, 8, async (s) => {
  const t = tasks[Number(s.requestId)];
  await direct.activateTask(t.prescriptionId, t.accessCode, s.cms);
});
const d1 = performance.now();

await world.close();
await database.close();
if (!inMemory) rmSync(dataDir, { recursive: true, force: true });

const practiceMs = tListed - t0;
const directMs = d1 - d0;
const f = (ms: number) => `${ms.toFixed(0)} ms`;
console.log(`\n${N} prescriptions, PGlite ${inMemory ? 'in memory' : 'on disk'}, in-process (inject); load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} cores\n`);
console.log('| measurement | time | ratio |');
console.log('| --- | --- | --- |');
console.log(`| practice: ${N}× $createerptask | ${f(tCreated - t0)} | |`);
console.log(`| practice: $processerp (create, batch QES, activate) | ${f(tProcessed - tCreated)} | |`);
console.log(`| practice: Task?from&to, ${Math.ceil(N / 10)} pages | ${f(tListed - tProcessed)} | |`);
console.log(`| practice total (createerptask → all listed) | ${f(practiceMs)} | ${(practiceMs / directMs).toFixed(2)}× direct |`);
console.log(`| direct at the Fachdienst ($create, batch QES, $activate) | ${f(directMs)} | 1.00× |`);
console.log(`\ntarget: practice total < 2000 ms on PGlite → ${practiceMs < 2000 ? 'met' : 'NOT met'}`);
