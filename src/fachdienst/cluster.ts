// `erx serve fachdienst` with ERX_FACHDIENST_WORKERS=N: N stateless Fachdienst processes sharing one port
// (node:cluster; the primary accepts and hands connections round-robin) on one PostgreSQL. Every worker runs the
// normal service; the primary only supervises: it restarts a worker that died and runs the retention job once
// (not once per worker). All state is in PostgreSQL, so any worker may answer any request.
import cluster, { type Worker } from 'node:cluster';
import { ConfigError, type Config } from '../config.ts';
import type { Logger } from '../cli/service.ts';
import { openDatabase } from '../storage/database.ts';
import { startRetentionJob } from './retention.ts';

/** A worker tells the primary its URL once it listens. */
export interface WorkerReady {
  type: 'erx-fachdienst-ready';
  urls: string[];
}

export function isFachdienstWorker(): boolean {
  return cluster.isWorker;
}

/** PGlite is one process's embedded database: several workers need DATABASE_URL. */
export function checkWorkerConfig(config: Config): void {
  if (config.fachdienstWorkers > 1 && !config.databaseUrl) {
    throw new ConfigError(`ERX_FACHDIENST_WORKERS=${config.fachdienstWorkers} needs DATABASE_URL (PostgreSQL): the embedded PGlite serves one process`);
  }
}

export interface RunningCluster {
  /** The URL the workers answer at (the same for all). */
  urls: string[];
  workers(): number;
  stop(): Promise<void>;
}

/** Forks `config.fachdienstWorkers` workers running `erx serve fachdienst` and resolves once all listen. */
export async function startFachdienstCluster(config: Config, log: Logger): Promise<RunningCluster> {
  checkWorkerConfig(config);
  const count = config.fachdienstWorkers;
  let stopping = false;
  let urls: string[] = [];
  const live = new Set<Worker>();

  const fork = (): Promise<string[]> => new Promise((resolve, reject) => {
    const worker = cluster.fork();
    live.add(worker);
    let ready = false;
    worker.on('message', (message: WorkerReady) => {
      if (message?.type === 'erx-fachdienst-ready' && !ready) {
        ready = true;
        resolve(message.urls);
      }
    });
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      if (!ready) {
        reject(new Error(`fachdienst worker exited before it was ready (code ${code}, signal ${signal})`));
        return;
      }
      if (stopping) return;
      log.warn({ worker: worker.id, code, signal }, 'fachdienst worker died, starting a new one');
      fork().catch((err) => log.error({ err: String(err) }, 'fachdienst worker restart failed'));
    });
  });

  try {
    const answers = await Promise.all(Array.from({ length: count }, fork));
    urls = answers[0];
  } catch (err) {
    stopping = true;
    for (const w of live) w.kill('SIGTERM');
    throw err;
  }

  const database = await openDatabase({ databaseUrl: config.databaseUrl, migrate: false });
  const retention = startRetentionJob(database, {
    intervalSeconds: config.retentionIntervalSeconds,
    baseUrl: urls[0],
    onError: (err) => log.error({ err: String(err) }, 'fachdienst retention run failed'),
  });
  log.info({ workers: count, urls }, 'fachdienst cluster ready');
  return {
    urls,
    workers: () => live.size,
    async stop() {
      stopping = true;
      retention.stop();
      await Promise.all([...live].map((w) => new Promise<void>((resolve) => {
        w.once('exit', () => resolve());
        w.kill('SIGTERM');
      })));
      await database.close();
    },
  };
}

/** In a worker: tells the primary that the service listens at `urls`. */
export function announceWorkerReady(urls: string[]): void {
  if (!cluster.isWorker || !process.send) return;
  process.send({ type: 'erx-fachdienst-ready', urls } satisfies WorkerReady);
  // Primary gone (even by SIGKILL): shut down the normal way instead of serving on as an orphan.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
