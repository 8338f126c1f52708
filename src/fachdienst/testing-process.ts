// The Fachdienst as a real child process (`erx serve fachdienst`, optionally with workers) next to an in-process
// IDP on one data directory: what crash tests (SIGKILL) and the throughput benchmark drive over HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { startServices } from '../cli/erx.ts';
import type { Logger } from '../cli/service.ts';
import { loadOrCreatePki, type LoadedPki } from '../crypto/pki.ts';
import { idpService } from '../idp/service.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const silent: Logger = { info() {}, warn() {}, error() {} };

export interface Idp {
  url: string;
  pki: LoadedPki;
  /** An access token of a seeded identity (`POST /dev/token`). */
  token(identityId: string): Promise<string>;
  stop(): Promise<void>;
}

/** The simulated IDP on a free port in this process; creates the PKI in `${dataDir}/pki` when missing. */
export async function startIdp(dataDir: string): Promise<Idp> {
  const config = loadConfig({ ERX_DATA_DIR: dataDir, ERX_IDP_PORT: '0', ERX_DEV: '1', ERX_LOG_LEVEL: 'silent' });
  const platform = await startServices(config, [idpService], silent);
  const url = platform.running[0].urls[0].replace('//localhost:', '//127.0.0.1:');
  const pki = await loadOrCreatePki(join(dataDir, 'pki'), { curve: config.pkiCurve });
  return {
    url,
    pki,
    async token(id) {
      const res = await fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
      if (!res.ok) throw new Error(`dev token for ${id}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { access_token: string }).access_token;
    },
    stop: () => platform.stop(),
  };
}

export interface FachdienstProcessOptions {
  dataDir: string;
  idpUrl: string;
  /** PostgreSQL; without it the child uses PGlite files in `${dataDir}/pglite`. */
  databaseUrl?: string;
  workers?: number;
  /** Requests per minute per token (default 0 = off). */
  rateLimit?: number;
  logLevel?: string;
  /** Fixed port (a restart keeps the URL); default a free one. */
  port?: number;
  /** Extra node options, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/p'] to profile the Fachdienst. */
  nodeOptions?: string[];
  /** Another checkout to run the Fachdienst from (comparing two versions in one benchmark run); default this one. */
  root?: string;
}

export interface FachdienstProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the process wrote (stdout and stderr). */
  output(): string;
  /** SIGTERM and wait (a graceful stop). */
  stop(): Promise<void>;
}

/** Starts `erx serve fachdienst` and resolves once it printed its URL. */
export async function startFachdienstProcess(options: FachdienstProcessOptions): Promise<FachdienstProcess> {
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    ERX_DATA_DIR: options.dataDir,
    ERX_IDP_URL: options.idpUrl,
    ERX_FACHDIENST_PORT: String(options.port ?? 0),
    ERX_FACHDIENST_WORKERS: String(options.workers ?? 1),
    ERX_RATE_LIMIT: String(options.rateLimit ?? 0),
    ERX_RETENTION_INTERVAL: '0',
    ERX_LOG_LEVEL: options.logLevel ?? 'warn',
  };
  delete env.DATABASE_URL;
  delete env.ERX_TEST;
  delete env.NODE_TEST_CONTEXT; // the child is a server, not a test file reporting to a runner
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  const root = options.root ?? ROOT;
  const child = spawn(process.execPath, [...(options.nodeOptions ?? []), join(root, 'bin/erx.mjs'), 'serve', 'fachdienst'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      // the banner line: "  fachdienst  http://localhost:8080" (or "fachdienst (2 workers) …")
      const m = /^\s+fachdienst[^\n]*?(http:\/\/\S+)/m.exec(output);
      if (m) resolve(m[1].replace('//localhost:', '//127.0.0.1:'));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    exited.then(({ code, signal }) => reject(new Error(`fachdienst exited before it was ready (code ${code}, signal ${signal}):\n${output.slice(-2000)}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    child,
    exited,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
