// Revocation for the test PKI: a registry in the data dir (`revoked.json`), an RFC 6960 OCSP responder
// (a handler function and a fastify plugin), an OCSP client, and checkers the Fachdienst calls per signature:
// an in-process one reading the registry directly and an HTTP one, both short-cached.
import { createHash, randomBytes, sign } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import type { FastifyInstance } from 'fastify';
import { OID, HASH_BY_OID, parseCertificate, signedBy, type ParsedCertificate } from './certificate.ts';
import {
  children, content, DerError, integerHex, isContext, isUniversal, octets, oid, raw, readRoot, TAG, time, bitStringBytes,
  type Tlv,
} from './der.ts';
import { readStoredCertificates, type KeyAndCert } from './pki.ts';
import { verifySignatureValue } from './signature.ts';
import type { TrustStore } from './trust.ts';

export type OcspStatus = 'good' | 'revoked' | 'unknown';

export const REVOCATION_REASONS = [
  'unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation',
  'certificateHold', '(unused)', 'removeFromCRL', 'privilegeWithdrawn', 'aACompromise',
] as const;
export type RevocationReason = Exclude<(typeof REVOCATION_REASONS)[number], '(unused)'>;

export interface Revocation {
  /** ISO time of revocation. */
  time: string;
  reason: RevocationReason;
}

export interface OcspResult {
  status: OcspStatus;
  revokedAt?: Date;
  reason?: RevocationReason;
}

/** The OCSP responder could not be asked or gave no usable answer. The Fachdienst answers 512. */
export class OcspUnavailableError extends Error {
  override name = 'OcspUnavailableError';
}

export const REVOKED_FILE = 'revoked.json';
const OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1';
const OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2';

// ---------------------------------------------------------------------------------------------------------------
// Registry

/**
 * Serial (lower-case hex) -> revocation, persisted as `${dir}/revoked.json`. Other processes (the CLI) write the
 * file; lookups re-read it when its mtime changed, checked at most every `reloadMs`.
 */
export class RevocationRegistry {
  private entries: Record<string, Revocation> = {};
  private mtimeMs = -1;
  private checkedAt = 0;

  constructor(readonly dir: string | null, private readonly reloadMs = 1000) {
    this.reload();
  }

  private get file(): string | null {
    return this.dir === null ? null : join(this.dir, REVOKED_FILE);
  }

  private reload(): void {
    const file = this.file;
    if (!file) return;
    const now = Date.now();
    if (now - this.checkedAt < this.reloadMs && this.checkedAt !== 0) return;
    this.checkedAt = now;
    let mtime: number;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      this.entries = {};
      this.mtimeMs = -1;
      return;
    }
    if (mtime === this.mtimeMs) return;
    this.entries = parseRevocations(readFileSync(file, 'utf8'), file);
    this.mtimeMs = mtime;
  }

  lookup(serial: string): Revocation | undefined {
    this.reload();
    return this.entries[normalizeSerialInput(serial)];
  }

  all(): Record<string, Revocation> {
    this.reload();
    return { ...this.entries };
  }

  /** In-memory registries only (tests); persistent ones are changed with `revokeCertificate`. */
  revoke(serial: string, reason: RevocationReason = 'keyCompromise', at = new Date()): void {
    if (this.dir !== null) throw new Error('use revokeCertificate(dir, ...) for a persistent registry');
    this.entries[normalizeSerialInput(serial)] = { time: at.toISOString(), reason };
  }
}

function parseRevocations(text: string, file: string): Record<string, Revocation> {
  try {
    const data = JSON.parse(text) as Record<string, Revocation>;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('not an object');
    return data;
  } catch (err) {
    // A broken registry must not silently mean "nothing revoked".
    throw new OcspUnavailableError(`${file} is unreadable: ${(err as Error).message}`);
  }
}

function normalizeSerialInput(serial: string): string {
  const hex = serial.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) throw new Error(`not a hex serial number: ${serial}`);
  const h = hex.replace(/^(00)+(?=..)/, '');
  return h.length % 2 ? `0${h}` : h;
}

/**
 * Revokes a certificate by serial (hex, colons allowed), PKI entry id (`physician-berger/qes`) or card id
 * (`physician-berger`: every certificate of that card). Returns the revoked serials.
 */
