import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Database } from '../storage/database.ts';
import { runRetention } from './retention.ts';
import { call, createWorld, taskInState, type State, type TaskHandle, type World } from './testing.ts';

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

async function exists(id: string): Promise<boolean> {
  return Boolean(await database.db.selectFrom('fachdienst_task').select('id').where('id', '=', id).executeTakeFirst());
}

test('each state is deleted after its gematik period, not before', async () => {
  const start = world.clock.now;
  const tasks: Record<State, TaskHandle> = {} as never;
  for (const s of ['draft', 'ready', 'in-progress', 'completed', 'cancelled'] as State[]) tasks[s] = await taskInState(world, s);
  const expiry = (await call(world, 'insured', 'GET', `/Task/${tasks.ready.id}`)).body.entry[0].resource.extension
    .find((e: { url: string }) => e.url.endsWith('ExpiryDate')).valueDate as string;
  const at = (days: number) => new Date(start.getTime() + days * 86_400_000);

  assert.deepEqual(await runRetention(database, { now: at(4) }), []);
  assert.deepEqual(await runRetention(database, { now: at(5.1) }), [tasks.draft.id]);
  assert.deepEqual(await runRetention(database, { now: at(10.1) }), [tasks.cancelled.id]);
  assert.deepEqual(await runRetention(database, { now: at(99.9) }), []);
  const gone = await runRetention(database, { now: at(100.1) });
  assert.deepEqual(gone.sort(), [tasks['in-progress'].id, tasks.completed.id].sort());
  // ready: 10 days after the ExpiryDate (German calendar days)
  const expiryNoon = new Date(`${expiry}T12:00:00Z`);
  assert.deepEqual(await runRetention(database, { now: new Date(expiryNoon.getTime() + 10 * 86_400_000) }), []);
  assert.deepEqual(await runRetention(database, { now: new Date(expiryNoon.getTime() + 11 * 86_400_000) }), [tasks.ready.id]);
  for (const t of Object.values(tasks)) assert.equal(await exists(t.id), false);
  // dispenses went with their Tasks; the insured learns about the deletion in the access protocol
  const dispenses = await database.db.selectFrom('fachdienst_medication_dispense').select('id').execute();
  assert.equal(dispenses.length, 0);
  const audit = await call(world, 'insured', 'GET', '/AuditEvent');
  assert.ok(audit.body.entry.some((e: { resource: { text: { div: string } } }) =>
    e.resource.text.div.includes('Veraltete Rezepte wurden vom Fachdienst automatisch gelöscht.')));
});

test('periods are configurable', async () => {
  const t = await taskInState(world, 'cancelled');
  assert.deepEqual(await runRetention(database, { now: new Date(world.clock.now.getTime() + 2 * 86_400_000), periods: { cancelledDays: 1 } }), [t.id]);
});
