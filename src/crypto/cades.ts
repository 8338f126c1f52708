// CAdES-BES enveloping signatures (CMS SignedData, RFC 5652 + ESS signingCertificateV2), the shape the Konnektor
// produces for the QES of a prescription and the Fachdienst for its receipts.
// Parsing uses the small DER reader in der.ts and the signature math is node:crypto: pkijs on the WebCrypto
// polyfill is ~20x slower and needs a patch for brainpool (ecosystem.md section 3).
import { createHash, sign, type KeyObject } from 'node:crypto';
import {
  describe, HASH_BY_OID, OID, parseCertificate, sha256, type CertificateIdentity, type ParsedCertificate,
} from './certificate.ts';
import {
  children, content, DerError, enc, integerHex, isContext, isUniversal, octets, oid, raw, readRoot, string, TAG, time, tlv,
  type Tlv,
} from './der.ts';
import { OcspUnavailableError, type OcspChecker, type OcspResult } from './ocsp.ts';
import type { KeyAndCert } from './pki.ts';
import { UnsupportedAlgorithmError, verifySignatureValueAsync } from './signature.ts';
import { TrustError, TrustStore } from './trust.ts';

const CMS = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  signingCertificate: '1.2.840.113549.1.9.16.2.12',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  contentHint: '1.2.840.113549.1.9.16.2.4',
  algorithmProtection: '1.2.840.113549.1.9.52',
  etsiMimeType: '0.4.0.1733.2.1',
  ocspRevocationInfo: '1.3.6.1.5.5.7.16.2',
} as const;

export type CadesRule =
  | 'malformed' | 'unsupported-algorithm' | 'digest-mismatch' | 'bad-signature' | 'untrusted-chain' | 'expired'
  | 'revoked' | 'ocsp-unknown' | 'ocsp-unavailable' | 'not-prescriber';

const GERMAN: Record<CadesRule, string> = {
  malformed: 'Die Signatur ist strukturell ungültig (kein CAdES-BES/PKCS#7 SignedData mit eingebettetem Inhalt).',
  'unsupported-algorithm': 'Der Signatur- oder Hashalgorithmus wird nicht unterstützt.',
  'digest-mismatch': 'Der signierte Inhalt wurde verändert (Hashwert stimmt nicht überein).',
  'bad-signature': 'Die Signatur ist mathematisch ungültig.',
  'untrusted-chain': 'Das Signaturzertifikat ist nicht vertrauenswürdig (keine Zertifikatskette zu einer vertrauenswürdigen CA).',
  expired: 'Das Signaturzertifikat war zum Signaturzeitpunkt nicht gültig.',
  revoked: 'Das Signaturzertifikat ist gesperrt.',
  'ocsp-unknown': 'Der Sperrstatus des Signaturzertifikats ist dem OCSP-Responder unbekannt.',
  'ocsp-unavailable': 'Die OCSP-Prüfung des Signaturzertifikats ist fehlgeschlagen (OCSP Backend Error).',
  'not-prescriber': 'Die Berufsgruppe im Signaturzertifikat ist zur Ausstellung dieser Verordnung nicht berechtigt.',
};

