// Kysely's PostgreSQL dialect on a pg Pool, with connection failures turned into the 503 FhirError. The pool heals
// itself: pg drops clients whose connection broke, and the next query opens a new one once the server is back.
import pg from 'pg';
import {
  PostgresDialect,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { mapConnectionFailure } from './errors.ts';
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
  constructor(pool: pg.Pool) {
    super({ pool });
  }

  override createDriver(): Driver {
    return new TransientMappingDriver(super.createDriver());
  }
}

class MappedConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(compiled);
    } catch (err) {
      throw mapConnectionFailure(err);
    }
  }

  streamQuery<R>(compiled: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(compiled, chunkSize);
  }
}

/** Wraps kysely's PostgresDriver; its transaction statements run through MappedConnection, so they map too. */
class TransientMappingDriver implements Driver {
  constructor(private readonly inner: Driver) {}

  init() {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    try {
      return new MappedConnection(await this.inner.acquireConnection());
    } catch (err) {
      throw mapConnectionFailure(err);
    }
  }

  releaseConnection(connection: DatabaseConnection) {
    return this.inner.releaseConnection((connection as MappedConnection).inner);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    return this.inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection) {
    return this.inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection) {
    return this.inner.rollbackTransaction(connection);
  }

  savepoint(...args: Parameters<NonNullable<Driver['savepoint']>>) {
    return this.inner.savepoint!(...args);
  }

  rollbackToSavepoint(...args: Parameters<NonNullable<Driver['rollbackToSavepoint']>>) {
    return this.inner.rollbackToSavepoint!(...args);
  }

  releaseSavepoint(...args: Parameters<NonNullable<Driver['releaseSavepoint']>>) {
    return this.inner.releaseSavepoint!(...args);
  }

  destroy() {
    return this.inner.destroy();
  }
}
