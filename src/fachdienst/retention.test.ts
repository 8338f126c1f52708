import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRetention } from './retention.ts';
import { call, taskInState, type State, type TaskHandle, useWorld } from './testing.ts';

const env = useWorld();

async function exists(id: string): Promise<boolean> {
  return Boolean(await env.database.db.selectFrom('fachdienst_task').select('id').where('id', '=', id).executeTakeFirst());
}

test('each state is deleted after its gematik period, not before', async () => {
  const start = env.world.clock.now;
  const tasks: Partial<Record<State, TaskHandle>> = {};
  for (const s of ['draft', 'in-progress', 'completed', 'cancelled'] as State[]) tasks[s] = await taskInState(env.world, s);
  const at = (days: number) => new Date(start.getTime() + days * 86_400_000);

  assert.deepEqual(await runRetention(env.database, { now: at(4) }), []);
  assert.deepEqual(await runRetention(env.database, { now: at(5.1) }), [tasks.draft!.id]);
  assert.deepEqual(await runRetention(env.database, { now: at(10.1) }), [tasks.cancelled!.id]);
  assert.deepEqual(await runRetention(env.database, { now: at(99.9) }), []);
  const gone = await runRetention(env.database, { now: at(100.1) });
  assert.deepEqual(gone.sort(), [tasks['in-progress']!.id, tasks.completed!.id].sort());
  for (const t of Object.values(tasks)) assert.equal(await exists(t.id), false);
  // dispenses went with their Tasks; the insured learns about the deletion in the access protocol
  const dispenses = await env.database.db.selectFrom('fachdienst_medication_dispense').select('id').execute();
  assert.equal(dispenses.length, 0);
  const audit = await call(env.world, 'insured', 'GET', '/AuditEvent');
  assert.ok(audit.body.entry.some((e: { resource: { text: { div: string } } }) =>
    e.resource.text.div.includes('Veraltete Rezepte wurden vom Fachdienst automatisch gelöscht.')));
});

// Its own test: the ExpiryDate is 3 calendar months after signing, so whether ready goes before or after the
// 100-day periods above depends on today's date.
test('a ready Task is deleted 10 days after its ExpiryDate (German calendar days), not before', async () => {
  const ready = await taskInState(env.world, 'ready');
  const expiry = (await call(env.world, 'insured', 'GET', `/Task/${ready.id}`)).body.entry[0].resource.extension
    .find((e: { url: string }) => e.url.endsWith('ExpiryDate')).valueDate as string;
  const expiryNoon = new Date(`${expiry}T12:00:00Z`);
  assert.deepEqual(await runRetention(env.database, { now: new Date(expiryNoon.getTime() + 10 * 86_400_000) }), []);
  assert.deepEqual(await runRetention(env.database, { now: new Date(expiryNoon.getTime() + 11 * 86_400_000) }), [ready.id]);
  assert.equal(await exists(ready.id), false);
});

test('periods are configurable', async () => {
  const t = await taskInState(env.world, 'cancelled');
  assert.deepEqual(await runRetention(env.database, { now: new Date(env.world.clock.now.getTime() + 2 * 86_400_000), periods: { cancelledDays: 1 } }), [t.id]);
});
