// Access tokens as the gematik IDP issues them (ti-components.md §4.2): a JWS signed with BP256R1 (or ES256 by
// config), typ at+JWT, lifetime 300 s, identity claims taken from the card's AUT certificate. Other services' tests
// mint tokens here directly instead of running the IDP.
import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { signJws } from '../crypto/jws.ts';
import type { Identity } from '../seed/identities.ts';
import { algorithmOfKey } from './jwk.ts';

export type IdpAlgorithm = 'BP256R1' | 'ES256';

/** gematik: audience of E-Rezept access tokens. */
export const ERP_AUDIENCE = 'https://erp.telematik.de/login';
/** gematik: access and ID token lifetime, 5 minutes. */
export const ACCESS_TOKEN_LIFETIME_SECONDS = 300;
export const ACR_LOA_HIGH = 'gematik-ehealth-loa-high';
export const ERP_SCOPE = 'openid e-rezept';
/** The IDP's signing key id, as gematik names it. */
export const IDP_SIG_KID = 'puk_idp_sig';

/** What signs tokens: the IDP's private key with its algorithm label and key id (and the certificate for x5c). */
export interface TokenSigner {
  key: KeyObject;
  alg: IdpAlgorithm;
  kid: string;
  /** DER certificate of the signing key; published as x5c. */
  cert?: Buffer;
}

/** The identity claims of a token, as read from an AUT certificate or a seeded identity. */
export interface TokenSubject {
  professionOID: string;
  /** KVNR for an eGK, Telematik-ID for HBA/SMC-B. */
  idNummer: string;
  given_name: string | null;
  family_name: string | null;
  organizationName: string | null;
  display_name: string;
}

export interface AccessTokenClaims extends TokenSubject {
  iss: string;
  sub: string;
  aud: string;
  azp: string;
  client_id: string;
  scope: string;
  acr: string;
  amr: string[];
  auth_time: number;
  iat: number;
  exp: number;
  jti: string;
}

export interface IssueOptions {
  issuer: string;
  audience: string;
  /** Seconds since epoch, or a Date; default now. */
  now?: number | Date;
  lifetimeSeconds?: number;
  clientId?: string;
  scope?: string;
  /** Salt of the pairwise subject; default empty (stable across restarts, fine for a test IDP). */
  subjectSalt?: string;
  /** JWS typ header; gematik marks access tokens `at+JWT`. */
  typ?: string;
}

export const DEFAULT_CLIENT_ID = 'erx-platform';

function isSubject(x: Identity | TokenSubject): x is TokenSubject {
  return typeof (x as TokenSubject).idNummer === 'string';
}

/** Token claims for a seeded identity: persons carry given/family name, institutions organizationName. */
export function subjectOfIdentity(identity: Identity): TokenSubject {
  const idNummer = identity.kvnr ?? identity.telematikId;
  if (!idNummer) throw new Error(`identity ${identity.id} has neither a KVNR nor a Telematik-ID`);
  const person = identity.role === 'physician' || identity.role === 'insured';
  const [given, ...rest] = identity.name.replace(/^(Dr\.\s*(med\.\s*)?)/, '').split(' ');
  return {
    professionOID: identity.professionOID,
    idNummer,
    given_name: person ? (identity.given ?? given ?? null) : null,
    family_name: person ? (identity.family ?? (rest.join(' ') || null)) : null,
    organizationName: person ? null : identity.name,
    display_name: identity.name,
  };
}

function epochSeconds(now: number | Date | undefined): number {
  if (now === undefined) return Math.floor(Date.now() / 1000);
  return now instanceof Date ? Math.floor(now.getTime() / 1000) : Math.floor(now);
}

/** gematik's pairwise subject: b64url(sha256(aud + idNummer + salt)). */
export function pairwiseSubject(audience: string, idNummer: string, salt = ''): string {
  return createHash('sha256').update(audience + idNummer + salt).digest('base64url');
}

/** The claims an access token for `identity` carries. */
export function accessTokenClaims(identity: Identity | TokenSubject, options: IssueOptions): AccessTokenClaims {
  const subject = isSubject(identity) ? identity : subjectOfIdentity(identity);
  const iat = epochSeconds(options.now);
  const clientId = options.clientId ?? DEFAULT_CLIENT_ID;
  return {
    iss: options.issuer,
    sub: pairwiseSubject(options.audience, subject.idNummer, options.subjectSalt),
    aud: options.audience,
    azp: clientId,
    client_id: clientId,
    scope: options.scope ?? ERP_SCOPE,
    acr: ACR_LOA_HIGH,
    amr: ['mfa', 'sc', 'pin'],
    auth_time: iat,
    iat,
    exp: iat + (options.lifetimeSeconds ?? ACCESS_TOKEN_LIFETIME_SECONDS),
    jti: randomUUID(),
    professionOID: subject.professionOID,
    idNummer: subject.idNummer,
    given_name: subject.given_name,
    family_name: subject.family_name,
    organizationName: subject.organizationName,
    display_name: subject.display_name,
  };
}

/** Signs an access token for a seeded identity (or claims read from a certificate). */
export async function issueAccessToken(signer: TokenSigner, identity: Identity | TokenSubject, options: IssueOptions): Promise<string> {
  const claims = accessTokenClaims(identity, options);
  return signJwt(signer, claims, { typ: options.typ ?? 'at+JWT' });
}

/** Signs any claim set with the IDP key (challenges, codes, the discovery document). */
export async function signJwt(signer: TokenSigner, claims: object, options: { typ?: string; withCertificate?: boolean } = {}): Promise<string> {
  if (algorithmOfKey(signer.key) !== signer.alg) throw new Error(`the IDP key's curve does not match ${signer.alg}`);
  return signJws(claims, signer.key, {
    alg: signer.alg,
    kid: signer.kid,
    typ: options.typ ?? 'JWT',
    ...(options.withCertificate && signer.cert ? { x5c: [signer.cert] } : {}),
  });
}
