// The simulated gematik IDP (ti-components.md §4): signed discovery document, the signing key (JWK with x5c and
// BP-256 coordinates), the card-based authorization code flow with PKCE S256, and in dev mode the shortcuts
// GET /dev/identities and POST /dev/token.
//
// Simplification (said so in /.well-known and the README): the JWE layer of the real IDP is left out. The client
// POSTs the signed challenge as a plain JWS, exchanges the code with a plain `code_verifier` instead of the
// encrypted `key_verifier`, and gets the tokens as plain JWS instead of JWE under its token_key.
import { createHash, randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import { certificateIdentity, parseCertificate, type ParsedCertificate } from '../crypto/certificate.ts';
import { OcspUnavailableError, type OcspChecker } from '../crypto/ocsp.ts';
import { TrustError, TrustStore } from '../crypto/trust.ts';
import { identities, identityById, kimAddress, type Identity } from '../seed/identities.ts';
import { publicJwk } from './jwk.ts';
import {
  ACCESS_TOKEN_LIFETIME_SECONDS, accessTokenClaims, ERP_AUDIENCE, issueAccessToken, signJwt, type TokenSigner, type TokenSubject,
} from './tokens.ts';
import { checkJwsSignature, decodeCompactJws, TokenError } from './verify.ts';

export interface KimAccountInfo {
  identityId: string;
  address: string;
  pop3User: string;
  smtpUser?: string;
  password: string;
}

export interface IdpAppOptions {
  /** The IDP's signing key (kid puk_idp_sig) with its certificate (x5c). */
  signer: TokenSigner;
  /** Public base URL; also the `iss` of every token. */
  issuer: string | (() => string);
  /** GET /dev/identities and POST /dev/token exist only when true. */
  dev: boolean;
  /** CA certificates the card AUT certificates must chain to (the test PKI's trust anchors + sub-CAs). */
  trustAnchors: Buffer[];
  intermediates?: Buffer[];
  /** Revocation check of the AUT certificate in the card flow (a revoked card gets no token); none when absent. */
  ocsp?: OcspChecker;
  audience?: string;
  /** KIM accounts for /dev/identities (the one integration point with the KIM module). */
  kimAccounts?: () => KimAccountInfo[];
  now?: () => number;
  logger?: boolean;
}

const CHALLENGE_LIFETIME = 180;
const CODE_LIFETIME = 60;
const DISCOVERY_LIFETIME = 24 * 3600;
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

class IdpError extends Error {
  constructor(readonly status: number, readonly error: string, message: string) {
    super(message);
  }
}

const invalid = (message: string, error = 'invalid_request') => new IdpError(400, error, message);

/** Token claims from a card's AUT certificate: Telematik-ID for HBA/SMC-B, KVNR for the eGK. */
export function subjectOfCertificate(cert: Buffer): TokenSubject {
  const id = certificateIdentity(cert);
  const idNummer = id.kvnr ?? id.telematikId;
  const professionOID = id.professionOIDs[0];
  if (!idNummer || !professionOID) throw invalid('the AUT certificate carries no Telematik-ID/KVNR or profession OID', 'invalid_request');
  const person = Boolean(id.givenName || id.surname);
  return {
    professionOID,
    idNummer,
    given_name: id.givenName ?? null,
    family_name: id.surname ?? null,
    organizationName: person ? null : (id.organization ?? id.name),
    display_name: id.name,
  };
}

function b64urlSha256(value: string): string {
  return createHash('sha256').update(value, 'ascii').digest('base64url');
}

export function createIdpApp(options: IdpAppOptions): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 64 * 1024, logController: new LogController({ disableRequestLogging: true }) });
  const issuerOf = () => (typeof options.issuer === 'function' ? options.issuer() : options.issuer).replace(/\/+$/, '');
  const audience = options.audience ?? ERP_AUDIENCE;
  const now = () => Math.floor((options.now ?? Date.now)() / 1000);
  const trust = new TrustStore(options.trustAnchors, options.intermediates ?? []);
  const signer = options.signer;
  const jwk = publicJwk(signer.key, {
    kid: signer.kid, use: 'sig', alg: signer.alg, ...(signer.cert ? { x5c: [signer.cert.toString('base64')] } : {}),
  });
  // Codes are single-use: jti -> exp (in memory; codes live one minute).
  const redeemed = new Map<string, number>();

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof IdpError) return reply.code(error.status).send({ error: error.error, message: error.message });
    if (error instanceof TokenError) return reply.code(400).send({ error: 'invalid_request', message: error.message });
    const e = error as { statusCode?: number; message?: string };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ error: 'invalid_request', message: `Ungültige Anfrage: ${e.message ?? ''}`.trim() });
    }
    request.log.error({ err: { message: e.message } }, 'idp request failed');
    return reply.code(500).send({ error: 'server_error', message: 'Interner Fehler des IDP' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `Kein Endpunkt für ${request.method} ${request.url.split('?')[0]}` }));

  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/.well-known/openid-configuration', async (_request, reply) => {
    const iat = now();
    const document = {
      iss: issuerOf(), issuer: issuerOf(), iat, nbf: iat, exp: iat + DISCOVERY_LIFETIME,
      authorization_endpoint: `${issuerOf()}/auth`,
      token_endpoint: `${issuerOf()}/token`,
      jwks_uri: `${issuerOf()}/jwks`,
      uri_puk_idp_sig: `${issuerOf()}/idpSig/jwk.json`,
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: [signer.alg],
      response_types_supported: ['code'],
      scopes_supported: ['openid', 'e-rezept'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code'],
      acr_values_supported: ['gematik-ehealth-loa-high'],
      token_endpoint_auth_methods_supported: ['none'],
      code_challenge_methods_supported: ['S256'],
      // Our simplification, for clients that read it: no JWE layer.
      erx_encryption: 'none (signed_challenge as JWS, code_verifier in clear, tokens as JWS)',
    };
    const jwt = await signJwt({ ...signer, kid: 'discSig' }, document, { typ: 'JWT', withCertificate: true });
    return reply.header('content-type', 'application/jwt; charset=utf-8').send(jwt);
  });
  app.get('/jwks', async () => ({ keys: [jwk] }));
  app.get('/idpSig/jwk.json', async () => jwk);

  // 1. Authorization request -> challenge
  app.get('/auth', async (request) => {
    const q = request.query as Record<string, string | undefined>;
    if (!q.client_id) throw invalid('client_id fehlt');
    if (q.response_type !== 'code') throw invalid('response_type muss code sein', 'unsupported_response_type');
    if (!q.redirect_uri || !/^https?:\/\/[^\s]+$/.test(q.redirect_uri)) throw invalid('redirect_uri fehlt oder ist keine http(s)-URL');
    if (!q.state) throw invalid('state fehlt');
    if (q.code_challenge_method !== 'S256') throw invalid('code_challenge_method muss S256 sein');
    if (!q.code_challenge || !CHALLENGE.test(q.code_challenge)) throw invalid('code_challenge muss base64url(sha256(code_verifier)) sein (43 Zeichen)');
    const scopes = (q.scope ?? '').split(/[ +]/).filter(Boolean);
    if (!scopes.includes('openid') || !scopes.some((s) => s === 'e-rezept' || s === 'e-rezept-dev')) {
      throw invalid('scope muss openid und e-rezept enthalten', 'invalid_scope');
    }
    const iat = now();
    const challenge = await signJwt(signer, {
      iss: issuerOf(), iat, exp: iat + CHALLENGE_LIFETIME, token_type: 'challenge', jti: randomUUID(), snc: randomUUID(),
      client_id: q.client_id, redirect_uri: q.redirect_uri, state: q.state, nonce: q.nonce,
      code_challenge: q.code_challenge, code_challenge_method: 'S256', scope: scopes.join(' '), response_type: 'code',
    }, { typ: 'JWT' });
    return {
      challenge,
      user_consent: {
        requested_scopes: Object.fromEntries(scopes.map((s) => [s, s === 'openid' ? 'Zugriff auf den ID-Token' : 'Zugriff auf die E-Rezept-Funktionalität'])),
        requested_claims: { professionOID: 'Rolle', idNummer: 'Telematik-ID oder KVNR', given_name: 'Vorname', family_name: 'Nachname', organizationName: 'Organisation' },
      },
    };
  });

  /** Verifies a JWT the IDP itself signed (challenge, code) and its type and lifetime. */
  function ownToken(token: string, type: string): Record<string, unknown> {
    const decoded = decodeCompactJws(token);
    try {
      checkJwsSignature(decoded, signer.key, [signer.alg]);
    } catch {
      throw invalid(`${type} ist nicht vom IDP signiert`, type === 'code' ? 'invalid_grant' : 'invalid_request');
    }
    const p = decoded.payload;
    if (p.token_type !== type || p.iss !== issuerOf()) throw invalid(`kein ${type}-Token dieses IDP`, type === 'code' ? 'invalid_grant' : 'invalid_request');
    if (typeof p.exp !== 'number' || now() >= p.exp) throw invalid(`${type} ist abgelaufen`, type === 'code' ? 'invalid_grant' : 'invalid_request');
    return p;
  }

  // 2. Signed challenge (AUT key of eGK / SMC-B / HBA) -> redirect with code
  app.post('/auth', async (request, reply: FastifyReply) => {
    const form = (request.body ?? {}) as Record<string, string | undefined>;
    const signed = form.signed_challenge;
    if (!signed) throw invalid('signed_challenge fehlt');
    if (signed.split('.').length === 5) throw invalid('verschlüsselte signed_challenge (JWE) wird nicht unterstützt; die JWS unverschlüsselt senden');
    const decoded = decodeCompactJws(signed);
    const x5c = decoded.header.x5c;
    if (!Array.isArray(x5c) || typeof x5c[0] !== 'string') throw invalid('signed_challenge: Header x5c mit dem AUT-Zertifikat fehlt');
    let certDer: Buffer;
    let cert: ReturnType<typeof parseCertificate>;
    try {
      certDer = Buffer.from(x5c[0], 'base64');
      cert = parseCertificate(certDer);
    } catch {
      throw invalid('signed_challenge: x5c ist kein Zertifikat');
    }
    let path: ParsedCertificate[];
    try {
      path = trust.validate(cert, [], new Date(now() * 1000));
    } catch (err) {
      if (err instanceof TrustError) throw new IdpError(401, 'access_denied', `AUT-Zertifikat nicht vertrauenswürdig (${err.rule}): ${err.message}`);
      throw err;
    }
    if (cert.keyUsage && !cert.keyUsage.has('digitalSignature')) throw new IdpError(401, 'access_denied', 'das Zertifikat ist kein AUT-Zertifikat (keyUsage digitalSignature fehlt)');
    try {
      checkJwsSignature(decoded, cert.publicKey);
    } catch (err) {
      throw new IdpError(401, 'access_denied', `signed_challenge: ${(err as Error).message}`);
    }
    // After the signature: only a proven key holder makes the IDP ask the OCSP responder.
    if (options.ocsp && path[1]) await checkRevocation(options.ocsp, cert, path[1]);
    if (typeof decoded.payload.njwt !== 'string') throw invalid('signed_challenge: Claim njwt mit der Challenge fehlt');
    const challenge = ownToken(decoded.payload.njwt, 'challenge');
    const subject = subjectOfCertificate(certDer);
    const iat = now();
    const code = await signJwt(signer, {
      iss: issuerOf(), iat, exp: iat + CODE_LIFETIME, token_type: 'code', jti: randomUUID(), auth_time: iat,
      client_id: challenge.client_id, redirect_uri: challenge.redirect_uri, code_challenge: challenge.code_challenge,
      nonce: challenge.nonce, scope: challenge.scope, subject,
    }, { typ: 'JWT' });
    const location = new URL(String(challenge.redirect_uri));
    location.searchParams.set('code', code);
    location.searchParams.set('state', String(challenge.state));
    return reply.code(302).header('location', location.toString()).send();
  });

  // 3. Code + PKCE verifier -> access token and ID token
  app.post('/token', async (request) => {
    const form = (request.body ?? {}) as Record<string, string | undefined>;
    if (form.grant_type !== 'authorization_code') throw invalid('grant_type muss authorization_code sein', 'unsupported_grant_type');
    if (!form.code) throw invalid('code fehlt');
    if (form.key_verifier && !form.code_verifier) throw invalid('key_verifier (JWE) wird nicht unterstützt; code_verifier unverschlüsselt senden');
    if (!form.code_verifier || !VERIFIER.test(form.code_verifier)) throw invalid('code_verifier fehlt oder hat nicht 43–128 Zeichen aus [A-Za-z0-9-._~]');
    const code = ownToken(form.code, 'code');
    if (form.client_id !== code.client_id) throw invalid('client_id passt nicht zum code', 'invalid_grant');
    if (form.redirect_uri !== code.redirect_uri) throw invalid('redirect_uri passt nicht zum code', 'invalid_grant');
    if (b64urlSha256(form.code_verifier) !== code.code_challenge) throw invalid('code_verifier passt nicht zur code_challenge (PKCE S256)', 'invalid_grant');
    const t = now();
    for (const [jti, exp] of redeemed) if (exp <= t) redeemed.delete(jti);
    if (redeemed.has(String(code.jti))) throw invalid('code wurde bereits eingelöst', 'invalid_grant');
    redeemed.set(String(code.jti), Number(code.exp));

    const subject = code.subject as TokenSubject;
    const tokenOptions = { issuer: issuerOf(), audience, now: t, clientId: String(code.client_id), scope: String(code.scope) };
    const accessToken = await issueAccessToken(signer, subject, tokenOptions);
    const idClaims = {
      ...accessTokenClaims(subject, { ...tokenOptions, audience: String(code.client_id) }),
      auth_time: Number(code.auth_time),
      nonce: code.nonce,
      at_hash: createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url'),
    };
    const idToken = await signJwt(signer, idClaims, { typ: 'JWT' });
    return { access_token: accessToken, id_token: idToken, token_type: 'Bearer', expires_in: ACCESS_TOKEN_LIFETIME_SECONDS };
  });

  if (options.dev) {
    const kimByIdentity = () => new Map((options.kimAccounts?.() ?? []).map((a) => [a.identityId, a]));
    app.get('/dev/identities', async () => {
      const kim = kimByIdentity();
      return identities.map((identity) => devIdentity(identity, kim.get(identity.id)));
    });
    app.post('/dev/token', async (request) => {
      const body = (request.body ?? {}) as { id?: unknown };
      if (typeof body.id !== 'string' || body.id === '') throw invalid('Body {"id": "<identity id>"} erwartet (siehe GET /dev/identities)');
      const identity = identityById(body.id);
      if (!identity) throw new IdpError(404, 'unknown_identity', `Keine Identität ${body.id}; GET /dev/identities listet sie`);
      const accessToken = await issueAccessToken(signer, identity, { issuer: issuerOf(), audience, now: now() });
      return { access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TOKEN_LIFETIME_SECONDS };
    });
  }
  return app;
}