export async function revokeCertificate(
  dir: string, serialOrCardId: string, reason: RevocationReason = 'keyCompromise', at = new Date(),
): Promise<string[]> {
  if (!REVOCATION_REASONS.includes(reason) || reason === ('(unused)' as RevocationReason)) throw new Error(`unknown revocation reason: ${reason}`);
  let stored: { id: string; cert: Buffer; card?: string }[] = [];
  try {
    stored = await readStoredCertificates(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const matches = stored.filter((s) => s.id === serialOrCardId || s.card === serialOrCardId);
  let serials = matches.map((s) => parseCertificate(s.cert).serial);
  if (serials.length === 0) {
    if (!/^[0-9a-fA-F:]{2,}$/.test(serialOrCardId)) throw new Error(`no card, certificate or serial "${serialOrCardId}" in ${dir}`);
    serials = [normalizeSerialInput(serialOrCardId)];
  }
  const file = join(dir, REVOKED_FILE);
  let entries: Record<string, Revocation> = {};
  try {
    entries = parseRevocations(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const s of serials) entries[s] ??= { time: at.toISOString(), reason };
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(entries, null, 1)}\n`);
  await rename(tmp, file);
  return serials;
}

// ---------------------------------------------------------------------------------------------------------------
// CertID (RFC 6960 4.1.1)

interface CertIdParts { hashOid: string; nameHash: Buffer; keyHash: Buffer; serial: string; der: Buffer }

function certIdFor(cert: ParsedCertificate, issuer: ParsedCertificate, hashOid: string = OID.sha1): CertIdParts {
  const alg = HASH_BY_OID[hashOid];
  const nameHash = createHash(alg).update(issuer.subjectDer).digest();
  const keyHash = createHash(alg).update(issuer.publicKeyBits).digest();
  const der = Buffer.from(new asn1js.Sequence({
    value: [
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: hashOid }), new asn1js.Null()] }),
      new asn1js.OctetString({ valueHex: nameHash }),
      new asn1js.OctetString({ valueHex: keyHash }),
      new asn1js.Integer({ valueHex: Buffer.from(cert.serial, 'hex') }),
    ],
  }).toBER());
  return { hashOid, nameHash, keyHash, serial: cert.serial, der };
}

function readCertId(t: Tlv): CertIdParts {
  const [algT, nameT, keyT, serialT] = children(t);
  const hashOid = oid(children(algT)[0]);
  if (!HASH_BY_OID[hashOid]) throw new DerError(`unsupported CertID hash ${hashOid}`);
  return { hashOid, nameHash: octets(nameT), keyHash: octets(keyT), serial: integerHex(serialT), der: raw(t) };
}

function issuedBy(id: CertIdParts, issuer: ParsedCertificate): boolean {
  const alg = HASH_BY_OID[id.hashOid];
  return createHash(alg).update(issuer.subjectDer).digest().equals(id.nameHash)
    && createHash(alg).update(issuer.publicKeyBits).digest().equals(id.keyHash);
}

// ---------------------------------------------------------------------------------------------------------------
// Responder

export interface OcspResponderOptions {
  /** Responder key and certificate (kind 'ocsp'; EKU id-kp-OCSPSigning). */
  signer: KeyAndCert;
  /** The CA certificates whose certificates this responder answers for. */
  issuers: Buffer[];
  registry: RevocationRegistry;
  /** nextUpdate = thisUpdate + this (default 60 minutes). */
  validityMinutes?: number;
}

const ENUM = (value: number) => new asn1js.Enumerated({ value });
const GTIME = (d: Date) => new asn1js.GeneralizedTime({ valueDate: new Date(Math.floor(d.getTime() / 1000) * 1000) });
const EXPLICIT = (tagNumber: number, ...value: asn1js.AsnType[]) => new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber }, value });

function errorResponse(status: 1 | 2 | 3 | 5 | 6): Buffer {
  return Buffer.from(new asn1js.Sequence({ value: [ENUM(status)] }).toBER());
}

/** Returns a function from DER OCSPRequest to DER OCSPResponse; never throws (bad input -> malformedRequest). */
export function createOcspResponder(options: OcspResponderOptions): (request: Buffer) => Buffer {
  const signerCert = parseCertificate(options.signer.cert);
  const issuers = options.issuers.map((c) => parseCertificate(c));
  const validityMs = (options.validityMinutes ?? 60) * 60_000;
  const responderKeyHash = createHash('sha1').update(signerCert.publicKeyBits).digest();
  const sigAlg = new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.ecdsaWithSha256 })] });

  return (request: Buffer): Buffer => {
    let requests: CertIdParts[];
    let nonce: Buffer | undefined;
    try {
      ({ requests, nonce } = readOcspRequest(request));
    } catch {
      return errorResponse(1); // malformedRequest
    }
    const now = new Date();
    let responses: asn1js.AsnType[];
    try {
      responses = requests.map((id) => {
        let status: asn1js.AsnType;
        const issuer = issuers.find((i) => issuedBy(id, i));
        const revocation = issuer ? options.registry.lookup(id.serial) : undefined;
        if (!issuer) status = new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 }, valueHex: new ArrayBuffer(0) });
        else if (revocation) {
          status = new asn1js.Constructed({
            idBlock: { tagClass: 3, tagNumber: 1 },
            value: [GTIME(new Date(revocation.time)), EXPLICIT(0, ENUM(Math.max(0, REVOCATION_REASONS.indexOf(revocation.reason))))],
          });
        } else status = new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: new ArrayBuffer(0) });
        return new asn1js.Sequence({
          value: [asn1js.fromBER(id.der).result, status, GTIME(now), EXPLICIT(0, GTIME(new Date(now.getTime() + validityMs)))],
        });
      });
    } catch {
      return errorResponse(2); // internalError (e.g. unreadable registry)
    }
    const responseData: asn1js.AsnType[] = [
      EXPLICIT(2, new asn1js.OctetString({ valueHex: responderKeyHash })),
      GTIME(now),
      new asn1js.Sequence({ value: responses }),
    ];
    if (nonce) {
      responseData.push(EXPLICIT(1, new asn1js.Sequence({
        value: [new asn1js.Sequence({
          value: [new asn1js.ObjectIdentifier({ value: OCSP_NONCE }), new asn1js.OctetString({ valueHex: nonce })],
        })],
      })));
    }
    const tbs = Buffer.from(new asn1js.Sequence({ value: responseData }).toBER());
    const signature = sign('sha256', tbs, options.signer.key);
    const basic = new asn1js.Sequence({
      value: [
        asn1js.fromBER(tbs).result, sigAlg, new asn1js.BitString({ valueHex: signature }),
        EXPLICIT(0, new asn1js.Sequence({ value: [asn1js.fromBER(options.signer.cert).result] })),
      ],
    });
    return Buffer.from(new asn1js.Sequence({
      value: [ENUM(0), EXPLICIT(0, new asn1js.Sequence({
        value: [new asn1js.ObjectIdentifier({ value: OCSP_BASIC }), new asn1js.OctetString({ valueHex: basic.toBER() })],
      }))],
    }).toBER());
  };
}

function readOcspRequest(der: Buffer): { requests: CertIdParts[]; nonce?: Buffer } {
  const [tbsT] = children(readRoot(der));
  const parts = children(tbsT);
  const list = parts.find((p) => isUniversal(p, TAG.SEQUENCE));
  if (!list) throw new DerError('no requestList');
  const requests = children(list).map((r) => readCertId(children(r)[0]));
  if (requests.length === 0 || requests.length > 20) throw new DerError('requestList must hold 1..20 requests');
  let nonce: Buffer | undefined;
  const extsT = parts.find((p) => isContext(p, 2));
  if (extsT) {
    for (const ext of children(children(extsT)[0])) {
      const e = children(ext);
      if (oid(e[0]) === OCSP_NONCE) nonce = octets(e[e.length - 1]);
    }
  }
  return { requests, nonce };
}

/**
 * Fastify plugin: `POST {prefix}` with `application/ocsp-request` and `GET {prefix}/<base64>` (RFC 6960 A.1).
 * Register with `app.register(ocspRoutes, { prefix: '/ocsp', ...options })`.
 */
export async function ocspRoutes(app: FastifyInstance, options: OcspResponderOptions): Promise<void> {
  const respond = createOcspResponder(options);
  app.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: 16 * 1024 }, (_req, body, done) => done(null, body));
  const send = (reply: import('fastify').FastifyReply, der: Buffer) =>
    reply.header('content-type', 'application/ocsp-response').header('cache-control', 'no-store').send(der);
  app.post('/', async (request, reply) => {
    if (!Buffer.isBuffer(request.body)) return send(reply.code(200), errorResponse(1));
    return send(reply, respond(request.body));
  });
  app.get('/*', async (request, reply) => {
    const encoded = decodeURIComponent((request.params as { '*': string })['*'] ?? '');
    return send(reply, respond(Buffer.from(encoded, 'base64')));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Client

export function buildOcspRequest(cert: Buffer | ParsedCertificate, issuer: Buffer | ParsedCertificate, nonce?: Buffer): Buffer {
  const id = certIdFor(parseCertificate(cert), parseCertificate(issuer));
  const tbs: asn1js.AsnType[] = [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [asn1js.fromBER(id.der).result] })] })];
  if (nonce) {
    tbs.push(EXPLICIT(2, new asn1js.Sequence({
      value: [new asn1js.Sequence({
        value: [new asn1js.ObjectIdentifier({ value: OCSP_NONCE }), new asn1js.OctetString({ valueHex: nonce })],
      })],
    })));
  }
  return Buffer.from(new asn1js.Sequence({ value: [new asn1js.Sequence({ value: tbs })] }).toBER());
}

export interface ParseOcspOptions {
  /** Trust for responders that are not the issuing CA itself (TI: responders are trusted via the TSL). */
  trust?: TrustStore;
  nonce?: Buffer;
  now?: Date;
}

/** Reads and checks an OCSPResponse for `cert`. Any defect throws OcspUnavailableError. */
export function parseOcspResponse(
  der: Buffer, cert: Buffer | ParsedCertificate, issuer: Buffer | ParsedCertificate, options: ParseOcspOptions = {},
): OcspResult & { thisUpdate: Date; nextUpdate?: Date } {
  const c = parseCertificate(cert);
  const iss = parseCertificate(issuer);
  const now = options.now ?? new Date();
  try {
    const [statusT, bytesT] = children(readRoot(der));
    const status = content(statusT)[0];
    if (status !== 0) throw new OcspUnavailableError(`OCSP responder answered with status ${status}`);
    const [typeT, basicT] = children(children(bytesT)[0]);
    if (oid(typeT) !== OCSP_BASIC) throw new OcspUnavailableError('OCSP response is not a BasicOCSPResponse');
    const basic = readRoot(octets(basicT));
    const [tbsT, algT, sigT, certsT] = children(basic);
    const responderCerts = certsT && isContext(certsT, 0) ? children(children(certsT)[0]).map((x) => parseCertificate(raw(x))) : [];
    const items = children(tbsT);
    let i = isContext(items[0], 0) ? 1 : 0;
    const responderT = items[i++];
    i++; // producedAt
    const responsesT = items[i++];
    const extsT = items[i];

    const signer = findResponder(responderT, [...responderCerts, iss]);
    if (!signer) throw new OcspUnavailableError('OCSP response signer not found');
    if (!verifySignatureValue(algT, raw(tbsT), signer.publicKey, bitStringBytes(sigT))) {
      throw new OcspUnavailableError('OCSP response signature is invalid');
    }
    authorizeResponder(signer, iss, options.trust, now);

    if (options.nonce) {
      const nonce = extsT && isContext(extsT, 1)
        ? children(children(extsT)[0]).map(children).find((e) => oid(e[0]) === OCSP_NONCE)
        : undefined;
      if (!nonce || !octets(nonce[nonce.length - 1]).equals(options.nonce)) throw new OcspUnavailableError('OCSP nonce mismatch');
    }

    for (const single of children(responsesT)) {
      const parts = children(single);
      const id = readCertId(parts[0]);
      if (id.serial !== c.serial || !issuedBy(id, iss)) continue;
      const statusTlv = parts[1];
      const thisUpdate = time(parts[2]);
      const nextT = parts.slice(3).find((p) => isContext(p, 0));
      const nextUpdate = nextT ? time(children(nextT)[0]) : undefined;
      if (thisUpdate.getTime() > now.getTime() + 5 * 60_000) throw new OcspUnavailableError('OCSP response from the future');
      if (nextUpdate && nextUpdate < now) throw new OcspUnavailableError('OCSP response is outdated');
      if (isContext(statusTlv, 0)) return { status: 'good', thisUpdate, nextUpdate };
      if (isContext(statusTlv, 1)) {
        const rev = children(statusTlv);
        const reasonT = rev.find((r) => isContext(r, 0));
        const code = reasonT ? content(children(reasonT)[0])[0] : 0;
        const reason = (REVOCATION_REASONS[code] ?? 'unspecified') as RevocationReason;
        return { status: 'revoked', revokedAt: time(rev[0]), reason, thisUpdate, nextUpdate };
      }
      return { status: 'unknown', thisUpdate, nextUpdate };
    }
    throw new OcspUnavailableError('OCSP response does not cover the certificate');
  } catch (err) {
    if (err instanceof OcspUnavailableError) throw err;
    throw new OcspUnavailableError(`malformed OCSP response: ${(err as Error).message}`);
  }
}

function findResponder(responderT: Tlv, candidates: ParsedCertificate[]): ParsedCertificate | undefined {
  const inner = children(responderT)[0];
  if (isContext(responderT, 2)) {
    const keyHash = octets(inner);
    return candidates.find((c) => createHash('sha1').update(c.publicKeyBits).digest().equals(keyHash));
  }
  const name = raw(inner);
  return candidates.find((c) => c.subjectDer.equals(name));
}

function authorizeResponder(signer: ParsedCertificate, issuer: ParsedCertificate, trust: TrustStore | undefined, now: Date): void {
  if (signer.hash === issuer.hash) return; // the CA answers itself
  if (!signer.extKeyUsage.includes(OID.kpOcspSigning)) throw new OcspUnavailableError('OCSP signer lacks id-kp-OCSPSigning');
  if (signedBy(signer, issuer) && now >= signer.notBefore && now <= signer.notAfter) return; // delegated by the CA
  if (trust) {
    try {
      trust.validate(signer, [], now);
      return;
    } catch {
      // fall through
    }
  }
  throw new OcspUnavailableError('OCSP signer is not authorised for this issuer');
}

export type OcspTransport = string | ((request: Buffer) => Buffer | Promise<Buffer>);

/** Asks an OCSP responder (URL via HTTP POST, or a function) about one certificate. */
export async function checkOcsp(
  cert: Buffer | ParsedCertificate, issuer: Buffer | ParsedCertificate, transport: OcspTransport,
  options: { trust?: TrustStore; timeoutMs?: number; detailed?: false } = {},
): Promise<OcspStatus> {
  return (await queryOcsp(cert, issuer, transport, options)).status;
}

export async function queryOcsp(
  cert: Buffer | ParsedCertificate, issuer: Buffer | ParsedCertificate, transport: OcspTransport,
  options: { trust?: TrustStore; timeoutMs?: number } = {},
): Promise<OcspResult> {
  const nonce = randomBytes(16);
  const request = buildOcspRequest(cert, issuer, nonce);
  let response: Buffer;
  try {
    if (typeof transport === 'function') response = await transport(request);
    else {
      const res = await fetch(transport, {
        method: 'POST',
        headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
        body: new Uint8Array(request),
        signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      response = Buffer.from(await res.arrayBuffer());
    }
  } catch (err) {
    throw new OcspUnavailableError(`OCSP responder unreachable: ${(err as Error).message}`);
  }
  const { status, revokedAt, reason } = parseOcspResponse(response, cert, issuer, { trust: options.trust, nonce });
  return { status, ...(revokedAt ? { revokedAt, reason } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// Checkers: what verifyCades and the Fachdienst call

export interface OcspChecker {
  /** Status of `cert` (issued by `issuer`). Throws OcspUnavailableError when no answer can be had. */
  check(cert: ParsedCertificate, issuer: ParsedCertificate): Promise<OcspResult>;
}

/** In-process fast path: reads the registry directly (no DER, no HTTP). `issuers` limits which CAs it knows. */
export function createOcspChecker(registry: RevocationRegistry, options: { issuers?: Buffer[] } = {}): OcspChecker {
  const known = options.issuers ? new Set(options.issuers.map((c) => parseCertificate(c).hash)) : undefined;
  return {
    async check(cert, issuer) {
      if (known && !known.has(issuer.hash)) return { status: 'unknown' };
      let revocation: Revocation | undefined;
      try {
        revocation = registry.lookup(cert.serial);
      } catch (err) {
        throw err instanceof OcspUnavailableError ? err : new OcspUnavailableError((err as Error).message);
      }
      return revocation ? { status: 'revoked', revokedAt: new Date(revocation.time), reason: revocation.reason } : { status: 'good' };
    },
  };
}

/** Asks a responder over HTTP (or a transport function), caching answers for `cacheTtlMs` (default 60 s). */
export function createHttpOcspChecker(
  transport: OcspTransport, options: { trust?: TrustStore; cacheTtlMs?: number; timeoutMs?: number } = {},
): OcspChecker {
  const ttl = options.cacheTtlMs ?? 60_000;
  const cache = new Map<string, { at: number; result: OcspResult }>();
  return {
    async check(cert, issuer) {
      const key = `${issuer.hash}:${cert.serial}`;
      const hit = cache.get(key);
      if (hit && Date.now() - hit.at < ttl) return hit.result;
      const result = await queryOcsp(cert, issuer, transport, options);
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { at: Date.now(), result });
      return result;
    },
  };
}

