// Kysely's PostgreSQL dialect on a pg Pool, with connection failures turned into the 503 FhirError. The pool heals
// itself: pg drops clients whose connection broke, and the next query opens a new one once the server is back.
//
// Statements run as named prepared statements (one per distinct SQL text, per connection): the server parses and
// plans a statement once per connection instead of on every execution, which was a large part of its CPU per
// request. Dynamic SQL (search filters, IN lists) adds texts; past MAX_NAMED distinct texts new ones run unnamed.
import pg from 'pg';
import {
  CompiledQuery,
  PostgresDialect,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { mapConnectionFailure, sqlState } from './errors.ts';
import { pgTypes } from './types.ts';

export function createPool(databaseUrl: string, poolSize = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: poolSize,
    types: pgTypes,
    // Fail fast instead of queueing requests forever when the server is down.
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
  });
  // A client whose server goes away (restart, failover) emits 'error'. Idle, the pool removes it and re-emits the
  // error on the pool; checked out between two statements, the next query on it fails ("not queryable", mapped to
  // 503) and the release drops it. Unhandled, either event would crash the process.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

export class PgDialect extends PostgresDialect {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    super({ pool });
    this.#pool = pool;
  }

  override createDriver(): Driver {
    return new PgDriver(this.#pool);
  }
}

/** Distinct SQL texts that get a statement name; the hot paths use a few dozen. */
const MAX_NAMED = 500;
const statementNames = new Map<string, string>();
/** Texts whose prepared form the server refused (a migration changed a `select *` result): run unnamed from then on. */
const unnamed = new Set<string>();

function statementName(text: string): string | undefined {
  if (unnamed.has(text)) return undefined;
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED) {
    name = `erx${statementNames.size}`;
    statementNames.set(text, name);
  }
  return name;
}

/** 0A000 "cached plan must not change result type": the table changed under a prepared statement. */
function isStalePlan(err: unknown): boolean {
  return sqlState(err) === '0A000' && /cached plan must not change result type/.test((err as Error).message ?? '');
}

class PgConnection implements DatabaseConnection {
  inTransaction = false;

  constructor(readonly client: pg.PoolClient) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const text = compiled.sql;
    const values = compiled.parameters as unknown[];
    // Parameterless statements (BEGIN, COMMIT, migrations with several statements) use the simple protocol.
    const name = values.length > 0 ? statementName(text) : undefined;
    let result: pg.QueryResult;
    try {
      result = await (name ? this.client.query({ name, text, values }) : this.client.query(text, values));
    } catch (err) {
      if (name && isStalePlan(err)) {
        unnamed.add(text);
        // Inside a transaction the error aborted it: the caller sees it (and retries as a whole, if it does).
        if (this.inTransaction) throw err;
        return this.executeQuery(compiled);
      }
      throw mapConnectionFailure(err);
    }
    const { command, rowCount, rows } = result;
    return {
      numAffectedRows: command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE'
        ? BigInt(rowCount ?? 0)
        : undefined,
      rows: (rows ?? []) as R[],
    };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported');
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

class PgDriver implements Driver {
  #pool: pg.Pool | undefined;
  readonly #connections = new WeakMap<pg.PoolClient, PgConnection>();

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (!this.#pool) throw new Error('driver has already been destroyed');
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw mapConnectionFailure(err);
    }
    let connection = this.#connections.get(client);
    if (!connection) {
      connection = new PgConnection(client);
      this.#connections.set(client, connection);
    }
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    let text = 'begin';
    if (settings.isolationLevel || settings.accessMode) {
      text = 'start transaction';
      if (settings.isolationLevel) text += ` isolation level ${settings.isolationLevel}`;
      if (settings.accessMode) text += ` ${settings.accessMode}`;
    }
    await connection.executeQuery(CompiledQuery.raw(text));
    (connection as PgConnection).inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    (connection as PgConnection).inTransaction = false;
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    (connection as PgConnection).inTransaction = false;
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdent(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdent(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdent(name)}`));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const c = connection as PgConnection;
    c.inTransaction = false;
    c.client.release();
  }

  async destroy(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end();
  }
}
