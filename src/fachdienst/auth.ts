// Who is calling: every Fachdienst request carries an IDP access token (erp-api §1.1); the role comes from the
// `professionOID` claim, the identity (Telematik-ID or KVNR) from `idNummer`. Rate limiting is keyed by the token.
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { FhirError, forbidden } from '../fhir/errors.ts';
import type { AccessTokenClaims } from '../idp/tokens.ts';

export type Role = 'prescriber' | 'pharmacy' | 'payer' | 'insured';

/** Profession OIDs per role (erp-api §1.1 PRESC/PHARM/KTR/INS; HBA .30/.31 may create and activate too). */
export const ROLE_OIDS: Record<Role, string[]> = {
  prescriber: [
    '1.2.276.0.76.4.30', '1.2.276.0.76.4.31', // Arzt, Zahnarzt (HBA)
    '1.2.276.0.76.4.50', '1.2.276.0.76.4.51', '1.2.276.0.76.4.52', '1.2.276.0.76.4.53', '1.2.276.0.76.4.257',
  ],
  pharmacy: ['1.2.276.0.76.4.54', '1.2.276.0.76.4.55'],
  payer: ['1.2.276.0.76.4.59'],
  insured: ['1.2.276.0.76.4.49'],
};

export function roleOfProfession(oid: string | undefined): Role | undefined {
  if (!oid) return undefined;
  return (Object.keys(ROLE_OIDS) as Role[]).find((role) => ROLE_OIDS[role].includes(oid));
}

/** What the Fachdienst knows about the caller. */
export interface Caller {
  role: Role;
  professionOID: string;
  /** Telematik-ID (institutions, HBA) or KVNR (insured). */
  id: string;
  /** Display name for AuditEvents: organisation name or given + family name. */
  name: string;
}

