// Compact JWS and JWT for every service: BP256R1 (gematik's label for ECDSA brainpoolP256r1 + SHA-256, which
// jose does not support) and ES256 (P-256), both on node:crypto with IEEE P1363 (r||s) signatures, so there is
// one code path. Verification takes an explicit algorithm allow-list and refuses `none`, unknown algorithms and
// keys whose curve does not fit the algorithm.
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { parseCertificate } from './certificate.ts';

export type JwsAlgorithm = 'BP256R1' | 'ES256';

const CURVE_OF: Record<JwsAlgorithm, string> = { BP256R1: 'brainpoolP256r1', ES256: 'prime256v1' };
const SIGNATURE_BYTES = 64;
const MAX_TOKEN_LENGTH = 256 * 1024;
const B64URL = /^[A-Za-z0-9_-]*$/;

export interface JwsHeader {
  alg: JwsAlgorithm;
  kid?: string;
  typ?: string;
  cty?: string;
  /** Base64 (not base64url) DER certificates, signer first. */
  x5c?: string[];
  [name: string]: unknown;
}

export type JwsErrorCode =
  | 'malformed' | 'alg-not-allowed' | 'alg-key-mismatch' | 'no-key' | 'bad-signature' | 'expired' | 'not-yet-valid'
  | 'wrong-issuer' | 'wrong-audience' | 'missing-claim';

export class JwsError extends Error {
  override name = 'JwsError';
  constructor(readonly code: JwsErrorCode, message: string) {
    super(`${code}: ${message}`);
  }
}

export function algorithmForKey(key: KeyObject): JwsAlgorithm {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const alg = (Object.keys(CURVE_OF) as JwsAlgorithm[]).find((a) => CURVE_OF[a] === curve);
  if (!alg) throw new JwsError('alg-key-mismatch', `no JWS algorithm for key curve ${curve ?? key.asymmetricKeyType}`);
  return alg;
}

