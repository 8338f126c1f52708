// Kysely dialect for PGlite. PGlite is one connection, so the driver hands it out to one holder at a time: a
// transaction keeps it from BEGIN to COMMIT/ROLLBACK, and concurrent transactions queue instead of interleaving
// their statements in one session (which is how kysely-pglite loses isolation).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
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
  readonly release: () => void;

  constructor(pglite: PGlite, release: () => void) {
    this.#pglite = pglite;
    this.release = release;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // Without parameters use the simple protocol, which (like pg) accepts several statements, e.g. in migrations.
    const result = compiled.parameters.length
      ? await this.#pglite.query<R>(compiled.sql, [...compiled.parameters])
      : (await this.#pglite.exec(compiled.sql)).at(-1);
    if (!result) return { rows: [] };
    const changed = result.command && ['INSERT', 'UPDATE', 'DELETE', 'MERGE'].includes(result.command);
    return {
      rows: result.rows as R[],
      numAffectedRows: changed ? BigInt(result.rowCount ?? result.affectedRows ?? 0) : undefined,
    };
  }

  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on PGlite');
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

class PGliteDriver implements Driver {
  readonly #pglite: PGlite;
  readonly #onDestroy: () => void;
  /** Resolves when the current holder releases the connection; each acquirer chains onto it (a FIFO mutex). */
  #tail: Promise<void> = Promise.resolve();

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
    return new PGliteConnection(this.#pglite, release);
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