/** The part of the IDP's verifier the Fachdienst needs (src/idp/verify.ts). */
export interface TokenVerifier {
  verify(token: string): Promise<Pick<AccessTokenClaims, 'professionOID' | 'idNummer' | 'given_name' | 'family_name' | 'organizationName'> & { exp?: number }>;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

const WWW_AUTHENTICATE = 'Bearer realm="prescriptionserver.telematik"';

function unauthorized(message: string, error?: string): FhirError {
  const header = error ? `${WWW_AUTHENTICATE}, error="${error}"` : WWW_AUTHENTICATE;
  return new FhirError(401, message, { code: 'login', headers: { 'WWW-Authenticate': header } });
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return m?.[1];
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * Callers of tokens that verified, by token hash, until the token's `exp`. A client sends the same token with every
 * request; checking its signature again (brainpool ECDSA, ~1 ms) was the largest cost per request. Only fully
 * valid tokens are kept, never longer than `exp` or MAX_AGE_MS; a full cache drops its oldest entries.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { caller: Caller; until: number }>();
  static readonly MAX_AGE_MS = 5 * 60_000;
  constructor(private readonly maxEntries = 10_000, private readonly clock: () => number = Date.now) {}

  get(hash: string): Caller | undefined {
    const hit = this.entries.get(hash);
    if (!hit) return undefined;
    if (this.clock() >= hit.until) {
      this.entries.delete(hash);
      return undefined;
    }
    return hit.caller;
  }

  set(hash: string, caller: Caller, expSeconds: number | undefined): void {
    if (typeof expSeconds !== 'number') return;
    const until = Math.min(expSeconds * 1000, this.clock() + VerifiedTokenCache.MAX_AGE_MS);
    if (until <= this.clock()) return;
    if (this.entries.size >= this.maxEntries) {
      // Map keeps insertion order: drop the oldest tenth in one go.
      let drop = Math.ceil(this.maxEntries / 10);
      for (const key of this.entries.keys()) {
        this.entries.delete(key);
        if (--drop === 0) break;
      }
    }
    this.entries.set(hash, { caller, until });
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Verifies the token and maps claims to a Caller; 401 for a missing/bad token, 403 for an unknown profession. */
export async function authenticate(request: FastifyRequest, verifier: TokenVerifier, cache?: VerifiedTokenCache): Promise<Caller> {
  const token = bearerToken(request);
  if (!token) throw unauthorized('Authorization: Bearer <ACCESS_TOKEN> fehlt');
  const hash = cache ? tokenHashOf(request, token) : '';
  const cached = cache?.get(hash);
  if (cached) return cached;
  let claims: Awaited<ReturnType<TokenVerifier['verify']>>;
  try {
    claims = await verifier.verify(token);
  } catch (err) {
    // the verifier's own answers: 401 for the token, 503 when the IDP's keys cannot be had
    if (err instanceof FhirError && (err.status === 401 || err.status >= 500)) throw err;
    throw unauthorized('Access-Token ungültig oder abgelaufen', 'invalid_token');
  }
  const role = roleOfProfession(claims.professionOID);
  if (!role || typeof claims.idNummer !== 'string' || claims.idNummer === '') {
    throw forbidden(`Profession ${claims.professionOID ?? '(keine)'} ist für den E-Rezept-Fachdienst nicht zugelassen`);
  }
  const person = [claims.given_name, claims.family_name].filter((s) => typeof s === 'string' && s !== '').join(' ');
  const name = (typeof claims.organizationName === 'string' && claims.organizationName) || person || claims.idNummer;
  const caller: Caller = { role, professionOID: claims.professionOID as string, id: claims.idNummer, name };
  cache?.set(hash, caller, claims.exp);
  return caller;
}

const tokenHashes = new WeakMap<FastifyRequest, string>();

/** The token's hash, computed once per request (rate limit key and token cache). */
function tokenHashOf(request: FastifyRequest, token: string): string {
  let hash = tokenHashes.get(request);
  if (!hash) {
    hash = tokenHash(token);
    tokenHashes.set(request, hash);
  }
  return hash;
}

/** The authenticated caller of a request (set by the onRequest hook of `registerAuth`). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw unauthorized('nicht angemeldet');
  return request.caller;
}

/** 403 unless the caller has one of the roles. */
export function requireRole(request: FastifyRequest, roles: readonly Role[]): Caller {
  const caller = callerOf(request);
  if (!roles.includes(caller.role)) {
    throw forbidden(`Zugriff für die Rolle ${caller.professionOID} nicht erlaubt`);
  }
  return caller;
}

export interface AuthOptions {
  tokenVerifier: TokenVerifier;
  /** Requests per minute per token; 0 = off. */
  rateLimitPerMinute?: number;
  /** Keep verified tokens until their exp (default true). */
  cacheTokens?: boolean;
}

type StoreCallback = (err: Error | null, result: { current: number; ttl: number }) => void;

/**
 * Fixed-window counters for @fastify/rate-limit. Its LocalStore hands every caller the same mutable counter object
 * and the plugin reads it after an `await`: a burst arriving in one tick all saw the final count, so even the first
 * `max` requests of a flood got 429. This store answers each call with its own snapshot. Bounded like an LRU.
 */
export class RateLimitStore {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();
  constructor(private readonly maxKeys = 20_000) {}

  incr(key: string, cb: StoreCallback, timeWindow: number): void {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      this.windows.delete(key);
      if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
      w = { count: 0, resetAt: now + timeWindow };
      this.windows.set(key, w);
    }
    w.count++;
    cb(null, { current: w.count, ttl: w.resetAt - now });
  }

  read(key: string, cb: StoreCallback, timeWindow: number): void {
    const now = Date.now();
    const w = this.windows.get(key);
    cb(null, w && w.resetAt > now ? { current: w.count, ttl: w.resetAt - now } : { current: 0, ttl: timeWindow });
  }

  child(): RateLimitStore {
    return this;
  }
}

/**
 * Rate limit (429) by token hash, then the token check, on every route but /health and /metrics. Both run in one
 * onRequest hook in this order: the plugin's own per-route hook would run after the token check, so a flood of
 * forged tokens would cost a signature check each and never be limited.
 */
export async function registerAuth(app: FastifyInstance, options: AuthOptions): Promise<void> {
  let limit: ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | undefined;
  if (options.rateLimitPerMinute && options.rateLimitPerMinute > 0) {
    await app.register(rateLimit, { global: false, store: class extends RateLimitStore {} as never });
    limit = app.rateLimit({
      max: options.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => {
        const token = bearerToken(request);
        return token ? `t:${tokenHashOf(request, token)}` : `ip:${request.ip}`;
      },
    }) as unknown as typeof limit;
  }
  const cache = options.cacheTokens === false ? undefined : new VerifiedTokenCache();
  app.addHook('onRequest', async (request, reply) => {
    if (isOpenPath(request.url)) return;
    if (limit) await limit(request, reply);
    request.caller = await authenticate(request, options.tokenVerifier, cache);
  });
}

/** Paths without a token: the readiness probe and the Prometheus scrape (counts and timings, no personal data). */
function isOpenPath(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/health' || path === '/metrics';
}
