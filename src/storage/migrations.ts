// Versioned schema migrations, applied at start in name order. Each runs in its own transaction together with its
// row in `migrations`, under a transaction-scoped advisory lock, so processes starting at once apply each exactly once.
import { sql, type Kysely } from 'kysely';
import { migrations as featureMigrations } from './migrations/index.ts';

export interface Migration {
  /** Sortable and unique, prefixed by the owning feature's range: '100_fachdienst_tasks', '200_practice_requests'… */
  name: string;
  /** Runs inside the migration's transaction; a throw rolls the whole migration back. */
  up(db: Kysely<any>): Promise<void>;
}

const registered: Migration[] = [];

/** Adds migrations beyond those listed in migrations/index.ts (tests, optional modules). Call before openDatabase. */
export function registerMigrations(list: Migration[]): void {
  registered.push(...list);
}

// Arbitrary constant shared by all processes of this application ("erx-migrate").
const MIGRATION_LOCK = 0x6572_782d_6d69_67n;

async function lock(trx: Kysely<any>) {
  await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK.toString())}::bigint)`.execute(trx);
}

function inNameOrder(migrations: Migration[]): Migration[] {
  const list = [...migrations].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < list.length; i++) {
    if (list[i].name === list[i - 1].name) throw new Error(`migration name ${list[i].name} is used twice`);
  }
  return list;
}

/**
 * Applies the pending migrations in name order and returns the names it applied (empty when up to date).
 * `migrations` defaults to those in migrations/index.ts plus the registered ones; tests may pass their own list.
 */
export async function migrate(db: Kysely<any>, migrations: Migration[] = [...featureMigrations, ...registered]): Promise<string[]> {
  const list = inNameOrder(migrations);
  await db.transaction().execute(async (trx) => {
    await lock(trx);
    await sql`create table if not exists migrations (
      name text primary key,
      applied_at timestamptz not null default now()
    )`.execute(trx);
  });
  const done = new Set((await db.selectFrom('migrations').select('name').execute()).map((row) => row.name as string));
  const applied: string[] = [];
  for (const migration of list) {
    if (done.has(migration.name)) continue;
    const ran = await db.transaction().execute(async (trx) => {
      await lock(trx);
      // Another process may have applied it while we waited for the lock.
      const already = await trx.selectFrom('migrations').select('name').where('name', '=', migration.name).executeTakeFirst();
      if (already) return false;
      await migration.up(trx);
      await trx.insertInto('migrations').values({ name: migration.name }).execute();
      return true;
    });
    if (ran) applied.push(migration.name);
  }
  return applied;
}
