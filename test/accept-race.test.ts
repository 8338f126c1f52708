// 1,000 concurrent $accept on 100 ready Tasks, ten pharmacies racing for each: exactly one winner per Task, the
// losers get 409, the stored owner is the winner and there is one accept AuditEvent per Task.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachEngine } from '../src/storage/test-postgres.ts';
import { pharmacies } from '../src/seed/identities.ts';
import { createWorld, readyTask, type TaskHandle, type World } from '../src/fachdienst/testing.ts';

const TASKS = 100;
const RACERS = 10;

forEachEngine('1,000 concurrent $accept on 100 Tasks', (getDb) => {
  test('exactly one winner per Task', async () => {
    const database = getDb();
    const world: World = await createWorld(database);
    try {
      const tasks: TaskHandle[] = [];
      for (let i = 0; i < TASKS; i++) tasks.push(await readyTask(world));
      const racers = pharmacies.slice(0, RACERS);
      const tokens = await Promise.all(racers.map((p) => world.tokenOf(p)));
      const attempts = tasks.flatMap((task) => racers.map((pharmacy, r) => ({ task, pharmacy, token: tokens[r] })));
      assert.equal(attempts.length, 1000);
      // Under this load the PostgreSQL pool may answer 503 + Retry-After (no connection within its wait time); a
      // client retries those, as the gematik retry guidance says, so each attempt ends in 200 or 409.
      let retried503 = 0;
      const results = await Promise.all(attempts.map(async (a) => {
        for (let attempt = 0; ; attempt++) {
          const res = await world.app.inject({
            method: 'POST', url: `/Task/${a.task.id}/$accept?ac=${a.task.accessCode}`,
            headers: { authorization: `Bearer ${a.token}`, accept: 'application/fhir+json' },
          });
          if (res.statusCode !== 503 || attempt >= 20) return { ...a, status: res.statusCode };
          assert.ok(res.headers['retry-after'], '503 carries Retry-After');
          retried503++;
          await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
        }
      }));
      if (retried503) console.log(`# ${retried503} answers were 503 under load and retried`);
      const statuses = new Map<number, number>();
      for (const r of results) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      assert.deepEqual([...statuses.keys()].sort(), [200, 409], `statuses: ${JSON.stringify([...statuses])}`);
      const rows = await database.db.selectFrom('fachdienst_task').select(['id', 'status', 'owner', 'secret'])
        .where('id', 'in', tasks.map((t) => t.id)).execute();
      const audits = await database.db.selectFrom('fachdienst_audit_event').select(['prescription_id'])
        .where('kind', '=', 'accept').where('prescription_id', 'in', tasks.map((t) => t.id)).execute();
      for (const task of tasks) {
        const winners = results.filter((r) => r.task === task && r.status === 200);
        assert.equal(winners.length, 1, `Task ${task.id}: ${winners.length} winners`);
        const row = rows.find((r) => r.id === task.id)!;
        assert.equal(row.status, 'in-progress');
        assert.equal(row.owner, winners[0].pharmacy.telematikId);
        assert.ok(row.secret);
        assert.equal(audits.filter((a) => a.prescription_id === task.id).length, 1, `one accept AuditEvent for ${task.id}`);
      }
    } finally {
      await world.close();
    }
  });
});
