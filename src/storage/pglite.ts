// Kysely dialect for PGlite. PGlite is one connection, so the driver hands it out to one holder at a time: a
// transaction keeps it from BEGIN to COMMIT/ROLLBACK, and concurrent transactions queue instead of interleaving
// their statements in one session (which is how kysely-pglite loses isolation).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite, protocol, types } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { pgliteParsers } from './types.ts';

export class PGliteDialect implements Dialect {
  readonly #pglite: PGlite;
  readonly #onDestroy: () => void;

  constructor(pglite: PGlite, onDestroy: () => void = () => {}) {
    this.#pglite = pglite;
    this.#onDestroy = onDestroy;
  }

  createAdapter() {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.#pglite, this.#onDestroy);
  }

  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }

  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly #pglite: PGlite;
  readonly #statements: StatementCache;
  readonly release: () => void;

  constructor(pglite: PGlite, statements: StatementCache, release: () => void) {
    this.#pglite = pglite;
    this.#statements = statements;
    this.release = release;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (compiled.parameters.length === 0) {
      // The simple protocol, which (like pg) accepts several statements, e.g. in migrations. A schema change may
      // change what a prepared `select *` returns, so the prepared statements are dropped with it.
      if (SCHEMA_CHANGE.test(compiled.sql)) await this.#statements.clear(this.#pglite);
      const result = (await this.#pglite.exec(compiled.sql)).at(-1);
      if (!result) return { rows: [] };
      const changed = result.command && ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(result.command);
      return { rows: result.rows as R[], numAffectedRows: changed ? BigInt(result.affectedRows ?? 0) : undefined };
    }
    return this.#extendedQuery<R>(compiled.sql, compiled.parameters);
  }

  /**
   * Parse (first time only: named statement) + Bind + Describe + Execute + Sync in one message to PGlite. PGlite's
   * own query() makes six calls into the WASM module per statement (and a describe to learn parameter types);
   * this was a third of the practice's batch-signing CPU. Parameters go as text (bytea as binary), so Postgres
   * infers their types as it does for pg.
   */
  async #extendedQuery<R>(sql: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
    const { serialize } = protocol;
    if (this.#statements.full) await this.#statements.clear(this.#pglite);
    const known = this.#statements.get(sql);
    const name = known ?? this.#statements.nextName();
    const parts: Uint8Array[] = [];
    if (!known) parts.push(serialize.parse({ name, text: sql, types: [] }));
    parts.push(
      serialize.bind({ statement: name, values: parameters.map(toParameter) }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    );
    const { messages } = await this.#pglite.execProtocol(Buffer.concat(parts), { throwOnError: false });
    // The instance's parsers: ours from the constructor, plus array types PGlite read from the catalog.
    const { parsers } = this.#pglite;
    let fields: { name: string; dataTypeID: number }[] = [];
    const rows: Record<string, unknown>[] = [];
    let command = '';
    let error: unknown;
    for (const message of messages) {
      switch (message.name) {
        case 'parseComplete':
          this.#statements.set(sql, name);
          break;
        case 'rowDescription':
          fields = (message as unknown as { fields: { name: string; dataTypeID: number }[] }).fields;
          break;
        case 'dataRow': {
          const values = (message as unknown as { fields: (string | null)[] }).fields;
          const row: Record<string, unknown> = {};
          for (let i = 0; i < fields.length; i++) row[fields[i].name] = types.parseType(values[i], fields[i].dataTypeID, parsers);
          rows.push(row);
          break;
        }
        case 'commandComplete':
          command = (message as unknown as { text: string }).text;
          break;
        case 'error':
          error ??= message;
          break;
      }
    }
    if (error) throw error;
    const verb = command.slice(0, command.indexOf(' '));
    const changed = verb === 'INSERT' || verb === 'UPDATE' || verb === 'DELETE' || verb === 'MERGE';
    return { rows: rows as R[], numAffectedRows: changed ? BigInt(command.slice(command.lastIndexOf(' ') + 1)) : undefined };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on PGlite');
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

const SCHEMA_CHANGE = /^\s*(alter|create|drop|comment|truncate)\b/im;
const STATEMENT_CACHE_SIZE = 500;

/** Prepared statements of the one PGlite session, by SQL text; a full cache is emptied (DEALLOCATE ALL), not evicted one by one. */
class StatementCache {
  #byText = new Map<string, string>();
  #counter = 0;

  get full(): boolean {
    return this.#byText.size >= STATEMENT_CACHE_SIZE;
  }

  get(sql: string): string | undefined {
    return this.#byText.get(sql);
  }

  nextName(): string {
    return `erx_${++this.#counter}`;
  }

  set(sql: string, name: string) {
    this.#byText.set(sql, name);
  }

  async clear(pglite: PGlite) {
    if (this.#byText.size === 0) return;
    this.#byText.clear();
    await pglite.exec('deallocate all');
  }
}

/** A query parameter as the protocol carries it: text, or binary for bytea. */
function toParameter(value: unknown): string | Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return arrayLiteral(value);
  return JSON.stringify(value);
}

function arrayLiteral(values: unknown[]): string {
  return `{${values.map((v) => {
    if (v === null || v === undefined) return 'NULL';
    if (Array.isArray(v)) return arrayLiteral(v);
    const text = v instanceof Uint8Array ? `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}` : (toParameter(v) as string);
    return `"${text.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  }).join(',')}}`;
}

class PGliteDriver implements Driver {
  readonly #pglite: PGlite;
  readonly #onDestroy: () => void;
  /** Resolves when the current holder releases the connection; each acquirer chains onto it (a FIFO mutex). */
  #tail: Promise<void> = Promise.resolve();
  readonly #statements = new StatementCache();

  constructor(pglite: PGlite, onDestroy: () => void) {
    this.#pglite = pglite;
    this.#onDestroy = onDestroy;
  }

  async init() {}

  async acquireConnection(): Promise<DatabaseConnection> {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const previous = this.#tail;
    this.#tail = previous.then(() => released);
    await previous;
    return new PGliteConnection(this.#pglite, this.#statements, release);
  }

  async releaseConnection(connection: DatabaseConnection) {
    (connection as PGliteConnection).release();
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    let statement = 'start transaction';
    if (settings.isolationLevel) statement += ` isolation level ${settings.isolationLevel}`;
    if (settings.accessMode) statement += ` ${settings.accessMode}`;
    await connection.executeQuery(CompiledQuery.raw(statement));
  }

  async commitTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection) {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string) {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdent(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string) {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdent(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string) {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdent(name)}`));
  }

  async destroy() {
    // Wait for the current holder and everyone queued, then close.
    const connection = (await this.acquireConnection()) as PGliteConnection;
    try {
      if (!this.#pglite.closed) await this.#pglite.close();
    } finally {
      connection.release();
      this.#onDestroy();
    }
  }
}

export function isMemoryDataDir(dataDir: string): boolean {
  return dataDir === ':memory:' || dataDir.startsWith('memory://');
}

/**
 * Opens PGlite on `dir` (created if missing; the first start runs initdb, ~4 s) or in memory for ':memory:' /
 * 'memory://'. PGlite's default durability stays on. A lock file keeps a second process off the same directory,
 * since PGlite has no multi-process access and would corrupt it; use DATABASE_URL to run several processes.
 */
export async function openPGlite(dir: string): Promise<{ pglite: PGlite; unlock: () => void }> {
  if (isMemoryDataDir(dir)) {
    return { pglite: await PGlite.create({ loadDataDir: await memoryTemplate(), parsers: pgliteParsers }), unlock: () => {} };
  }
  mkdirSync(dir, { recursive: true });
  const unlock = lockDirectory(dir);
  try {
    return { pglite: await PGlite.create(dir, { parsers: pgliteParsers }), unlock };
  } catch (err) {
    unlock();
    throw err;
  }
}

function lockDirectory(dir: string): () => void {
  const lockFile = join(dir, 'erx.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(lockFile, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(lockFile, 'utf8'));
      if (pid && pid !== process.pid && processAlive(pid)) {
        throw new Error(`PGlite data directory ${dir} is in use by process ${pid}; stop it, or use DATABASE_URL (PostgreSQL) to run several processes`);
      }
      if (pid === process.pid) throw new Error(`PGlite data directory ${dir} is already open in this process`);
      rmSync(lockFile, { force: true }); // left behind by a process that died
    }
  }
  throw new Error(`could not lock PGlite data directory ${dir}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// An in-memory PGlite also runs initdb (2.5–4 s). A dump of a fresh cluster loads in ~0.5 s, so it is made once and
// cached in the temp directory per PGlite version (tests open many in-memory databases, each file in its own process).
let template: Promise<Blob> | undefined;

function memoryTemplate(): Promise<Blob> {
  template ??= loadOrCreateTemplate();
  return template;
}

async function loadOrCreateTemplate(): Promise<Blob> {
  const require = createRequire(import.meta.url);
  const packageJson = join(dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json');
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  const file = join(tmpdir(), `erx-pglite-template-${version}-${process.getuid?.() ?? 0}.tar`);
  if (existsSync(file)) return new Blob([readFileSync(file)]);
  const fresh = await PGlite.create();
  const dump = await fresh.dumpDataDir('none');
  await fresh.close();
  const bytes = new Uint8Array(await dump.arrayBuffer());
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, bytes);
  renameSync(partial, file); // atomic: a concurrent reader sees the whole file or none
  return new Blob([bytes]);
}