function keyFits(key: KeyObject, alg: JwsAlgorithm): boolean {
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVE_OF[alg];
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export interface SignJwsOptions {
  alg: JwsAlgorithm;
  kid?: string;
  typ?: string;
  cty?: string;
  /** Certificates (DER), signer first; written as the x5c header. */
  x5c?: Buffer[];
  /** Detached payload (RFC 7515 appendix F): the token's middle part stays empty. */
  detached?: boolean;
  /** Further protected header fields. */
  header?: Record<string, unknown>;
}

/** Signs `payload` (bytes, string or JSON value) as compact JWS. */
export function signJws(payload: Buffer | string | object, key: KeyObject, options: SignJwsOptions): string {
  if (!(options.alg in CURVE_OF)) throw new JwsError('alg-not-allowed', `cannot sign with ${String(options.alg)}`);
  if (key.type !== 'private') throw new JwsError('no-key', 'signing needs a private key');
  if (!keyFits(key, options.alg)) throw new JwsError('alg-key-mismatch', `${options.alg} needs a ${CURVE_OF[options.alg]} key`);
  const header: JwsHeader = { ...options.header, alg: options.alg };
  if (options.typ) header.typ = options.typ;
  if (options.cty) header.cty = options.cty;
  if (options.kid) header.kid = options.kid;
  if (options.x5c) header.x5c = options.x5c.map((c) => c.toString('base64'));
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const input = `${b64url(JSON.stringify(header))}.${b64url(bytes)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  const [h, p] = input.split('.');
  return `${h}.${options.detached ? '' : p}.${signature.toString('base64url')}`;
}

export type KeyResolver = (header: JwsHeader) => KeyObject | KeyObject[] | undefined | Promise<KeyObject | KeyObject[] | undefined>;

export interface VerifyJwsOptions {
  /** Accepted algorithms; required so that a token cannot choose its own. */
  algorithms: readonly JwsAlgorithm[];
  /** For detached tokens (`header..signature`). */
  detachedPayload?: Buffer | string;
}

export interface VerifiedJws {
  header: JwsHeader;
  payload: Buffer;
  key: KeyObject;
}

function decodeHeader(part: string): JwsHeader {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwsError('malformed', 'header is not base64url JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new JwsError('malformed', 'header is not a JSON object');
  if (typeof (header as JwsHeader).alg !== 'string') throw new JwsError('malformed', 'header has no alg');
  if ('crit' in header) throw new JwsError('malformed', 'critical header extensions are not supported');
  return header as JwsHeader;
}

/** Reads the protected header without verifying anything (e.g. to pick a key by kid). */
export function decodeJwsHeader(token: string): JwsHeader {
  if (typeof token !== 'string' || token.split('.').length !== 3) throw new JwsError('malformed', 'not a compact JWS');
  return decodeHeader(token.split('.')[0]);
}

/** Verifies a compact JWS against the given keys (public or private KeyObjects) or a key resolver. */
export async function verifyJws(token: string, keys: KeyObject | KeyObject[] | KeyResolver, options: VerifyJwsOptions): Promise<VerifiedJws> {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new JwsError('malformed', 'token missing or too long');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) throw new JwsError('malformed', 'not a compact JWS (three base64url parts)');
  const [h, p, s] = parts;
  const header = decodeHeader(h);
  if (!options.algorithms.includes(header.alg) || !(header.alg in CURVE_OF)) {
    throw new JwsError('alg-not-allowed', `algorithm ${String(header.alg)} is not accepted (allowed: ${options.algorithms.join(', ')})`);
  }
  let payloadPart = p;
  if (p === '' && options.detachedPayload !== undefined) payloadPart = b64url(options.detachedPayload);
  const signature = Buffer.from(s, 'base64url');
  if (signature.length !== SIGNATURE_BYTES) throw new JwsError('malformed', `signature must be ${SIGNATURE_BYTES} bytes`);

  const resolved = typeof keys === 'function' ? await keys(header) : keys;
  const candidates = (Array.isArray(resolved) ? resolved : resolved ? [resolved] : [])
    .map((k) => (k.type === 'private' ? createPublicKey(k) : k));
  if (candidates.length === 0) throw new JwsError('no-key', `no key for ${header.kid ? `kid ${header.kid}` : 'this token'}`);
  const fitting = candidates.filter((k) => keyFits(k, header.alg));
  if (fitting.length === 0) throw new JwsError('alg-key-mismatch', `no ${CURVE_OF[header.alg]} key for algorithm ${header.alg}`);
  const input = Buffer.from(`${h}.${payloadPart}`);
  const key = fitting.find((k) => verify('sha256', input, { key: k, dsaEncoding: 'ieee-p1363' }, signature));
  if (!key) throw new JwsError('bad-signature', 'signature does not verify');
  return { header, payload: Buffer.from(payloadPart, 'base64url'), key };
}

/** The public key of the first x5c certificate of a header (trust in that certificate is the caller's job). */
export function x5cPublicKey(header: JwsHeader): KeyObject | undefined {
  const first = header.x5c?.[0];
  if (typeof first !== 'string') return undefined;
  return parseCertificate(Buffer.from(first, 'base64')).publicKey;
}

// ---------------------------------------------------------------------------------------------------------------
// JWT

export interface JwtClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
  [name: string]: unknown;
}

export function signJwt(claims: JwtClaims, key: KeyObject, options: Omit<SignJwsOptions, 'detached'> & { typ?: string }): string {
  return signJws(claims, key, { typ: 'JWT', ...options });
}

export interface VerifyJwtOptions {
  keys: KeyObject | KeyObject[] | KeyResolver;
  algorithms: readonly JwsAlgorithm[];
  issuer?: string;
  /** The token's aud (string or array) must contain this (or one of these). */
  audience?: string | readonly string[];
  now?: Date;
  /** Tolerance for exp/nbf/iat, default 30 s. */
  clockSkewSeconds?: number;
  /** exp must be present (default true). */
  requireExp?: boolean;
}

export async function verifyJwt(token: string, options: VerifyJwtOptions): Promise<{ header: JwsHeader; claims: JwtClaims }> {
  const { header, payload } = await verifyJws(token, options.keys, { algorithms: options.algorithms });
  let claims: unknown;
  try {
    claims = JSON.parse(payload.toString('utf8'));
  } catch {
    throw new JwsError('malformed', 'payload is not JSON');
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new JwsError('malformed', 'claims are not a JSON object');
  const c = claims as JwtClaims;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const skew = options.clockSkewSeconds ?? 30;
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    if (c[name] !== undefined && (typeof c[name] !== 'number' || !Number.isFinite(c[name]))) throw new JwsError('malformed', `${name} is not a number`);
  }
  if (c.exp === undefined && options.requireExp !== false) throw new JwsError('missing-claim', 'exp is missing');
  if (c.exp !== undefined && now > c.exp + skew) throw new JwsError('expired', `token expired at ${new Date(c.exp * 1000).toISOString()}`);
  if (c.nbf !== undefined && now + skew < c.nbf) throw new JwsError('not-yet-valid', `token not valid before ${new Date(c.nbf * 1000).toISOString()}`);
  if (c.iat !== undefined && now + skew < c.iat) throw new JwsError('not-yet-valid', 'token issued in the future');
  if (options.issuer !== undefined && c.iss !== options.issuer) throw new JwsError('wrong-issuer', `issuer ${String(c.iss)} is not ${options.issuer}`);
  if (options.audience !== undefined) {
    const wanted = typeof options.audience === 'string' ? [options.audience] : options.audience;
    const aud = typeof c.aud === 'string' ? [c.aud] : Array.isArray(c.aud) ? c.aud : [];
    if (!aud.some((a) => wanted.includes(a))) throw new JwsError('wrong-audience', `audience ${JSON.stringify(c.aud)} does not include ${wanted.join(', ')}`);
  }
  return { header, claims: c };
}
