// Webhooks: a tenant's URL is called from the outbox when requests are signed or fail; a receiver that is down gets
// the call later (retry), exactly once when it answers 2xx.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { openDatabase, type Database } from '../storage/database.ts';
import { deliverOutbox, type OutboxDeps } from './outbox.ts';
import { createPracticeWorld, postRequest, requestBundle, requestId, TENANT, type PracticeWorld } from './testing.ts';

let database: Database;
let world: PracticeWorld;
let server: Server;
let up = false;
const received: any[] = [];
let url: string;

before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createPracticeWorld(database);
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (!up) return res.writeHead(503).end();
      received.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
});
after(async () => {
  server.close();
  await world.close();
  await database.close();
});

const deps = (): OutboxDeps => ({
  store: world.store, lookupKimAddress: async () => undefined, kimAccount: () => undefined,
  sendKimMail: async () => { throw new Error('no KIM here'); }, backoff: () => 0,
});

test('signed and failed events reach the webhook after it comes back, once each', async () => {
  const reg = await world.app.inject({ method: 'POST', url: `/${TENANT}/webhooks`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ url }) });
  assert.equal(reg.statusCode, 201, reg.body);
  const bad = await world.app.inject({ method: 'POST', url: `/${TENANT}/webhooks`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ url: 'ftp://x' }) });
  assert.equal(bad.statusCode, 400);

  const ok = requestBundle();
  const broken = requestBundle();
  await postRequest(world.app, ok);
  await postRequest(world.app, broken);
  await database.db.updateTable('practice_request').set({ flow_type: '166' }).where('id', '=', requestId(broken)).execute();
  await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
  assert.equal((await world.store.getRequest(TENANT, requestId(ok)))?.status, 'activated', 'done only after the webhook');

  assert.equal(await deliverOutbox(deps()), 0);
  assert.equal(received.length, 0);
  up = true;
  assert.equal(await deliverOutbox(deps()), 2);
  assert.equal(await deliverOutbox(deps()), 0);
  const signed = received.find((e) => e.event === 'signed');
  const failed = received.find((e) => e.event === 'failed');
  assert.equal(received.length, 2);
  assert.equal(signed.tenant, TENANT);
  assert.equal(signed.id, requestId(ok));
  assert.match(signed.prescriptionId, /^160\./);
  assert.equal(failed.id, requestId(broken));
  assert.ok(failed.error);
  assert.equal((await world.store.getRequest(TENANT, requestId(ok)))?.status, 'done');
});
