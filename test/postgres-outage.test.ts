// PostgreSQL stopped and started again while clients run lifecycles: during the outage every request that needs the
// database gets 503 with Retry-After (never a 500), /health says 503; afterwards the same Fachdienst serves again by
// itself (no restart), and every Task is in one consistent state: acknowledged steps kept, nothing twice.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '../src/storage/database.ts';
import { findPostgresBin, POSTGRES_SKIP_REASON, startTestPostgres, type TestPostgres } from '../src/storage/test-postgres.ts';
import {
  activateParameters, call, createParameters, createWorld, dispenseParameters, identifierValue, signedPrescription, type World,
} from '../src/fachdienst/testing.ts';
import { NS } from '../src/fachdienst/task-resource.ts';

const CLIENTS = 6;

describe('PostgreSQL outage under load', { skip: findPostgresBin() ? false : POSTGRES_SKIP_REASON }, () => {
  let server: TestPostgres;
  let database: Database;
  let world: World;
  before(async () => {
    server = (await startTestPostgres())!;
    database = await openDatabase({ databaseUrl: server.url, poolSize: 4 });
    world = await createWorld(database);
  });
  after(async () => {
    await world?.close();
    await database?.close();
    await server?.stop();
  });

  test('503 with Retry-After while down, recovers by itself, nothing corrupted', async () => {
    const statuses = new Map<number, number>();
    const acknowledged = new Map<string, string>(); // Task id -> last acknowledged status
    let missingRetryAfter = 0;
    let running = true;
    const step = async (r: Awaited<ReturnType<typeof call>>) => {
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 503 && !r.res.headers['retry-after']) missingRetryAfter++;
      return r.status < 300;
    };
    const lifecycle = async () => {
      const created = await call(world, 'practice', 'POST', '/Task/$create', { body: createParameters('160') });
      if (!(await step(created))) return;
      const id = created.body.id as string;
      const ac = identifierValue(created.body, NS.accessCode)!;
      acknowledged.set(id, 'draft');
      const activated = await call(world, 'practice', 'POST', `/Task/${id}/$activate`, {
        body: activateParameters(signedPrescription(world, id, '160')), headers: { 'x-accesscode': ac },
      });
      if (!(await step(activated))) return;
      acknowledged.set(id, 'ready');
      const accepted = await call(world, 'pharmacy', 'POST', `/Task/${id}/$accept?ac=${ac}`);
      if (!(await step(accepted))) return;
      acknowledged.set(id, 'in-progress');
      const secret = identifierValue(accepted.body.entry[0].resource, NS.secret)!;
      const closed = await call(world, 'pharmacy', 'POST', `/Task/${id}/$close?secret=${secret}`, {
        body: dispenseParameters(world, { id, flowType: '160', accessCode: ac, kvnr: 'X110614233' }),
      });
      if (await step(closed)) acknowledged.set(id, 'completed');
    };
    const clients = Array.from({ length: CLIENTS }, async () => {
      while (running) await lifecycle();
    });

    await new Promise((r) => setTimeout(r, 1500));
    const beforeOutage = acknowledged.size;
    await server.pause();
    const outageStart = statuses.get(503) ?? 0;
    await new Promise((r) => setTimeout(r, 1500));
    const health = await world.app.inject({ method: 'GET', url: '/health' });
    assert.equal(health.statusCode, 503, 'not ready while the database is down');
    assert.ok((statuses.get(503) ?? 0) > outageStart, 'clients saw 503 while PostgreSQL was down');
    await server.resume();
    const completedBefore = [...acknowledged.values()].filter((s) => s === 'completed').length;
    // recovered without a restart: lifecycles complete again
    const deadline = Date.now() + 20_000;
    while ([...acknowledged.values()].filter((s) => s === 'completed').length < completedBefore + 10 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    running = false;
    await Promise.all(clients);
    assert.ok([...acknowledged.values()].filter((s) => s === 'completed').length >= completedBefore + 10, 'lifecycles complete again after the outage');
    assert.equal((await world.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    assert.ok(beforeOutage > 0);
    assert.equal(statuses.get(500), undefined, `no 500: ${JSON.stringify([...statuses])}`);
    assert.deepEqual([...statuses.keys()].filter((s) => ![200, 201, 503].includes(s)), [], `only 200/201/503: ${JSON.stringify([...statuses])}`);
    assert.equal(missingRetryAfter, 0, 'every 503 carries Retry-After');

    // nothing corrupted
    const order = ['draft', 'ready', 'in-progress', 'completed'];
    const rows = await database.db.selectFrom('fachdienst_task').selectAll().execute();
    const audits = await database.db.selectFrom('fachdienst_audit_event').select(['prescription_id', 'kind']).execute();
    for (const row of rows) {
      const count = (kind: string) => audits.filter((a) => a.prescription_id === row.id && a.kind === kind).length;
      const reached = order.indexOf(row.status);
      assert.ok(reached >= 0, `status ${row.status}`);
      assert.ok(reached >= order.indexOf(acknowledged.get(row.id) ?? 'draft'), `acknowledged step of ${row.id} kept`);
      assert.equal(count('activate'), reached >= 1 ? 1 : 0, `activate AuditEvents of ${row.id}`);
      assert.equal(count('accept'), reached >= 2 ? 1 : 0, `accept AuditEvents of ${row.id}`);
      assert.equal(count('close'), reached >= 3 ? 1 : 0, `close AuditEvents of ${row.id}`);
      if (reached >= 1) assert.ok(row.prescription_cms && row.kvnr && row.bundle, `${row.id} activation complete`);
      if (reached >= 2) assert.ok(row.secret && row.owner, `${row.id} acceptance complete`);
      if (reached >= 3) assert.ok(row.receipt && row.closed_at, `${row.id} close complete`);
    }
    console.log(`outage under load: ${rows.length} Tasks, answers ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
