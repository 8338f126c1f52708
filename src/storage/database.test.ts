import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql, type Generated, type Kysely } from 'kysely';
import { isSerializationFailure, isUniqueViolation } from './database.ts';
import { registerMigrations } from './migrations.ts';
import { forEachEngine } from './test-postgres.ts';

interface Tables {
  notes: { id: string; body: string; n: Generated<number> };
}

registerMigrations([
  {
    name: '900_test_notes',
    async up(db) {
      await db.schema
        .createTable('notes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('n', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
]);

forEachEngine('database', (getDb) => {
  const notes = () => getDb().db as Kysely<Tables>;

  test('transaction commits when fn resolves and returns its value', async () => {
    const result = await getDb().transaction(async (trx) => {
      await trx.insertInto('notes').values({ id: 'commit-1', body: 'a' }).execute();
      await trx.insertInto('notes').values({ id: 'commit-2', body: 'b' }).execute();
      return 'done';
    });
    assert.equal(result, 'done');
    const rows = await notes().selectFrom('notes').select('id').where('id', 'like', 'commit-%').orderBy('id').execute();
    assert.deepEqual(rows, [{ id: 'commit-1' }, { id: 'commit-2' }]);
  });

  test('transaction rolls back when fn throws and rethrows the same error', async () => {
    const failure = new Error('business rule');
    const thrown = await getDb()
      .transaction(async (trx) => {
        await trx.insertInto('notes').values({ id: 'rollback-1', body: 'a' }).execute();
        throw failure;
      })
      .catch((err: unknown) => err);
    assert.equal(thrown, failure);
    const row = await notes().selectFrom('notes').select('id').where('id', '=', 'rollback-1').executeTakeFirst();
    assert.equal(row, undefined);
  });

  test('a failed statement aborts the transaction; later work on the database is unaffected', async () => {
    await notes().insertInto('notes').values({ id: 'dup', body: 'first' }).execute();
    const err = await getDb()
      .transaction(async (trx) => {
        await trx.insertInto('notes').values({ id: 'after-dup', body: 'x' }).execute();
        await trx.insertInto('notes').values({ id: 'dup', body: 'second' }).execute();
      })
      .catch((e: unknown) => e);
    assert.equal(isUniqueViolation(err), true);
    assert.equal(isSerializationFailure(err), false);
    const ids = await notes().selectFrom('notes').select('id').where('id', 'in', ['dup', 'after-dup']).execute();
    assert.deepEqual(ids, [{ id: 'dup' }]);
  });

  test('isUniqueViolation tells a duplicate key from other errors', async () => {
    await notes().insertInto('notes').values({ id: 'uniq', body: 'x' }).execute();
    const duplicate = await notes().insertInto('notes').values({ id: 'uniq', body: 'y' }).execute().catch((e: unknown) => e);
    assert.equal(isUniqueViolation(duplicate), true);
    const notNull = await sql`insert into notes (id, body) values ('nn', null)`.execute(getDb().db).catch((e: unknown) => e);
    assert.ok(notNull instanceof Error);
    assert.equal(isUniqueViolation(notNull), false);
  });

  test('affected row counts are reported for update and delete', async () => {
    await notes().insertInto('notes').values([{ id: 'cnt-1', body: 'a' }, { id: 'cnt-2', body: 'b' }]).execute();
    const updated = await notes().updateTable('notes').set({ n: 7 }).where('id', 'like', 'cnt-%').executeTakeFirst();
    assert.equal(updated.numUpdatedRows, 2n);
    const deleted = await notes().deleteFrom('notes').where('id', '=', 'cnt-1').executeTakeFirst();
    assert.equal(deleted.numDeletedRows, 1n);
  });

  test('several statements without parameters run in one call', async () => {
    await sql`insert into notes (id, body) values ('multi-1', 'a'); insert into notes (id, body) values ('multi-2', 'b')`.execute(getDb().db);
    const rows = await notes().selectFrom('notes').select('id').where('id', 'like', 'multi-%').execute();
    assert.equal(rows.length, 2);
  });

  test('both engines return the same JS value types', async () => {
    const { rows } = await sql<Record<string, unknown>>`select 9007199254740991::int8 as big, count(*) as cnt, 1.50::numeric as num,
      '2024-01-02'::date as d, '2024-01-02 10:00:00'::timestamp as ts, '2024-01-02 10:00:00+01'::timestamptz as tz,
      '{"a":[1,2]}'::jsonb as j, '\\x0a0b'::bytea as b, array[1,2]::int8[] as arr, true as flag
      from notes where id = 'none'`.execute(getDb().db);
    assert.deepEqual(rows[0], {
      big: 9007199254740991,
      cnt: 0,
      num: '1.50',
      d: '2024-01-02',
      ts: '2024-01-02 10:00:00',
      tz: new Date('2024-01-02T09:00:00.000Z'),
      j: { a: [1, 2] },
      b: Buffer.from([10, 11]),
      arr: [1, 2],
      flag: true,
    });
  });

  test('parameters: jsonb objects, Dates and Buffers round-trip', async () => {
    const when = new Date('2025-03-04T05:06:07.089Z');
    const { rows } = await sql<Record<string, unknown>>`select ${JSON.stringify({ k: ['v'] })}::jsonb as j, ${when}::timestamptz as t,
      ${Buffer.from('hi')}::bytea as b`.execute(getDb().db);
    assert.deepEqual(rows[0], { j: { k: ['v'] }, t: when, b: Buffer.from('hi') });
  });

  test('parameters: booleans, numbers, arrays, a bytea with every byte value and a Buffer slice', async () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const slice = Buffer.from('xxhixx').subarray(2, 4);
    const { rows } = await sql<Record<string, unknown>>`select ${true}::boolean as yes, ${42}::int4 as n, ${['a', 'b"c', null]}::text[] as list,
      ${every}::bytea as every, ${slice}::bytea as slice`.execute(getDb().db);
    assert.deepEqual(rows[0], { yes: true, n: 42, list: ['a', 'b"c', null], every, slice: Buffer.from('hi') });
  });

  test('a repeated statement keeps working after it failed once and after the table changed', async () => {
    const insert = (id: string) => notes().insertInto('notes').values({ id, body: 'x' }).execute();
    await insert('repeat-1');
    await assert.rejects(insert('repeat-1'), (err) => isUniqueViolation(err));
    await insert('repeat-2');
    const select = () => sql<Record<string, unknown>>`select * from notes where id = ${'repeat-1'}`.execute(getDb().db);
    assert.deepEqual(Object.keys((await select()).rows[0]).sort(), ['body', 'id', 'n']);
    await sql`alter table notes add column extra text`.execute(getDb().db);
    try {
      assert.deepEqual(Object.keys((await select()).rows[0]).sort(), ['body', 'extra', 'id', 'n']);
    } finally {
      await sql`alter table notes drop column extra`.execute(getDb().db);
    }
  });

  test('the number of changed rows is reported for update and delete', async () => {
    await notes().insertInto('notes').values([{ id: 'count-1', body: 'a' }, { id: 'count-2', body: 'b' }]).execute();
    const updated = await notes().updateTable('notes').set({ n: 1 }).where('id', 'like', 'count-%').executeTakeFirst();
    assert.equal(updated.numUpdatedRows, 2n);
    const deleted = await notes().deleteFrom('notes').where('id', '=', 'count-1').executeTakeFirst();
    assert.equal(deleted.numDeletedRows, 1n);
  });

  test('more distinct statements than are kept prepared all run, and the prepared ones stay bounded', async () => {
    for (let i = 0; i < 1200; i++) {
      const { rows } = await sql<{ n: number }>`select ${i}::int4 + ${sql.raw(String(i))} as n`.execute(getDb().db);
      assert.equal(rows[0]!.n, 2 * i);
    }
    const { rows } = await sql<{ prepared: number }>`select count(*)::int4 as prepared from pg_prepared_statements where ${1}::int4 = 1`.execute(getDb().db);
    assert.ok(rows[0]!.prepared <= 501, `${rows[0]!.prepared} prepared statements`);
  });
});
