// GET /{tenant}/Task?from&to&page: RED's searchset (<entry><Task> without <resource>), at most 10 per page,
// oldest signing first, total, empty page past the end, failed requests with statusReason, pending ones not listed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseXml } from '../fhir/codec.ts';
import type { Bundle, Task } from '../fhir/types.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { formatRedMinute, parseRedMinute } from './red-dates.ts';
import { NS_ACCESS_CODE, NS_PRESCRIPTION_ID } from './red-xml.ts';
import { createPracticeWorld, postRequest, requestBundle, requestId, TENANT, type PracticeWorld } from './testing.ts';

let database: Database;
let world: PracticeWorld;
let ids: string[];
let from: string;
let to: string;
before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createPracticeWorld(database);
  const start = new Date(Date.now() - 60_000);
  // 23 signed in three batches (signing order = batch order), one pending that stays unsigned.
  ids = [];
  for (const size of [10, 8, 5]) {
    const bundles = Array.from({ length: size }, () => requestBundle());
    for (const b of bundles) await postRequest(world.app, b);
    const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
    assert.equal(res.statusCode, 200);
    ids.push(...bundles.map(requestId));
  }
  await postRequest(world.app, requestBundle());
  from = formatRedMinute(start);
  to = formatRedMinute(new Date(Date.now() + 60_000));
});
after(async () => {
  await world.close();
  await database.close();
});

async function page(n: number | string, extra = '') {
  const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/Task?from=${from}&to=${to}&page=${n}${extra}` });
  return res;
}

test('RED form: <entry><Task> directly, 10 per page, total, ascending, PrescriptionId + AccessCode (official)', async () => {
  const res = await page(1);
  assert.equal(res.statusCode, 200, res.body);
  assert.match(res.body, /<entry><Task><id value="/);
  assert.doesNotMatch(res.body, /<resource>/);
  const bundle = parseXml(res.body) as Bundle;
  assert.equal(bundle.type, 'searchset');
  assert.equal(bundle.total, 23);
  const tasks = bundle.entry!.map((e) => e.resource as Task);
  assert.equal(tasks.length, 10);
  const t = tasks[0];
  assert.equal(t.status, 'ready');
  assert.match(t.authoredOn!, /^\d{4}-\d{2}-\d{2}$/);
  assert.deepEqual(t.basedOn, [{ reference: `MedicationRequest/${t.id}` }]);
  const pid = t.identifier!.find((i) => i.system === NS_PRESCRIPTION_ID)!;
  const ac = t.identifier!.find((i) => i.system === NS_ACCESS_CODE)!;
  assert.equal(pid.use, 'official');
  assert.equal(ac.use, 'official');
  assert.match(ac.value!, /^[0-9a-f]{64}$/);
  const stored = await world.store.getRequest(TENANT, t.id!);
  assert.equal(stored?.prescriptionId, pid.value);
  assert.equal(stored?.accessCode, ac.value);
});

test('pages in signing order cover every signed request once; the pending one is not listed; past the end empty', async () => {
  const seen: string[] = [];
  for (const n of [1, 2, 3]) {
    const bundle = parseXml((await page(n)).body) as Bundle;
    assert.equal(bundle.total, 23, `total on page ${n}`);
    seen.push(...(bundle.entry ?? []).map((e) => e.resource!.id!));
  }
  assert.equal(seen.length, 23);
  assert.deepEqual(new Set(seen), new Set(ids));
  // Batches are in order: everything of the first batch before everything of the second.
  const batchOf = (id: string) => (ids.indexOf(id) < 10 ? 0 : ids.indexOf(id) < 18 ? 1 : 2);
  for (let i = 1; i < seen.length; i++) assert.ok(batchOf(seen[i - 1]) <= batchOf(seen[i]), 'ascending by signing time');
  const past = await page(4);
  assert.equal(past.statusCode, 200);
  const empty = parseXml(past.body) as Bundle;
  assert.equal(empty.total, 23);
  assert.equal(empty.entry, undefined);
});

test('a window before the signing lists nothing; fhirstrict=1 gives the standard <entry><resource> form', async () => {
  const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/Task?from=202001010000&to=202001020000&page=1` });
  assert.equal((parseXml(res.body) as Bundle).total, 0);
  const strict = await page(1, '&fhirstrict=1');
  assert.match(strict.body, /<entry><resource><Task[ >]/);
  assert.equal(((parseXml(strict.body) as Bundle).entry ?? []).length, 10);
});

test('a failed request is listed with status failed and statusReason', async () => {
  // Make signing fail at the Fachdienst's check: an authoredOn rule cannot fail here, so break the stored bundle.
  const bundle = requestBundle();
  await postRequest(world.app, bundle);
  await database.db.updateTable('practice_request').set({ flow_type: '166' }).where('id', '=', requestId(bundle)).execute();
  const run = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
  assert.equal(run.statusCode, 200);
  const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/Task?from=${from}&to=${formatRedMinute(new Date(Date.now() + 60_000))}&page=3` });
  const tasks = ((parseXml(res.body) as Bundle).entry ?? []).map((e) => e.resource as Task);
  const failed = tasks.find((t) => t.id === requestId(bundle));
  assert.ok(failed, 'failed request listed');
  assert.equal(failed.status, 'failed');
  assert.ok(failed.statusReason?.text && failed.statusReason.text.length > 5);
});

test('bad from, to and page: 400 OperationOutcome', async () => {
  for (const q of ['from=2025070708&to=202507070829', 'from=202513070808&to=202507070829', 'from=202507070808', `from=${from}&to=${to}&page=0`, `from=${from}&to=${to}&page=x`, 'from=202507070900&to=202507070800']) {
    const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/Task?${q}` });
    assert.equal(res.statusCode, 400, q);
    assert.match(res.body, /OperationOutcome/);
  }
});

test('from/to are Berlin wall-clock minutes (summer and winter time)', () => {
  assert.equal(parseRedMinute('202507070808', 'from').toISOString(), '2025-07-07T06:08:00.000Z');
  assert.equal(parseRedMinute('202501150808', 'from').toISOString(), '2025-01-15T07:08:00.000Z');
  assert.equal(formatRedMinute(new Date('2025-07-07T06:08:30Z')), '202507070808');
});