async function checkRevocation(ocsp: OcspChecker, cert: ParsedCertificate, issuer: ParsedCertificate): Promise<void> {
  let result;
  try {
    result = await ocsp.check(cert, issuer);
  } catch (err) {
    if (err instanceof OcspUnavailableError) {
      throw new IdpError(503, 'temporarily_unavailable', `Sperrstatus des AUT-Zertifikats nicht prüfbar (OCSP): ${err.message}`);
    }
    throw err;
  }
  if (result.status === 'revoked') {
    const since = result.revokedAt ? ` seit ${result.revokedAt.toISOString()}` : '';
    throw new IdpError(401, 'access_denied', `AUT-Zertifikat ist gesperrt (OCSP revoked${since}, Grund ${result.reason ?? 'unspecified'}); die Karte kann sich nicht mehr anmelden`);
  }
  if (result.status !== 'good') throw new IdpError(401, 'access_denied', 'AUT-Zertifikat hat keinen gültigen Sperrstatus (OCSP unknown)');
}

function devIdentity(identity: Identity, kim: KimAccountInfo | undefined) {
  return {
    id: identity.id,
    role: identity.role,
    professionOID: identity.professionOID,
    name: identity.name,
    ...(identity.telematikId ? { telematikId: identity.telematikId } : {}),
    ...(identity.kvnr ? { kvnr: identity.kvnr } : {}),
    ...(identity.tenant ? { tenant: identity.tenant } : {}),
    ...(kim
      ? { kim: { address: kim.address, pop3User: kim.pop3User, ...(kim.smtpUser ? { smtpUser: kim.smtpUser } : {}), password: kim.password } }
      : identity.kimLocal ? { kim: { address: kimAddress(identity) } } : {}),
  };
}
