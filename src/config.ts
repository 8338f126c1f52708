// The one place that reads the environment. Validated at start; a bad value stops the start with a clear message.
import { resolve } from 'node:path';

export const SERVICE_PORTS = {
  fachdienst: 8080,
  practice: 29221,
  idp: 8081,
  konnektor: 8082,
  vzd: 8083,
  vzd_ldap: 3389,
  kim_smtp: 2525,
  kim_pop3: 2110,
  web: 8090,
} as const;

export type PortName = keyof typeof SERVICE_PORTS;
/** HTTP services, whose base URL other services and clients use. */
export type HttpService = 'fachdienst' | 'practice' | 'idp' | 'konnektor' | 'vzd' | 'web';
export const HTTP_SERVICES: HttpService[] = ['fachdienst', 'practice', 'idp', 'konnektor', 'vzd', 'web'];

export interface Config {
  /** Dev mode: `/dev/identities`, `/dev/token`, the simulated terminal enters PINs. Default on; ERX_DEV=0 turns it off. */
  dev: boolean;
  /** Demo prescriptions on the first `erx start` of a data directory (ERX_DEMO, default: on in dev mode). */
  demo: boolean;
  /** ERX_PIN_PROMPT=1: the physician confirms the HBA PIN in the practice UI. */
  pinPrompt: boolean;
  dataDir: string;
  /** PostgreSQL connection string; absent means embedded PGlite in `${dataDir}/pglite`. */
  databaseUrl?: string;
  /** Interface the servers bind to (ERX_HOST, default 127.0.0.1). */
  host: string;
  ports: Record<PortName, number>;
  /** Base URL each HTTP service is reached at (ERX_<SERVICE>_URL, default http://localhost:<port>). */
  urls: Record<HttpService, string>;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Fachdienst processes started by `erx serve fachdienst` (ERX_FACHDIENST_WORKERS). */
  fachdienstWorkers: number;
  /** How often the retention job runs, in seconds (ERX_RETENTION_INTERVAL, 0 = never). */
  retentionIntervalSeconds: number;
  /** Requests per minute per access token before 429 (ERX_RATE_LIMIT, 0 = off). */
  rateLimitPerMinute: number;
  /** Curve of a newly created test PKI (ERX_PKI_CURVE): brainpool as in the TI (BP256R1 tokens), or P-256 (ES256). */
  pkiCurve: 'brainpoolP256r1' | 'P-256';
  /**
   * Key of the VSDM Prüfziffer, shared by the Konnektor's ReadVSD (which makes it) and the Fachdienst (which checks it
   * on GET /Task?kvnr&hcv&pnw): ERX_VSDM_KEY, base64 of 32 bytes. Unset: in dev mode derived from the test PKI's eGK
   * CA key (same for all services of one data directory), otherwise none (ReadVSD gives result 3, the Fachdienst refuses).
   */
  vsdmKey?: Buffer;
  /** ERX_ACCEPT_PN3=1: the Fachdienst accepts a Prüfungsnachweis with result 3 (TI outage) and answers 202. */
  acceptPn3: boolean;
  /** ERX_EGK_FAILURES_PER_DAY: eGK look-ups with a wrong KVNR/hcv a pharmacy may make per day before 423 (default 50). */
  egkFailuresPerDay: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function envKey(name: string): string {
  return `ERX_${name.toUpperCase()}_PORT`;
}

function parseBool(env: Env, key: string, fallback: boolean): boolean {
  const v = env[key];
  if (v === undefined || v === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(v.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(v.toLowerCase())) return false;
  throw new ConfigError(`${key}=${v} is not a boolean (use 1 or 0)`);
}

function parseInteger(env: Env, key: string, fallback: number, min: number, max: number): number {
  const v = env[key];
  if (v === undefined || v === '') return fallback;
  if (!/^\d+$/.test(v)) throw new ConfigError(`${key}=${v} is not a whole number`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(`${key}=${v} is out of range (${min}..${max})`);
  return n;
}

function parseUrl(env: Env, key: string, fallback: string): string {
  const v = env[key];
  if (v === undefined || v === '') return fallback;
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError(`${key}=${v} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${key}=${v} must be http or https`);
  return v.replace(/\/+$/, '');
}

export function loadConfig(env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const dev = parseBool(env, 'ERX_DEV', !production);
  const ports = {} as Record<PortName, number>;
  for (const [name, port] of Object.entries(SERVICE_PORTS) as [PortName, number][]) {
    // Port 0 asks the OS for a free port (tests).
    ports[name] = parseInteger(env, envKey(name), port, 0, 65535);
  }
  const urls = {} as Record<HttpService, string>;
  for (const name of HTTP_SERVICES) {
    urls[name] = parseUrl(env, `ERX_${name.toUpperCase()}_URL`, `http://localhost:${ports[name]}`);
  }
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(`DATABASE_URL must start with postgres:// or postgresql:// (got ${databaseUrl.split(':')[0]}:…)`);
  }
  const logLevel = (env.ERX_LOG_LEVEL || 'info') as Config['logLevel'];
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`ERX_LOG_LEVEL=${logLevel} is not one of fatal, error, warn, info, debug, trace, silent`);
  }
  const pkiCurve = (env.ERX_PKI_CURVE || 'brainpoolP256r1') as Config['pkiCurve'];
  if (pkiCurve !== 'brainpoolP256r1' && pkiCurve !== 'P-256') {
    throw new ConfigError(`ERX_PKI_CURVE=${pkiCurve} is not one of brainpoolP256r1, P-256`);
  }
  let vsdmKey: Buffer | undefined;
  if (env.ERX_VSDM_KEY) {
    vsdmKey = Buffer.from(env.ERX_VSDM_KEY, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(env.ERX_VSDM_KEY) || vsdmKey.length !== 32) throw new ConfigError('ERX_VSDM_KEY must be base64 of 32 bytes');
  }
  return {
    dev,
    vsdmKey,
    acceptPn3: parseBool(env, 'ERX_ACCEPT_PN3', false),
    egkFailuresPerDay: parseInteger(env, 'ERX_EGK_FAILURES_PER_DAY', 50, 1, 1_000_000),
    demo: parseBool(env, 'ERX_DEMO', dev),
    pkiCurve,
    pinPrompt: parseBool(env, 'ERX_PIN_PROMPT', false),
    dataDir: resolve(env.ERX_DATA_DIR || './data'),
    databaseUrl,
    host: env.ERX_HOST || '127.0.0.1',
    ports,
    urls,
    logLevel,
    fachdienstWorkers: parseInteger(env, 'ERX_FACHDIENST_WORKERS', 1, 1, 64),
    retentionIntervalSeconds: parseInteger(env, 'ERX_RETENTION_INTERVAL', 3600, 0, 7 * 24 * 3600),
    rateLimitPerMinute: parseInteger(env, 'ERX_RATE_LIMIT', 600, 0, 1_000_000),
  };
}
