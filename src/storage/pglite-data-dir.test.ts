// The embedded default: data in `${dataDir}/pglite` survives close and reopen; a second opener is refused.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from './database.ts';
import { migrate, registerMigrations } from './migrations.ts';

registerMigrations([
  { name: '900_test_kept', up: async (db) => void (await sql`create table kept (id text primary key, n int8)`.execute(db)) },
]);

const dataDir = mkdtempSync(join(tmpdir(), 'erx-storage-test-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

test('committed rows survive close and reopen; migrations are not applied again', async () => {
  const first = await openDatabase({ dataDir });
  assert.equal(first.engine, 'pglite');
  assert.ok(existsSync(join(dataDir, 'pglite', 'PG_VERSION')), 'PGlite files live in <dataDir>/pglite');
  await first.transaction(async (trx) => {
    await trx.insertInto('kept').values({ id: 'a', n: 1 }).execute();
  });
  await first.db.insertInto('kept').values({ id: 'b', n: 2 }).execute();
  await first.transaction(async (trx) => {
    await trx.insertInto('kept').values({ id: 'rolled-back', n: 3 }).execute();
    throw new Error('undo');
  }).catch(() => {});

  // A second process (or a second open in this one) must not open the same directory: PGlite would corrupt it.
  await assert.rejects(openDatabase({ dataDir }), /already open in this process/);
  await first.close();

  const second = await openDatabase({ dataDir, migrate: false });
  try {
    const rows = await second.db.selectFrom('kept').selectAll().orderBy('id').execute();
    assert.deepEqual(rows, [{ id: 'a', n: 1 }, { id: 'b', n: 2 }]);
    assert.deepEqual(await migrate(second.db), []);
  } finally {
    await second.close();
  }
  assert.equal(existsSync(join(dataDir, 'pglite', 'erx.lock')), false, 'close releases the directory');
});

test('a lock left by a process that no longer runs does not block the start', async () => {
  writeFileSync(join(dataDir, 'pglite', 'erx.lock'), '2147483646');
  const database = await openDatabase({ dataDir, migrate: false });
  try {
    assert.equal((await database.db.selectFrom('kept').select('id').execute()).length, 2);
  } finally {
    await database.close();
  }
});

test('openDatabase without dataDir or databaseUrl says what is missing', async () => {
  await assert.rejects(openDatabase({}), /needs a dataDir \(embedded PGlite\) or a databaseUrl \(PostgreSQL\)/);
});
