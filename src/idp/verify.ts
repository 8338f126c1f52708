// Access-token verification for every service that takes IDP tokens (Fachdienst, VZD, …).
// Keys come either from the IDP (discovery document -> puk_idp_sig, fetched once, refreshed on an unknown kid) or
// are given directly (tests). Every refusal is a TokenError (401) whose message names the rule that failed.
import { createPublicKey, KeyObject, verify as verifySignature, X509Certificate } from 'node:crypto';
import { FhirError } from '../fhir/errors.ts';
import { algorithmOfKey, keyFromJwk, type EcJwk } from './jwk.ts';
import { ERP_AUDIENCE, type AccessTokenClaims, type IdpAlgorithm } from './tokens.ts';

export type TokenRule =
  | 'format' | 'algorithm' | 'key' | 'signature' | 'issuer' | 'audience' | 'expiry' | 'not-before' | 'claims' | 'idp';

/** A refused token: 401 with a WWW-Authenticate header; `rule` says which check failed. */
export class TokenError extends FhirError {
  override name = 'TokenError';
  readonly rule: TokenRule;
  constructor(rule: TokenRule, message: string) {
    const text = `Access token refused (${rule}): ${message}`;
    super(401, text, {
      code: 'security',
      headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${text.replace(/["\\]/g, "'")}"` },
    });
    this.rule = rule;
  }
}

export const SUPPORTED_ALGORITHMS: readonly IdpAlgorithm[] = ['BP256R1', 'ES256'];

export interface VerificationKey {
  kid?: string;
  key: KeyObject;
}

interface CommonOptions {
  /** Accepted audiences; default the E-Rezept audience. */
  audience?: string | string[];
  /** Allowed algorithms, a subset of BP256R1 and ES256 (default both). */
  algorithms?: IdpAlgorithm[];
  /** Allowed clock skew for exp/nbf/iat, seconds (default 5). */
  clockToleranceSeconds?: number;
}

export interface RemoteKeysOptions extends CommonOptions {
  /** Base URL of the IDP; its discovery document lives at `/.well-known/openid-configuration`. */
  idpUrl: string;
  /** Expected issuer; default the discovery document's `issuer`. */
  issuer?: string;
  /** DER CA certificates; when given, the discovery document's signer must be issued by one of them. */
  trustAnchors?: Buffer[];
  fetch?: typeof fetch;
}

export interface LocalKeysOptions extends CommonOptions {
  /** Public keys (private keys are accepted and reduced to their public half). */
  keys: (VerificationKey | KeyObject)[];
  issuer: string;
}

export type TokenVerifierOptions = RemoteKeysOptions | LocalKeysOptions;

export interface TokenVerifier {
  /** Verifies a compact JWS access token; `now` in seconds since epoch or as a Date. */
  verify(token: string, options?: { now?: number | Date }): Promise<AccessTokenClaims>;
}

interface JoseHeader {
  alg?: unknown;
  kid?: unknown;
  typ?: unknown;
  x5c?: unknown;
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError('format', `${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenError('format', `${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** Splits a compact JWS; throws TokenError('format') for anything else (a JWE has 5 parts, `none` an empty third). */
export function decodeCompactJws(token: string): { header: JoseHeader; payload: Record<string, unknown>; signingInput: string; signature: Buffer } {
  if (typeof token !== 'string' || token.length === 0) throw new TokenError('format', 'no token');
  if (token.length > 16_384) throw new TokenError('format', 'token is too long');
  const parts = token.split('.');
  if (parts.length === 5) throw new TokenError('format', 'encrypted tokens (JWE) must be decrypted by the client first');
  if (parts.length !== 3) throw new TokenError('format', `a compact JWS has 3 parts, this token has ${parts.length}`);
  const header = decodeJson(parts[0], 'token header') as JoseHeader;
  const payload = decodeJson(parts[1], 'token payload');
  if (!/^[A-Za-z0-9_-]*$/.test(parts[2])) throw new TokenError('format', 'signature is not base64url');
  return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url') };
}

const CURVE_OF_ALG: Record<IdpAlgorithm, string> = { BP256R1: 'brainpoolP256r1', ES256: 'prime256v1' };

/** Checks the algorithm allow-list and the signature with `key`; the key's curve must belong to the algorithm. */
export function checkJwsSignature(
  decoded: { header: JoseHeader; signingInput: string; signature: Buffer },
  key: KeyObject,
  algorithms: readonly IdpAlgorithm[] = SUPPORTED_ALGORITHMS,
): IdpAlgorithm {
  const alg = decoded.header.alg;
  if (typeof alg !== 'string' || !(algorithms as readonly string[]).includes(alg)) {
    throw new TokenError('algorithm', `alg ${JSON.stringify(alg ?? null)} is not allowed; allowed: ${algorithms.join(', ')}`);
  }
  const algorithm = alg as IdpAlgorithm;
  // A key of the wrong curve must never verify a token labelled with another algorithm (algorithm confusion).
  if (algorithmOfKey(key) !== algorithm) throw new TokenError('key', `the key for ${algorithm} must be on ${CURVE_OF_ALG[algorithm]}`);
  if (decoded.signature.length !== 64) throw new TokenError('signature', `an ${algorithm} signature is 64 bytes (r||s), got ${decoded.signature.length}`);
  const ok = verifySignature('sha256', Buffer.from(decoded.signingInput), { key, dsaEncoding: 'ieee-p1363' }, decoded.signature);
  if (!ok) throw new TokenError('signature', 'signature does not verify with the IDP key');
  return algorithm;
}

function toPublic(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

function epoch(now: number | Date | undefined): number {
  if (now === undefined) return Math.floor(Date.now() / 1000);
  return now instanceof Date ? Math.floor(now.getTime() / 1000) : now;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/** Checks time, issuer, audience and the identity claims; returns them typed. */
export function checkClaims(
  payload: Record<string, unknown>,
  expected: { issuer: string; audience: string[]; now: number; toleranceSeconds: number },
): AccessTokenClaims {
  const { now, toleranceSeconds: skew } = expected;
  if (typeof payload.exp !== 'number') throw new TokenError('expiry', 'token has no numeric exp claim');
  if (now >= payload.exp + skew) throw new TokenError('expiry', `token expired at ${iso(payload.exp)} (now ${iso(now)})`);
  if (typeof payload.nbf === 'number' && now + skew < payload.nbf) throw new TokenError('not-before', `token is not valid before ${iso(payload.nbf)}`);
  if (typeof payload.iat === 'number' && now + skew < payload.iat) throw new TokenError('not-before', `token was issued in the future (iat ${iso(payload.iat)})`);
  if (payload.iss !== expected.issuer) throw new TokenError('issuer', `issuer ${JSON.stringify(payload.iss ?? null)} is not the expected ${expected.issuer}`);
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (!audiences.some((a) => typeof a === 'string' && expected.audience.includes(a))) {
    throw new TokenError('audience', `audience ${JSON.stringify(payload.aud ?? null)} is not ${expected.audience.join(' or ')}`);
  }
  for (const name of ['professionOID', 'idNummer', 'sub'] as const) {
    if (typeof payload[name] !== 'string' || payload[name] === '') throw new TokenError('claims', `claim ${name} is missing`);
  }
  return payload as unknown as AccessTokenClaims;
}

interface KeySet {
  keys: VerificationKey[];
  issuer: string;
  fetchedAt: number;
}

// An unknown kid may trigger a refresh, but not more often than this (a flood of forged kids must not hammer the IDP).
const MIN_REFRESH_INTERVAL_MS = 10_000;

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const algorithms = options.algorithms ?? [...SUPPORTED_ALGORITHMS];
  for (const a of algorithms) if (!SUPPORTED_ALGORITHMS.includes(a)) throw new Error(`unsupported algorithm ${a}`);
  const audience = options.audience === undefined ? [ERP_AUDIENCE] : Array.isArray(options.audience) ? options.audience : [options.audience];
  const tolerance = options.clockToleranceSeconds ?? 5;

  let current: Promise<KeySet> | undefined;
  let load: (() => Promise<KeySet>) | undefined;
  if ('keys' in options) {
    const keys = options.keys.map((k) => (k instanceof KeyObject ? { key: toPublic(k) } : { kid: k.kid, key: toPublic(k.key) }));
    current = Promise.resolve({ keys, issuer: options.issuer, fetchedAt: Date.now() });
  } else {
    const remote = options;
    load = () => fetchIdpKeys(remote);
  }

  async function keySet(): Promise<KeySet> {
    if (!current) {
      current = load!();
      current.catch(() => (current = undefined));
    }
    return current;
  }

  async function refresh(stale: KeySet): Promise<KeySet> {
    if (!load || Date.now() - stale.fetchedAt < MIN_REFRESH_INTERVAL_MS) return stale;
    if ((await current) === stale) {
      current = load();
      current.catch(() => (current = undefined));
    }
    return current!;
  }

  function pick(set: KeySet, kid: unknown): VerificationKey[] {
    if (typeof kid === 'string') return set.keys.filter((k) => k.kid === undefined || k.kid === kid);
    return set.keys;
  }

  return {
    async verify(token, verifyOptions = {}) {
      const decoded = decodeCompactJws(token);
      const alg = decoded.header.alg;
      if (typeof alg !== 'string' || !(algorithms as string[]).includes(alg)) {
        throw new TokenError('algorithm', `alg ${JSON.stringify(alg ?? null)} is not allowed; allowed: ${algorithms.join(', ')}`);
      }
      let set = await keySet();
      let candidates = pick(set, decoded.header.kid).filter((k) => algorithmOfKey(k.key) === alg);
      if (candidates.length === 0) {
        set = await refresh(set);
        candidates = pick(set, decoded.header.kid).filter((k) => algorithmOfKey(k.key) === alg);
      }
      if (candidates.length === 0) {
        throw new TokenError('key', `no ${alg} key${typeof decoded.header.kid === 'string' ? ` with kid ${decoded.header.kid}` : ''} of the IDP`);
      }
      let lastError: unknown;
      for (const candidate of candidates) {
        try {
          checkJwsSignature(decoded, candidate.key, algorithms);
          return checkClaims(decoded.payload, { issuer: options.issuer ?? set.issuer, audience, now: epoch(verifyOptions.now), toleranceSeconds: tolerance });
        } catch (err) {
          if (!(err instanceof TokenError) || err.rule !== 'signature') throw err;
          lastError = err;
        }
      }
      throw lastError;
    },
  };
}

/** Reads the discovery document (a JWT signed by the IDP, x5c in its header) and the signing key it points to. */
async function fetchIdpKeys(options: RemoteKeysOptions): Promise<KeySet> {
  const doFetch = options.fetch ?? fetch;
  const base = options.idpUrl.replace(/\/+$/, '');
  const idpError = (message: string) => new FhirError(503, `IDP not usable: ${message}`, { code: 'transient', headers: { 'Retry-After': '5' } });
  let discoveryJwt: string;
  try {
    const res = await doFetch(`${base}/.well-known/openid-configuration`);
    if (!res.ok) throw idpError(`discovery document answered ${res.status}`);
    discoveryJwt = (await res.text()).trim();
  } catch (err) {
    if (err instanceof FhirError) throw err;
    throw idpError(`discovery document not reachable at ${base} (${(err as Error).message})`);
  }
  const decoded = decodeCompactJws(discoveryJwt);
  const x5c = decoded.header.x5c;
  if (!Array.isArray(x5c) || typeof x5c[0] !== 'string') throw idpError('discovery document has no x5c certificate');
  const cert = new X509Certificate(Buffer.from(x5c[0], 'base64'));
  if (options.trustAnchors?.length && !options.trustAnchors.some((ca) => cert.checkIssued(new X509Certificate(ca)) && cert.verify(new X509Certificate(ca).publicKey))) {
    throw idpError('discovery document signer is not issued by a trusted CA');
  }
  checkJwsSignature(decoded, cert.publicKey);
  const discovery = decoded.payload;
  const issuer = typeof discovery.issuer === 'string' ? discovery.issuer : undefined;
  if (!issuer) throw idpError('discovery document has no issuer');
  if (typeof discovery.exp === 'number' && discovery.exp < epoch(undefined)) throw idpError('discovery document has expired');
  const keysUrl = typeof discovery.uri_puk_idp_sig === 'string' ? discovery.uri_puk_idp_sig : typeof discovery.jwks_uri === 'string' ? discovery.jwks_uri : undefined;
  if (!keysUrl) throw idpError('discovery document names no signing key (uri_puk_idp_sig / jwks_uri)');
  let body: { keys?: EcJwk[] } & Partial<EcJwk>;
  try {
    const res = await doFetch(keysUrl);
    if (!res.ok) throw idpError(`${keysUrl} answered ${res.status}`);
    body = (await res.json()) as typeof body;
  } catch (err) {
    if (err instanceof FhirError) throw err;
    throw idpError(`signing key not readable at ${keysUrl} (${(err as Error).message})`);
  }
  const jwks = Array.isArray(body.keys) ? body.keys : [body as EcJwk];
  const keys: VerificationKey[] = [];
  for (const jwk of jwks) {
    if (jwk.use && jwk.use !== 'sig') continue;
    try {
      keys.push({ kid: jwk.kid, key: keyFromJwk(jwk) });
    } catch {
      // Keys we cannot read (other curves) are skipped, not fatal.
    }
  }
  if (keys.length === 0) throw idpError('no usable signing key published');
  return { keys, issuer, fetchedAt: Date.now() };
}
