import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { openDatabase, type Database } from './database.ts';
import { migrate, registerMigrations, type Migration } from './migrations.ts';
import { findPostgresBin, forEachEngine, POSTGRES_SKIP_REASON, startTestPostgres, type TestPostgres } from './test-postgres.ts';

// Each migration fails if applied twice (plain CREATE TABLE) and logs itself, so "exactly once" is observable.
// The features' own migrations (migrations/index.ts) run too; the assertions look only at these.
const testMigrations: Migration[] = [
  {
    name: '910_test_second',
    async up(db) {
      await sql`create table second_table (id int primary key)`.execute(db);
      await sql`insert into migration_log (name) values ('910_test_second')`.execute(db);
    },
  },
  {
    name: '900_test_first',
    async up(db) {
      // Registered after 910 but must run before it: 910 writes into this table.
      await sql`create table migration_log (name text not null, at timestamptz not null default clock_timestamp())`.execute(db);
      await sql`select pg_sleep(0.05)`.execute(db); // widen the window for concurrent starts
      await sql`insert into migration_log (name) values ('900_test_first')`.execute(db);
    },
  },
];
registerMigrations(testMigrations);

forEachEngine('migrations', (getDb) => {
  test('openDatabase applied every migration once, in name order, and recorded it', async () => {
    const { db } = getDb();
    const log = await db.selectFrom('migration_log').select('name').orderBy('at').execute();
    assert.deepEqual(log, [{ name: '900_test_first' }, { name: '910_test_second' }]);
    const recorded = await db.selectFrom('migrations').select('name').where('name', 'like', '9%_test_%').orderBy('name').execute();
    assert.deepEqual(recorded, [{ name: '900_test_first' }, { name: '910_test_second' }]);
  });

  test('a second run applies nothing', async () => {
    assert.deepEqual(await migrate(getDb().db), []);
    const count = await getDb().db.selectFrom('migration_log').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    assert.equal(count.n, 2);
  });

  test('a failing migration is rolled back completely, is not recorded, and stops the ones after it', async () => {
    const withBroken = [
      {
        name: '920_test_broken',
        async up(db: Kysely<any>) {
          await sql`create table half_done (id int)`.execute(db);
          await sql`select * from no_such_table`.execute(db);
        },
      },
      { name: '930_test_after_broken', up: async (db: Kysely<any>) => void (await sql`create table after_broken (id int)`.execute(db)) },
    ];
    await assert.rejects(migrate(getDb().db, withBroken), /no_such_table/);
    const tables = await sql<{ name: string }>`select table_name as name from information_schema.tables
      where table_name in ('half_done', 'after_broken')`.execute(getDb().db);
    assert.deepEqual(tables.rows, []);
    const recorded = await getDb().db.selectFrom('migrations').select('name').where('name', '>=', '920').execute();
    assert.deepEqual(recorded, []);
  });

  test('duplicate migration names are refused', async () => {
    const twice = [
      { name: '940_test_twice', up: async () => {} },
      { name: '940_test_twice', up: async () => {} },
    ];
    await assert.rejects(migrate(getDb().db, twice), /migration name 940_test_twice is used twice/);
    assert.deepEqual(await getDb().db.selectFrom('migrations').select('name').where('name', '=', '940_test_twice').execute(), []);
  });
});

describe('migrations from two processes at once [postgres]', { skip: findPostgresBin() ? false : POSTGRES_SKIP_REASON }, () => {
  let server: TestPostgres | undefined;
  let a: Database;
  let b: Database;
  before(async () => {
    server = await startTestPostgres();
    assert.ok(server, POSTGRES_SKIP_REASON);
    a = await openDatabase({ databaseUrl: server.url, migrate: false });
    b = await openDatabase({ databaseUrl: server.url, migrate: false });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  test('two Database instances migrating concurrently apply each migration exactly once', async () => {
    const [fromA, fromB] = await Promise.all([migrate(a.db, testMigrations), migrate(b.db, testMigrations)]);
    const applied = [...fromA, ...fromB].sort();
    assert.deepEqual(applied, ['900_test_first', '910_test_second']);
    const log = await a.db.selectFrom('migration_log').select('name').orderBy('at').execute();
    assert.deepEqual(log, [{ name: '900_test_first' }, { name: '910_test_second' }]);
  });
});