export class CadesError extends Error {
  override name = 'CadesError';
  readonly messageDe: string;
  /** HTTP status the Fachdienst answers with: 512 when OCSP could not be asked, otherwise 400. */
  readonly status: number;
  constructor(readonly rule: CadesRule, message: string, options?: { cause?: unknown }) {
    super(`${rule}: ${message}`, options);
    this.messageDe = GERMAN[rule];
    this.status = rule === 'ocsp-unavailable' ? 512 : 400;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Signing

export interface SignCadesOptions {
  signingTime?: Date;
  /** Only enveloping signatures are made. */
  detached?: false;
  /** DER OCSPResponse for the signer certificate, embedded as RevocationInfoChoice (IncludeRevocationInfo). */
  ocspResponse?: Buffer;
  // The Konnektor's QES for the E-Rezept also carries these signed attributes (ti-components.md §3.2):
  /** ETSI mimeType attribute (0.4.0.1733.2.1) of the signed document, e.g. `text/plain; charset=utf-8`. */
  mimeType?: string;
  /** id-aa-contentHint (RFC 2634) description: the Konnektor's ShortText. Not empty. */
  contentHint?: string;
  /** cmsAlgorithmProtection (RFC 6211): binds the digest and signature algorithm into the signed attributes. */
  algorithmProtection?: boolean;
}

const ALG_SHA256 = enc.seq(enc.oid(OID.sha256), enc.null());
const ALG_ECDSA_SHA256 = enc.seq(enc.oid(OID.ecdsaWithSha256));
// CMSAlgorithmProtection ::= SEQUENCE { digestAlgorithm, signatureAlgorithm [1] IMPLICIT AlgorithmIdentifier }
const ALGORITHM_PROTECTION = enc.seq(ALG_SHA256, Buffer.concat([Buffer.from([0xa1]), ALG_ECDSA_SHA256.subarray(1)]));

const utf8String = (value: string) => tlv(0x0c, Buffer.from(value, 'utf8'));

function attribute(type: string, value: Buffer): Buffer {
  return enc.seq(enc.oid(type), enc.setOf(value));
}

/** DER CMS SignedData (CAdES-BES, enveloping) over `content`, signed with the signer's EC key (SHA-256). */
export function signCades(contentBytes: Buffer, signer: KeyAndCert, options: SignCadesOptions = {}): Buffer {
  const prepared = prepareCades(contentBytes, signer, options);
  return assembleCades(prepared, sign('sha256', prepared.signedAttrsSet, signer.key));
}

/** signCades with the ECDSA signature computed on libuv's thread pool (the event loop stays free meanwhile). */
export async function signCadesAsync(contentBytes: Buffer, signer: KeyAndCert, options: SignCadesOptions = {}): Promise<Buffer> {
  const prepared = prepareCades(contentBytes, signer, options);
  const signature = await new Promise<Buffer>((resolve, reject) => {
    sign('sha256', prepared.signedAttrsSet, signer.key, (err, value) => (err ? reject(err) : resolve(value)));
  });
  return assembleCades(prepared, signature);
}

interface PreparedCades {
  contentBytes: Buffer;
  signer: KeyAndCert;
  options: SignCadesOptions;
  cert: ParsedCertificate;
  issuerAndSerial: Buffer;
  signedAttrsSet: Buffer;
}

/** Everything before the signature value: the signed attributes to sign. */
function prepareCades(contentBytes: Buffer, signer: KeyAndCert, options: SignCadesOptions): PreparedCades {
  if (options.detached) throw new Error('signCades makes enveloping signatures only');
  assertEcKey(signer.key);
  const cert = parseCertificate(signer.cert);
  const signingTime = options.signingTime ?? new Date();
  const issuerAndSerial = enc.seq(cert.issuerDer, enc.integer(Buffer.from(cert.serial, 'hex')));
  const essCertIdV2 = enc.seq(
    enc.octetString(sha256(cert.der)),
    enc.seq(enc.seq(enc.explicit(4, cert.issuerDer)), enc.integer(Buffer.from(cert.serial, 'hex'))),
  );
  const attrs = [
    attribute(CMS.contentType, enc.oid(CMS.data)),
    attribute(CMS.signingTime, enc.utcTime(signingTime)),
    attribute(CMS.messageDigest, enc.octetString(sha256(contentBytes))),
    attribute(CMS.signingCertificateV2, enc.seq(enc.seq(essCertIdV2))),
  ];
  if (options.mimeType !== undefined) {
    if (options.mimeType === '') throw new Error('signCades: mimeType must not be empty');
    attrs.push(attribute(CMS.etsiMimeType, utf8String(options.mimeType)));
  }
  if (options.contentHint !== undefined) {
    if (options.contentHint === '') throw new Error('signCades: contentHint must not be empty');
    // ContentHints ::= SEQUENCE { contentDescription UTF8String OPTIONAL, contentType }
    attrs.push(attribute(CMS.contentHint, enc.seq(utf8String(options.contentHint), enc.oid(CMS.data))));
  }
  if (options.algorithmProtection) attrs.push(attribute(CMS.algorithmProtection, ALGORITHM_PROTECTION));
  const signedAttrsSet = enc.setOf(...attrs);
  return { contentBytes, signer, options, cert, issuerAndSerial, signedAttrsSet };
}

/** The SignedData around the signature value. */
function assembleCades({ contentBytes, signer, options, cert, issuerAndSerial, signedAttrsSet }: PreparedCades, signature: Buffer): Buffer {
  const signedAttrs = Buffer.concat([Buffer.from([0xa0]), signedAttrsSet.subarray(1)]); // [0] IMPLICIT SET

  const signerInfo = enc.seq(
    enc.integer(1), issuerAndSerial, ALG_SHA256, signedAttrs, ALG_ECDSA_SHA256, enc.octetString(signature),
  );
  const certificates = enc.implicitConstructed(0, cert.der, ...signer.chain);
  const revocation = options.ocspResponse
    ? [enc.implicitConstructed(1, enc.implicitConstructed(1, enc.oid(CMS.ocspRevocationInfo), options.ocspResponse))]
    : [];
  const signedData = enc.seq(
    enc.integer(revocation.length ? 5 : 1),
    enc.setOf(ALG_SHA256),
    enc.seq(enc.oid(CMS.data), enc.explicit(0, enc.octetString(contentBytes))),
    certificates,
    ...revocation,
    enc.setOf(signerInfo),
  );
  return enc.seq(enc.oid(CMS.signedData), enc.explicit(0, signedData));
}

function assertEcKey(key: KeyObject): void {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec') throw new Error('signCades needs an EC private key');
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

interface ParsedCades {
  content: Buffer;
  certificates: ParsedCertificate[];
  digestOid: string;
  signedAttrsForSignature: Buffer;
  digestAlgorithm: Tlv;
  signatureAlgorithm: Tlv;
  signature: Buffer;
  sid: { issuer: Buffer; serial: string } | { keyId: Buffer };
  contentType?: string;
  messageDigest?: Buffer;
  signingTime?: Date;
  essCertHash?: { hash: string; value: Buffer };
  mimeType?: string;
  contentHint?: string;
  algorithmProtection?: { digestAlgorithm: Tlv; signatureAlgorithm?: Tlv };
  embeddedOcsp: Buffer[];
}

function parseCades(der: Buffer): ParsedCades {
  const root = readRoot(der);
  const [typeT, wrapT] = children(root);
  if (oid(typeT) !== CMS.signedData) throw new DerError('not a CMS SignedData');
  if (!wrapT || !isContext(wrapT, 0)) throw new DerError('SignedData missing');
  const sd = children(children(wrapT)[0]);
  const encap = children(sd[2]);
  const eContentType = oid(encap[0]);
  if (eContentType !== CMS.data) throw new DerError(`eContentType ${eContentType} is not id-data`);
  if (!encap[1] || !isContext(encap[1], 0)) throw new DerError('no embedded content (detached signatures are not accepted)');
  const contentBytes = octets(children(encap[1])[0]);

  const certificates: ParsedCertificate[] = [];
  const embeddedOcsp: Buffer[] = [];
  let signerInfosT: Tlv | undefined;
  for (const t of sd.slice(3)) {
    if (isContext(t, 0)) {
      for (const c of children(t)) if (isUniversal(c, TAG.SEQUENCE)) certificates.push(parseCertificate(raw(c)));
    } else if (isContext(t, 1)) {
      for (const r of children(t)) {
        if (!isContext(r, 1)) continue;
        const [fmt, info] = children(r);
        if (oid(fmt) === CMS.ocspRevocationInfo && info) embeddedOcsp.push(Buffer.from(raw(info)));
      }
    } else if (isUniversal(t, TAG.SET)) signerInfosT = t;
  }
  if (!signerInfosT) throw new DerError('no signerInfos');
  const signerInfos = children(signerInfosT);
  if (signerInfos.length !== 1) throw new DerError(`expected exactly one SignerInfo, found ${signerInfos.length}`);
  const si = children(signerInfos[0]);
  const sidT = si[1];
  const sid = isContext(sidT, 0)
    ? { keyId: content(sidT) }
    : (() => {
      const [issuerT, serialT] = children(sidT);
      return { issuer: raw(issuerT), serial: integerHex(serialT) };
    })();
  const digestAlgorithm = si[2];
  const digestOid = oid(children(digestAlgorithm)[0]);
  const signedAttrsT = si[3];
  if (!signedAttrsT || !isContext(signedAttrsT, 0)) throw new DerError('no signed attributes');
  const signatureAlgorithm = si[4];
  const signature = octets(si[5]);

  const parsed: ParsedCades = {
    content: contentBytes, certificates, digestOid, digestAlgorithm, signatureAlgorithm, signature, sid, embeddedOcsp,
    // The signature covers the DER of the attributes with the SET tag instead of [0] IMPLICIT.
    signedAttrsForSignature: Buffer.concat([Buffer.from([0x31]), der.subarray(signedAttrsT.start + 1, signedAttrsT.end)]),
  };
  for (const attr of children(signedAttrsT)) {
    const [attrTypeT, valuesT] = children(attr);
    const [value] = children(valuesT);
    switch (oid(attrTypeT)) {
      case CMS.contentType: parsed.contentType = oid(value); break;
      case CMS.messageDigest: parsed.messageDigest = octets(value); break;
      case CMS.signingTime: parsed.signingTime = time(value); break;
      case CMS.signingCertificateV2: {
        const [essCertId] = children(children(value)[0]);
        const parts = children(essCertId);
        const hasAlg = isUniversal(parts[0], TAG.SEQUENCE);
        const hashOid = hasAlg ? oid(children(parts[0])[0]) : OID.sha256;
        parsed.essCertHash = { hash: HASH_BY_OID[hashOid] ?? hashOid, value: octets(parts[hasAlg ? 1 : 0]) };
        break;
      }
      case CMS.signingCertificate: {
        const [essCertId] = children(children(value)[0]);
        parsed.essCertHash = { hash: 'sha1', value: octets(children(essCertId)[0]) };
        break;
      }
      case CMS.etsiMimeType: parsed.mimeType = string(value); break;
      case CMS.contentHint: {
        const [description] = children(value);
        if (description && !isUniversal(description, TAG.OID)) parsed.contentHint = string(description);
        break;
      }
      case CMS.algorithmProtection: {
        const [digestAlgorithm, ...rest] = children(value);
        if (!digestAlgorithm || !isUniversal(digestAlgorithm, TAG.SEQUENCE)) throw new DerError('cmsAlgorithmProtection without digestAlgorithm');
        parsed.algorithmProtection = { digestAlgorithm, signatureAlgorithm: rest.find((t) => isContext(t, 1)) };
        break;
      }
    }
  }
  return parsed;
}

/** The signed content of a CAdES signature, without any verification (e.g. to show a stored prescription). */
export function extractCadesContent(der: Buffer): Buffer {
  try {
    return parseCades(der).content;
  } catch (err) {
    throw new CadesError('malformed', (err as Error).message, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Verification

export interface VerifyCadesOptions {
  /** Preferred: a TrustStore built once (its CA-path cache makes repeated verification fast). */
  trust?: TrustStore;
  trustAnchors?: Buffer[];
  intermediates?: Buffer[];
  /** Time for the validity check; default the signingTime, else now. */
  at?: Date;
  ocsp?: OcspChecker;
  /** The signer certificate must hold one of these profession OIDs (e.g. physician/dentist for $activate). */
  requireProfessionOIDs?: readonly string[];
}

export interface VerifiedCades {
  content: Buffer;
  /** Signer certificate, DER. */
  signer: Buffer;
  signerCertificate: ParsedCertificate;
  /** Signer certificate up to and including the trust anchor. */
  chain: Buffer[];
  identity: CertificateIdentity;
  signingTime?: Date;
  /** The messageDigest over which the signature was made (the receipt's GEM_ERP_PR_Digest). */
  messageDigest: Buffer;
  /** ETSI mimeType signed attribute, if present. */
  mimeType?: string;
  /** id-aa-contentHint description (the Konnektor's ShortText), if present. */
  contentHint?: string;
  ocsp?: OcspResult;
}

const trustStores = new WeakMap<Buffer[], TrustStore>();

function trustFor(options: VerifyCadesOptions): TrustStore {
  if (options.trust) return options.trust;
  if (!options.trustAnchors?.length) throw new Error('verifyCades needs trust or trustAnchors');
  let store = trustStores.get(options.trustAnchors);
  if (!store) {
    store = new TrustStore(options.trustAnchors, options.intermediates ?? []);
    trustStores.set(options.trustAnchors, store);
  }
  return store;
}

/** Verifies a CAdES-BES enveloping signature. Every failure is a CadesError naming the rule. */
export async function verifyCades(der: Buffer, options: VerifyCadesOptions): Promise<VerifiedCades> {
  const trust = trustFor(options);
  let cms: ParsedCades;
  try {
    if (!Buffer.isBuffer(der) || der.length === 0) throw new DerError('empty input');
    cms = parseCades(der);
  } catch (err) {
    throw new CadesError('malformed', err instanceof DerError ? err.message : `unreadable CMS: ${(err as Error).message}`, { cause: err });
  }

  // Signed attributes and content digest
  const hash = HASH_BY_OID[cms.digestOid];
  if (!hash || hash === 'sha1') throw new CadesError('unsupported-algorithm', `digest algorithm ${cms.digestOid} is not accepted`);
  if (cms.contentType !== CMS.data) throw new CadesError('malformed', 'signed attribute contentType missing or not id-data');
  if (!cms.messageDigest) throw new CadesError('malformed', 'signed attribute messageDigest missing');
  const digest = createHash(hash).update(cms.content).digest();
  if (!digest.equals(cms.messageDigest)) throw new CadesError('digest-mismatch', 'messageDigest does not match the content');

  // Signer certificate and signature
  const signer = cms.certificates.find((c) => 'keyId' in cms.sid
    ? c.subjectKeyId?.equals(cms.sid.keyId)
    : c.serial === cms.sid.serial && c.issuerDer.equals(cms.sid.issuer));
  if (!signer) throw new CadesError('malformed', 'the signer certificate is not included in the CMS');
  let ok: boolean;
  try {
    ok = await verifySignatureValueAsync(cms.signatureAlgorithm, cms.signedAttrsForSignature, signer.publicKey, cms.signature, cms.digestOid);
  } catch (err) {
    if (err instanceof UnsupportedAlgorithmError) throw new CadesError('unsupported-algorithm', err.message);
    throw new CadesError('malformed', (err as Error).message, { cause: err });
  }
  if (!ok) throw new CadesError('bad-signature', `signature of ${describe(signer)} does not verify`);
  if (cms.algorithmProtection) checkAlgorithmProtection(cms, cms.algorithmProtection);
  if (cms.essCertHash) {
    const actual = createHash(cms.essCertHash.hash).update(signer.der).digest();
    if (!actual.equals(cms.essCertHash.value)) throw new CadesError('bad-signature', 'signingCertificate attribute does not match the signer certificate');
  }

  // Chain and validity
  const at = options.at ?? cms.signingTime ?? new Date();
  let path: ParsedCertificate[];
  try {
    path = trust.validate(signer, cms.certificates, at);
  } catch (err) {
    if (err instanceof TrustError) throw new CadesError(err.rule, err.message);
    throw err;
  }

  // Revocation
  let ocsp: OcspResult | undefined;
  if (options.ocsp && path.length > 1) {
    try {
      ocsp = await options.ocsp.check(signer, path[1]);
    } catch (err) {
      if (err instanceof OcspUnavailableError) throw new CadesError('ocsp-unavailable', err.message, { cause: err });
      throw err;
    }
    if (ocsp.status === 'revoked') {
      throw new CadesError('revoked', `certificate ${describe(signer)} revoked${ocsp.revokedAt ? ` at ${ocsp.revokedAt.toISOString()}` : ''} (${ocsp.reason ?? 'unspecified'})`);
    }
    if (ocsp.status === 'unknown') throw new CadesError('ocsp-unknown', `OCSP responder does not know ${describe(signer)}`);
  }

  // Profession
  const identity = signer.identity;
  if (options.requireProfessionOIDs && !identity.professionOIDs.some((o) => options.requireProfessionOIDs!.includes(o))) {
    throw new CadesError('not-prescriber', `signer ${describe(signer)} holds profession ${identity.professionOIDs.join(', ') || 'none'}, required one of ${options.requireProfessionOIDs.join(', ')}`);
  }

  return {
    content: cms.content,
    signer: signer.der,
    signerCertificate: signer,
    chain: path.map((c) => c.der),
    identity,
    signingTime: cms.signingTime,
    messageDigest: cms.messageDigest,
    ...(cms.mimeType !== undefined ? { mimeType: cms.mimeType } : {}),
    ...(cms.contentHint !== undefined ? { contentHint: cms.contentHint } : {}),
    ocsp,
  };
}

/** An AlgorithmIdentifier's OID and parameters, with absent and NULL parameters treated alike. */
function algorithmKey(t: Tlv): string {
  const [algOid, params] = children(t);
  const p = params && !isUniversal(params, TAG.NULL) ? raw(params).toString('hex') : '';
  return `${oid(algOid)}:${p}`;
}

/** RFC 6211: the protected algorithms must be the ones the SignerInfo names (else: algorithm substitution). */
function checkAlgorithmProtection(cms: ParsedCades, protection: NonNullable<ParsedCades['algorithmProtection']>): void {
  let same: boolean;
  try {
    same = algorithmKey(protection.digestAlgorithm) === algorithmKey(cms.digestAlgorithm)
      && (!protection.signatureAlgorithm || algorithmKey(protection.signatureAlgorithm) === algorithmKey(cms.signatureAlgorithm));
  } catch (err) {
    throw new CadesError('malformed', `cmsAlgorithmProtection: ${(err as Error).message}`, { cause: err });
  }
  if (!same) throw new CadesError('bad-signature', 'cmsAlgorithmProtection does not match the algorithms of the SignerInfo');
}
