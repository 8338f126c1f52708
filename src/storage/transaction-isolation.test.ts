// PGlite is one session: without the connection lock, a concurrent transaction's COMMIT would commit the rows of a
// transaction that later throws. Runs on both engines; the PGlite run is the one that proves the lock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { registerMigrations } from './migrations.ts';
import { forEachEngine } from './test-postgres.ts';

interface Tables {
  entries: { owner: string; seq: number };
}

registerMigrations([
  {
    name: '900_test_entries',
    async up(db) {
      await db.schema.createTable('entries').addColumn('owner', 'text').addColumn('seq', 'integer').execute();
    },
  },
]);

forEachEngine('transaction isolation', (getDb) => {
  const rowsOf = async (owner: string) =>
    (await (getDb().db as Kysely<Tables>).selectFrom('entries').select('seq').where('owner', '=', owner).orderBy('seq').execute()).map((r) => r.seq);

  test('two concurrent transactions: the one that throws leaves no rows, the other commits all of its rows', async () => {
    const database = getDb();
    const failing = database.transaction(async (trx) => {
      await trx.insertInto('entries').values({ owner: 'failing', seq: 1 }).execute();
      await sleep(20); // the other transaction gets every chance to run and commit in between
      await trx.insertInto('entries').values({ owner: 'failing', seq: 2 }).execute();
      throw new Error('abort failing');
    });
    const committing = database.transaction(async (trx) => {
      await trx.insertInto('entries').values({ owner: 'committing', seq: 1 }).execute();
      await sleep(5);
      await trx.insertInto('entries').values({ owner: 'committing', seq: 2 }).execute();
      return 'committed';
    });
    const [a, b] = await Promise.allSettled([failing, committing]);
    assert.equal(a.status, 'rejected');
    assert.equal((a as PromiseRejectedResult).reason.message, 'abort failing');
    assert.deepEqual(b, { status: 'fulfilled', value: 'committed' });
    assert.deepEqual(await rowsOf('failing'), []);
    assert.deepEqual(await rowsOf('committing'), [1, 2]);
  });

  test('many concurrent transactions and plain queries: only the committed ones are visible, each complete', async () => {
    const database = getDb();
    const work = Array.from({ length: 12 }, (_, i) =>
      database.transaction(async (trx) => {
        for (let seq = 0; seq < 3; seq++) {
          await trx.insertInto('entries').values({ owner: `many-${i}`, seq }).execute();
          await sleep(1);
        }
        if (i % 3 === 0) throw new Error(`abort ${i}`);
      }),
    );
    const plain = (database.db as Kysely<Tables>).insertInto('entries').values({ owner: 'many-plain', seq: 0 }).execute();
    const results = await Promise.allSettled([...work, plain]);
    for (let i = 0; i < 12; i++) {
      assert.equal(results[i].status, i % 3 === 0 ? 'rejected' : 'fulfilled');
      assert.deepEqual(await rowsOf(`many-${i}`), i % 3 === 0 ? [] : [0, 1, 2], `transaction ${i}`);
    }
    assert.deepEqual(await rowsOf('many-plain'), [0]);
  });
});
