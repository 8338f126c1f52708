// The one entry point to storage: embedded PGlite by default, PostgreSQL when a URL is given. Same kysely API,
// same migrations, same value types (types.ts) on both.
import { join } from 'node:path';
import { Kysely, type Transaction } from 'kysely';
import { migrate } from './migrations.ts';
import { isMemoryDataDir, openPGlite, PGliteDialect } from './pglite.ts';
import { createPool, PgDialect } from './postgres.ts';

export { isUniqueViolation, isSerializationFailure, isConnectionFailure } from './errors.ts';

export interface Database {
  /** Feature modules declare their own table interfaces and cast: `db as Kysely<MyTables>`. */
  db: Kysely<any>;
  engine: 'pglite' | 'postgres';
  /**
   * Runs fn in one transaction; commits when fn resolves, rolls back when it throws (error rethrown unchanged).
   * Inside fn use only `trx`: on PGlite `db` waits for the transaction to end, so using it there never returns.
   */
  transaction<T>(fn: (trx: Transaction<any>) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** The application's data directory (config.dataDir); PGlite keeps its files in `${dataDir}/pglite`.
   *  ':memory:' or 'memory://…' opens a throw-away in-memory database (tests). */
  dataDir?: string;
  /** postgres:// URL (config.databaseUrl); when set, PostgreSQL is used and dataDir is ignored. */
  databaseUrl?: string;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** Pool size for PostgreSQL (default 10). */
  poolSize?: number;
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  let db: Kysely<any>;
  let engine: Database['engine'];
  if (options.databaseUrl) {
    engine = 'postgres';
    db = new Kysely<any>({ dialect: new PgDialect(createPool(options.databaseUrl, options.poolSize)) });
  } else if (options.dataDir) {
    engine = 'pglite';
    const dir = isMemoryDataDir(options.dataDir) ? options.dataDir : join(options.dataDir, 'pglite');
    const { pglite, unlock } = await openPGlite(dir);
    db = new Kysely<any>({ dialect: new PGliteDialect(pglite, unlock) });
  } else {
    throw new Error('openDatabase needs a dataDir (embedded PGlite) or a databaseUrl (PostgreSQL)');
  }
  try {
    if (options.migrate !== false) await migrate(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return {
    db,
    engine,
    transaction: (fn) => runTransaction(db, fn),
    close: () => db.destroy(),
  };
}

async function runTransaction<T>(db: Kysely<any>, fn: (trx: Transaction<any>) => Promise<T>): Promise<T> {
  // kysely rethrows the ROLLBACK's error if the rollback itself fails (e.g. the connection is gone);
  // the caller should see what fn threw.
  let thrown: { error: unknown } | undefined;
  try {
    return await db.transaction().execute(async (trx) => {
      try {
        return await fn(trx);
      } catch (error) {
        thrown = { error };
        throw error;
      }
    });
  } catch (error) {
    throw thrown ? thrown.error : error;
  }
}
