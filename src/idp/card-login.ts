// Card-based login at the IDP (ti-components.md §4.1), the client side every primary system runs: discovery
// document (signed, x5c) -> GET /auth with PKCE S256 -> the challenge, checked against puk_idp_sig -> JWS
// {alg, typ JWT, cty NJWT, x5c [AUT cert]}.{njwt: challenge}, whose SHA-256 digest the card signs (Konnektor
// ExternalAuthenticate: DER, converted here to r||s) -> POST /auth -> code -> POST /token with the code_verifier ->
// tokens, the ID token checked for signature, audience and nonce. Without the JWE layer, like our IDP (see app.ts).
import { createHash, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { children, content, readRoot } from '../crypto/der.ts';
import { algorithmOfKey, keyFromJwk, type EcJwk } from './jwk.ts';
import { checkJwsSignature, decodeCompactJws } from './verify.ts';

export interface CardLoginOptions {
  /** Base URL of the IDP; its discovery document names the endpoints. */
  idpUrl: string;
  clientId: string;
  redirectUri: string;
  /** Default `openid e-rezept`. */
  scope?: string;
  /** The card's AUT certificate (DER): C.HCI.AUT of an SMC-B, C.HP.AUT of an HBA, C.CH.AUT of an eGK. */
  certificate: Buffer;
  /** Signs a SHA-256 digest with the card's AUT key; returns the DER ECDSA-Sig-Value (as ExternalAuthenticate does). */
  sign: (digest: Buffer) => Promise<Buffer>;
  fetch?: typeof fetch;
  /** Per request, default 10 s. */
  timeoutMs?: number;
}

export interface CardLoginTokens {
  accessToken: string;
  idToken: string;
  /** Seconds, from the token response. */
  expiresIn: number;
}

/** Where the login stopped: at the IDP (discovery, challenge, authentication, token) or at the card (signature). */
export type CardLoginStep = 'discovery' | 'challenge' | 'signature' | 'authentication' | 'token';

export class CardLoginError extends Error {
  override name = 'CardLoginError';
  constructor(
    readonly step: CardLoginStep,
    message: string,
    /** HTTP status of the IDP's answer; 0 when it could not be reached; undefined for the card step. */
    readonly status?: number,
    /** The IDP's OAuth error code (access_denied, invalid_grant …). */
    readonly error?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Worth retrying later: the IDP was unreachable or answered 5xx/429. */
  get transient(): boolean {
    return this.status !== undefined && (this.status === 0 || this.status === 429 || this.status >= 500);
  }
}

const STEP_LABEL: Record<CardLoginStep, string> = {
  discovery: 'IDP-Discovery', challenge: 'Challenge', signature: 'Signatur der Karte', authentication: 'Authentisierung', token: 'Token',
};

const b64urlJson = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** DER ECDSA-Sig-Value -> r||s, each left-padded to `size` bytes (the JWS form). */
export function ecdsaDerToRaw(der: Buffer, size = 32): Buffer {
  let parts: Buffer[];
  try {
    const seq = readRoot(der);
    const ints = children(seq);
    if (ints.length !== 2) throw new Error('not two integers');
    parts = ints.map((t) => content(t));
  } catch {
    throw new Error('keine DER-kodierte ECDSA-Signatur (SEQUENCE { r, s })');
  }
  return Buffer.concat(parts.map((p) => {
    const stripped = p.subarray(p.findIndex((b, i) => b !== 0 || i === p.length - 1));
    if (stripped.length > size) throw new Error(`ECDSA-Wert länger als ${size} Byte`);
    return Buffer.concat([Buffer.alloc(size - stripped.length), stripped]);
  }));
}

export async function cardLogin(options: CardLoginOptions): Promise<CardLoginTokens> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const fail = (step: CardLoginStep, message: string, status?: number, error?: string, cause?: unknown) =>
    new CardLoginError(step, `${STEP_LABEL[step]}: ${message}`, status, error, cause === undefined ? undefined : { cause });

  async function request(step: CardLoginStep, url: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await doFetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw fail(step, `IDP nicht erreichbar (${(err as Error).message})`, 0, undefined, err);
    }
  }
  async function refused(step: CardLoginStep, res: Response): Promise<CardLoginError> {
    const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string; error_description?: string };
    const text = body.message ?? body.error_description ?? body.error ?? `HTTP ${res.status}`;
    return fail(step, `${text} (${res.status})`, res.status, body.error);
  }
  const form = (fields: Record<string, string>): RequestInit => ({
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(),
  });

  let cardKey: KeyObject;
  try {
    cardKey = new X509Certificate(options.certificate).publicKey;
  } catch (err) {
    throw fail('signature', 'das AUT-Zertifikat der Karte ist nicht lesbar', undefined, undefined, err);
  }
  const alg = algorithmOfKey(cardKey);
  if (!alg) throw fail('signature', 'der AUT-Schlüssel der Karte liegt auf keiner unterstützten Kurve (brainpoolP256r1, P-256)');

  // 1. Discovery document and the IDP's signing key
  const { authorizationEndpoint, tokenEndpoint, idpKey } = await discover();

  // 2. Authorization request -> challenge
  const verifier = randomBytes(64).toString('base64url'); // 86 characters of [A-Za-z0-9_-]
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const query = new URLSearchParams({
    client_id: options.clientId, response_type: 'code', redirect_uri: options.redirectUri, state, nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    scope: options.scope ?? 'openid e-rezept',
  });
  const auth = await request('challenge', `${authorizationEndpoint}?${query}`);
  if (!auth.ok) throw await refused('challenge', auth);
  const { challenge } = (await auth.json().catch(() => ({}))) as { challenge?: unknown };
  if (typeof challenge !== 'string') throw fail('challenge', 'der IDP hat keine Challenge geliefert', auth.status);
  // Only sign what the IDP issued for this request: the card must not become a signing oracle.
  const challengeClaims = ownJwt(challenge, 'challenge', idpKey);
  if (challengeClaims.token_type !== 'challenge' || challengeClaims.state !== state || challengeClaims.client_id !== options.clientId) {
    throw fail('challenge', 'die Challenge gehört nicht zu dieser Anfrage');
  }

  // 3. The card signs the challenge response
  const signingInput = `${b64urlJson({ alg, typ: 'JWT', cty: 'NJWT', x5c: [options.certificate.toString('base64')] })}.${b64urlJson({ njwt: challenge })}`;
  let signature: Buffer;
  try {
    signature = ecdsaDerToRaw(await options.sign(createHash('sha256').update(signingInput, 'ascii').digest()));
  } catch (err) {
    throw fail('signature', (err as Error).message, undefined, undefined, err);
  }
  const answer = await request('authentication', authorizationEndpoint, form({ signed_challenge: `${signingInput}.${signature.toString('base64url')}` }));
  if (answer.status !== 302) throw await refused('authentication', answer);
  const location = new URL(answer.headers.get('location') ?? '', options.redirectUri);
  if (location.searchParams.get('error')) {
    throw fail('authentication', location.searchParams.get('error_description') ?? location.searchParams.get('error')!, answer.status, location.searchParams.get('error')!);
  }
  const code = location.searchParams.get('code');
  if (!code || location.searchParams.get('state') !== state) throw fail('authentication', 'der IDP hat keinen gültigen Code geliefert', answer.status);

  // 4. Code + PKCE verifier -> tokens
  const tokenResponse = await request('token', tokenEndpoint, form({
    grant_type: 'authorization_code', client_id: options.clientId, code, redirect_uri: options.redirectUri, code_verifier: verifier,
  }));
  if (!tokenResponse.ok) throw await refused('token', tokenResponse);
  const tokens = (await tokenResponse.json().catch(() => ({}))) as { access_token?: unknown; id_token?: unknown; expires_in?: unknown };
  if (typeof tokens.access_token !== 'string' || typeof tokens.id_token !== 'string') throw fail('token', 'der IDP hat kein Access- oder ID-Token geliefert', tokenResponse.status);
  const idClaims = ownJwt(tokens.id_token, 'token', idpKey);
  if (idClaims.nonce !== nonce || idClaims.aud !== options.clientId) throw fail('token', 'das ID-Token passt nicht zu dieser Anmeldung (nonce/aud)');
  return { accessToken: tokens.access_token, idToken: tokens.id_token, expiresIn: typeof tokens.expires_in === 'number' ? tokens.expires_in : 300 };

  /** A JWT signed with the IDP's key (puk_idp_sig); its payload. */
  function ownJwt(jwt: string, step: CardLoginStep, key: KeyObject): Record<string, unknown> {
    try {
      const decoded = decodeCompactJws(jwt);
      checkJwsSignature(decoded, key);
      return decoded.payload;
    } catch (err) {
      throw fail(step, `Signatur des IDP ungültig (${(err as Error).message})`, undefined, undefined, err);
    }
  }

  async function discover(): Promise<{ authorizationEndpoint: string; tokenEndpoint: string; idpKey: KeyObject }> {
    const base = options.idpUrl.replace(/\/+$/, '');
    const res = await request('discovery', `${base}/.well-known/openid-configuration`);
    if (!res.ok) throw await refused('discovery', res);
    let document: Record<string, unknown>;
    try {
      const decoded = decodeCompactJws((await res.text()).trim());
      const x5c = decoded.header.x5c;
      if (!Array.isArray(x5c) || typeof x5c[0] !== 'string') throw new Error('kein x5c-Zertifikat im Header');
      checkJwsSignature(decoded, new X509Certificate(Buffer.from(x5c[0], 'base64')).publicKey);
      document = decoded.payload;
    } catch (err) {
      throw fail('discovery', `Discovery-Dokument ungültig (${(err as Error).message})`, undefined, undefined, err);
    }
    const { authorization_endpoint: authorizationEndpoint, token_endpoint: tokenEndpoint } = document;
    const keyUrl = document.uri_puk_idp_sig;
    if (typeof authorizationEndpoint !== 'string' || typeof tokenEndpoint !== 'string' || typeof keyUrl !== 'string') {
      throw fail('discovery', 'das Discovery-Dokument nennt authorization_endpoint, token_endpoint oder uri_puk_idp_sig nicht');
    }
    const keyRes = await request('discovery', keyUrl);
    if (!keyRes.ok) throw await refused('discovery', keyRes);
    let idpKey: KeyObject;
    try {
      idpKey = keyFromJwk((await keyRes.json()) as EcJwk);
    } catch (err) {
      throw fail('discovery', `puk_idp_sig ist kein lesbarer Schlüssel (${(err as Error).message})`, undefined, undefined, err);
    }
    return { authorizationEndpoint, tokenEndpoint, idpKey };
  }
}
