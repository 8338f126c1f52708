// While PostgreSQL is down every query fails with the 503 FhirError; once it is back the same pool works again.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { FhirError } from '../fhir/errors.ts';
import { openDatabase, type Database } from './database.ts';
import { findPostgresBin, POSTGRES_SKIP_REASON, startTestPostgres, type TestPostgres } from './test-postgres.ts';

function assertUnavailable(err: unknown) {
  assert.ok(err instanceof FhirError, `expected FhirError, got ${String(err)}`);
  assert.equal(err.status, 503);
  assert.equal(err.code, 'transient');
  assert.equal(err.message, 'Datenbank vorübergehend nicht erreichbar');
  assert.deepEqual(err.headers, { 'Retry-After': '1' });
}

describe('PostgreSQL outage and recovery', { skip: findPostgresBin() ? false : POSTGRES_SKIP_REASON }, () => {
  let server: TestPostgres | undefined;
  let database: Database;
  before(async () => {
    server = await startTestPostgres();
    assert.ok(server, POSTGRES_SKIP_REASON);
    database = await openDatabase({ databaseUrl: server.url, poolSize: 3 });
    assert.equal(database.engine, 'postgres');
    await sql`create table ping (id int primary key)`.execute(database.db);
  });
  after(async () => {
    await database?.close();
    await server?.stop();
  });

  test('idle pool: server stops, queries get 503, server starts again, queries work', async () => {
    await database.db.insertInto('ping').values({ id: 1 }).execute(); // leaves an idle pooled connection behind
    await server!.pause();
    for (let i = 0; i < 2; i++) {
      assertUnavailable(await database.db.selectFrom('ping').selectAll().execute().catch((e: unknown) => e));
    }
    assertUnavailable(await database.transaction(async (trx) => trx.insertInto('ping').values({ id: 2 }).execute()).catch((e: unknown) => e));
    await server!.resume();
    await database.db.insertInto('ping').values({ id: 3 }).execute();
    assert.deepEqual(await database.db.selectFrom('ping').select('id').orderBy('id').execute(), [{ id: 1 }, { id: 3 }]);
  });

  test('server stops in the middle of a transaction: it is not committed, the caller gets 503, the pool recovers', async () => {
    const result = await database
      .transaction(async (trx) => {
        await trx.insertInto('ping').values({ id: 10 }).execute();
        await server!.pause(); // fast shutdown terminates this session (57P01)
        await trx.insertInto('ping').values({ id: 11 }).execute();
      })
      .catch((e: unknown) => e);
    assertUnavailable(result);
    await server!.resume();
    const ids = await database.db.selectFrom('ping').select('id').where('id', '>=', 10).execute();
    assert.deepEqual(ids, []);
    // Every pooled connection is usable again (none is left broken or inside a transaction).
    const counts = await Promise.all([1, 2, 3, 4].map(() => sql<{ n: number }>`select count(*) as n from ping`.execute(database.db)));
    assert.deepEqual(counts.map((r) => r.rows[0].n), [2, 2, 2, 2]);
  });
});
