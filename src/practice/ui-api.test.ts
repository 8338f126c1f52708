// The signing UI's JSON API: pending list, detail, batch start with progress, printout, comfort signature, and the
// PIN prompt mode (ERX_PIN_PROMPT=1) where the PIN has to come from the UI.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PDFDocument } from 'pdf-lib';
import { DEV_PIN } from '../konnektor/cards.ts';
import { pharmacies } from '../seed/identities.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { createPracticeWorld, postRequest, requestBundle, requestId, TENANT, type PracticeWorld } from './testing.ts';

const json = (app: PracticeWorld['app'], method: 'GET' | 'POST', url: string, payload?: object) =>
  app.inject({ method, url: `/${TENANT}${url}`, headers: payload ? { 'content-type': 'application/json' } : {}, payload: payload ? JSON.stringify(payload) : undefined });

async function waitForBatch(world: PracticeWorld, batchId: string) {
  for (;;) {
    const res = await json(world.app, 'GET', `/ui/batches/${batchId}`);
    assert.equal(res.statusCode, 200, res.body);
    const progress = res.json();
    if (progress.state !== 'running') return progress;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('dev mode (simulated terminal enters the PIN)', () => {
  let database: Database;
  let world: PracticeWorld;
  before(async () => {
    database = await openDatabase({ dataDir: ':memory:' });
    world = await createPracticeWorld(database);
  });
  after(async () => {
    await world.close();
    await database.close();
  });

  test('pending list and detail show patient, medication, requesting system, received at', async () => {
    const bundle = requestBundle();
    await postRequest(world.app, bundle, '', 'Pflegeheim-Software/3');
    const list = await json(world.app, 'GET', '/ui/requests?status=pending');
    assert.equal(list.statusCode, 200);
    assert.match(String(list.headers['content-type']), /json/);
    const item = list.json().find((r: any) => r.id === requestId(bundle));
    assert.equal(item.status, 'pending');
    assert.equal(item.patient.family, 'Müller');
    assert.equal(item.patient.kvnr, 'X110614233');
    assert.equal(item.medication, 'Sumatriptan-1a Pharma 100 mg Tabletten');
    assert.equal(item.requestingSystem, 'Pflegeheim-Software/3');
    assert.ok(!Number.isNaN(Date.parse(item.receivedAt)));
    const detail = await json(world.app, 'GET', `/ui/requests/${requestId(bundle)}`);
    assert.equal(detail.json().bundle.resourceType, 'Bundle');
    assert.equal((await json(world.app, 'GET', '/ui/requests/nope')).statusCode, 404);
    assert.equal((await json(world.app, 'GET', '/ui/requests?status=bogus')).statusCode, 400);
  });

  test('sign all pending: batchId, progress to finished, printout PDF afterwards', async () => {
    const bundles = [requestBundle(), requestBundle(), requestBundle()];
    for (const b of bundles) await postRequest(world.app, b);
    const pendingBefore = (await json(world.app, 'GET', '/ui/requests?status=pending')).json().length;
    const early = await json(world.app, 'GET', `/ui/requests/${requestId(bundles[0])}/printout.pdf`);
    assert.equal(early.statusCode, 409, 'no printout before signing');

    const start = await json(world.app, 'POST', '/ui/sign', {});
    assert.equal(start.statusCode, 202, start.body);
    const { batchId, total } = start.json();
    assert.equal(total, pendingBefore);
    const progress = await waitForBatch(world, batchId);
    assert.deepEqual({ total: progress.total, done: progress.done, failed: progress.failed, state: progress.state }, { total: pendingBefore, done: pendingBefore, failed: 0, state: 'finished' });
    assert.equal((await json(world.app, 'GET', '/ui/requests?status=pending')).json().length, 0);

    // After signing the detail shows what was signed: the bundle completed with PrescriptionID and physician.
    const detail = (await json(world.app, 'GET', `/ui/requests/${requestId(bundles[0])}`)).json();
    assert.equal(detail.bundle.identifier.value, detail.prescriptionId);
    assert.ok(detail.bundle.entry.some((e: any) => e.resource.resourceType === 'Practitioner'));
    assert.equal(detail.bundle.entry.find((e: any) => e.resource.resourceType === 'MedicationRequest').resource.authoredOn, detail.authoredOn);

    const pdf = await json(world.app, 'GET', `/ui/requests/${requestId(bundles[0])}/printout.pdf`);
    assert.equal(pdf.statusCode, 200);
    assert.equal(pdf.headers['content-type'], 'application/pdf');
    assert.equal((await PDFDocument.load(pdf.rawPayload)).getPageCount(), 1);
  });

  test('sign selected ids only', async () => {
    const [a, b] = [requestBundle(), requestBundle()];
    await postRequest(world.app, a);
    await postRequest(world.app, b);
    const start = await json(world.app, 'POST', '/ui/sign', { ids: [requestId(a)] });
    const progress = await waitForBatch(world, start.json().batchId);
    assert.equal(progress.total, 1);
    assert.equal((await world.store.getRequest(TENANT, requestId(a)))?.status, 'done');
    assert.equal((await world.store.getRequest(TENANT, requestId(b)))?.status, 'pending');
    assert.equal((await json(world.app, 'POST', '/ui/sign', { ids: 'x' })).statusCode, 400);
  });

  test('the physician picks the pharmacy of a pending request: flowtype 169; not after signing', async () => {
    const bundle = requestBundle();
    await postRequest(world.app, bundle);
    const res = await json(world.app, 'POST', `/ui/requests/${requestId(bundle)}/pharmacy`, { telematikId: pharmacies[1].telematikId });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().flowType, '169');
    assert.equal(res.json().pharmacy, pharmacies[1].telematikId);
    assert.equal((await json(world.app, 'POST', `/ui/requests/${requestId(bundle)}/pharmacy`, { telematikId: 'x' })).statusCode, 400);
    const run = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
    assert.match(run.body, /Task\/169\./);
    const late = await json(world.app, 'POST', `/ui/requests/${requestId(bundle)}/pharmacy`, { telematikId: null });
    assert.equal(late.statusCode, 409);
  });

  test('comfort signature on: signing runs in COMFORT mode; off again', async () => {
    const on = await json(world.app, 'POST', '/ui/comfort', { on: true });
    assert.equal(on.statusCode, 200, on.body);
    assert.equal(on.json().mode, 'comfort');
    assert.equal(on.json().comfort.ComfortSignatureStatus, 'ENABLED');
    const remainingBefore = on.json().comfort.SessionInfo.CountRemaining;
    const bundle = requestBundle();
    await postRequest(world.app, bundle);
    const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
    assert.equal(res.statusCode, 200);
    assert.equal((await world.store.getRequest(TENANT, requestId(bundle)))?.status, 'done');
    const mode = (await json(world.app, 'GET', '/ui/signature-mode')).json();
    const signed = (res.body.match(/<prescription>/g) ?? []).length;
    assert.ok(signed >= 1);
    assert.equal(mode.comfort.SessionInfo.CountRemaining, remainingBefore - signed, 'the signatures counted against the comfort session');
    const off = await json(world.app, 'POST', '/ui/comfort', { on: false });
    assert.equal(off.json().mode, 'pin');
    assert.equal((await json(world.app, 'GET', '/ui/signature-mode')).json().mode, 'pin');
    assert.equal((await json(world.app, 'POST', '/ui/comfort', {})).statusCode, 400);
  });
});

describe('ERX_PIN_PROMPT=1', () => {
  let database: Database;
  let world: PracticeWorld;
  before(async () => {
    database = await openDatabase({ dataDir: ':memory:' });
    world = await createPracticeWorld(database, { pinPrompt: true });
  });
  after(async () => {
    await world.close();
    await database.close();
  });

  test('$processerp without a PIN from the UI: 409, nothing signed', async () => {
    const bundle = requestBundle();
    await postRequest(world.app, bundle);
    const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
    assert.equal(res.statusCode, 409);
    assert.match(res.body, /PIN/);
    assert.equal((await world.store.getRequest(TENANT, requestId(bundle)))?.status, 'pending');
  });

  test('wrong PIN: batch failed, requests back to pending with the reason; right PIN signs them', async () => {
    const bundle = requestBundle();
    await postRequest(world.app, bundle);
    const wrong = await json(world.app, 'POST', '/ui/sign', { pin: '000000' });
    assert.equal(wrong.statusCode, 202);
    const failed = await waitForBatch(world, wrong.json().batchId);
    assert.equal(failed.state, 'failed');
    assert.match(failed.error, /PIN/i);
    const r = await world.store.getRequest(TENANT, requestId(bundle));
    assert.equal(r?.status, 'pending');
    assert.match(r?.error ?? '', /PIN/i);

    const ok = await json(world.app, 'POST', '/ui/sign', { pin: DEV_PIN });
    const progress = await waitForBatch(world, ok.json().batchId);
    assert.equal(progress.state, 'finished', JSON.stringify(progress));
    assert.equal((await world.store.getRequest(TENANT, requestId(bundle)))?.status, 'done');
  });
});
