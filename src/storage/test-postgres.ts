// Test support: a throw-away PostgreSQL cluster (initdb + pg_ctl on a free port in a temp dir) and forEachEngine(),
// which runs a describe() block once on in-memory PGlite and once on PostgreSQL (skipped with a clear line when
// no postgres binary is installed).
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe } from 'node:test';
import { openDatabase, type Database, type OpenOptions } from './database.ts';

export const POSTGRES_SKIP_REASON = "postgres: no postgres binary found (install Debian's postgresql package)";

export interface TestPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication). */
  url: string;
  /** The same server through its Unix socket (`?host=<dir>`): what a co-located deployment uses. */
  socketUrl: string;
  port: number;
  /** Stops the server, keeping its data (to test what clients see while the database is down). */
  pause(): Promise<void>;
  /** Starts it again on the same port and data directory. */
  resume(): Promise<void>;
  /** Stops the server and removes everything. */
  stop(): Promise<void>;
}

/** Directory holding initdb, pg_ctl and postgres: from PATH, else the newest /usr/lib/postgresql/<n>/bin. */
export function findPostgresBin(): string | undefined {
  const hasAll = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((name) => existsSync(join(dir, name)));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    // initdb finds postgres next to its real path; /usr/local/bin often holds symlinks into the versioned dir.
    if (dir && hasAll(dir)) return dirname(realpathSync(join(dir, 'initdb')));
  }
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    if (hasAll(join(base, version, 'bin'))) return join(base, version, 'bin');
  }
  return undefined;
}

/** initdb refuses to run as root: then the cluster belongs to a system user `erxtest` (created if missing) or `nobody`. */
function clusterOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = (name: string) => {
    const ids = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gids = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    return ids.status === 0 && gids.status === 0 ? { uid: Number(ids.stdout), gid: Number(gids.stdout) } : undefined;
  };
  let owner = lookup('erxtest');
  if (!owner) {
    // Two test processes may race here; the loser's useradd fails and the lookup after it finds the user anyway.
    spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'erxtest'], { stdio: 'ignore' });
    owner = lookup('erxtest') ?? lookup('nobody');
  }
  if (!owner) throw new Error('running as root, but neither user erxtest (useradd failed) nor nobody exists for initdb');
  return owner;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const running = new Set<() => void>();
// A test process that dies without its after() hook must not leave a postgres server behind.
process.on('exit', () => {
  for (const kill of running) kill();
});

export interface TestPostgresOptions {
  /**
   * Durable commits as in production (fsync, full_page_writes, synchronous_commit on): for benchmarks, whose
   * figures must include the WAL flush of every commit. Default off: a throw-away test cluster needs no durability.
   */
  durable?: boolean;
  /** Further server settings (`-c name=value`), e.g. shared_buffers. */
  settings?: Record<string, string>;
}

/** Starts a fresh cluster (about 1 s), or returns undefined when PostgreSQL is not installed. */
export async function startTestPostgres(options: TestPostgresOptions = {}): Promise<TestPostgres | undefined> {
  const bin = findPostgresBin();
  if (!bin) return undefined;
  const owner = clusterOwner();
  const root = mkdtempSync(join(tmpdir(), 'erx-pg-'));
  if (owner) {
    chownSync(root, owner.uid, owner.gid);
    chmodSync(root, 0o700);
  }
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const port = await freePort();
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };
  const run = (tool: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      execFile(join(bin, tool), args, { env, cwd: root, ...owner }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${tool} failed: ${stderr || stdout || err.message}`));
        else resolve();
      });
    });
  const durability = options.durable ? '' : ' -c fsync=off -c full_page_writes=off -c synchronous_commit=off';
  const extra = Object.entries(options.settings ?? {}).map(([name, value]) => ` -c ${name}=${value}`).join('');
  const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -k ${root}${durability}${extra}`;
  const start = () => run('pg_ctl', ['start', '-w', '-t', '30', '-D', dataDir, '-l', logFile, '-o', serverOptions]);
  const halt = (mode: 'fast' | 'immediate') => run('pg_ctl', ['stop', '-w', '-m', mode, '-D', dataDir]);
  const killNow = () => {
    try {
      execFileSync(join(bin, 'pg_ctl'), ['stop', '-m', 'immediate', '-D', dataDir], { env, ...owner, stdio: 'ignore' });
    } catch {
      // not running
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await run('initdb', ['--no-sync', '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '-D', dataDir]);
    await start();
  } catch (err) {
    killNow();
    throw err;
  }
  running.add(killNow);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    socketUrl: `postgres://postgres@/postgres?host=${encodeURIComponent(root)}&port=${port}`,
    port,
    pause: () => halt('fast'),
    resume: start,
    async stop() {
      running.delete(killNow);
      await halt('immediate').catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `body` as two describe() blocks, `<name> [pglite]` on a fresh in-memory PGlite and `<name> [postgres]` on a
 * fresh throw-away cluster, each with migrations applied. `getDb()` is valid inside tests and hooks of the body.
 */
export function forEachEngine(
  name: string,
  body: (getDb: () => Database) => void,
  options: Pick<OpenOptions, 'migrate' | 'poolSize'> = {},
): void {
  describe(`${name} [pglite]`, () => {
    let database: Database | undefined;
    before(async () => {
      database = await openDatabase({ ...options, dataDir: ':memory:' });
    });
    after(async () => {
      await database?.close();
    });
    body(() => database ?? fail('the PGlite database is not open (use getDb() inside a test or hook)'));
  });
  const skip = findPostgresBin() ? false : POSTGRES_SKIP_REASON;
  describe(`${name} [postgres]`, { skip }, () => {
    let server: TestPostgres | undefined;
    let database: Database | undefined;
    before(async () => {
      server = await startTestPostgres();
      if (!server) throw new Error(POSTGRES_SKIP_REASON);
      database = await openDatabase({ ...options, databaseUrl: server.url });
    });
    after(async () => {
      await database?.close();
      await server?.stop();
    });
    body(() => database ?? fail('the PostgreSQL database is not open (use getDb() inside a test or hook)'));
  });
}

function fail(message: string): never {
  throw new Error(message);
}
