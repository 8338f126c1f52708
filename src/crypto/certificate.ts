// Reading X.509 certificates: the fields chain building needs, the Admission extension (profession OIDs and
// Telematik-ID) and the KVNR of eGK certificates. Certificates are DER Buffers throughout src/crypto.
import { createHash, X509Certificate, type KeyObject } from 'node:crypto';
import {
  bitStringBytes, children, content, DerError, integerHex, isContext, isUniversal, octets, oid, raw, readRoot, string,
  TAG, time, type Tlv,
} from './der.ts';

export const OID = {
  // attribute types of names
  commonName: '2.5.4.3',
  surname: '2.5.4.4',
  serialNumber: '2.5.4.5',
  country: '2.5.4.6',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  title: '2.5.4.12',
  givenName: '2.5.4.42',
  // extensions
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  certificatePolicies: '2.5.29.32',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  admission: '1.3.36.8.3.3',
  ocspAccessMethod: '1.3.6.1.5.5.7.48.1',
  kpOcspSigning: '1.3.6.1.5.5.7.3.9',
  kpClientAuth: '1.3.6.1.5.5.7.3.2',
  // algorithms
  ecPublicKey: '1.2.840.10045.2.1',
  brainpoolP256r1: '1.3.36.3.3.2.8.1.1.7',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

export const HASH_BY_OID: Record<string, string> = {
  [OID.sha1]: 'sha1', [OID.sha256]: 'sha256', [OID.sha384]: 'sha384', [OID.sha512]: 'sha512',
};

export interface Admission {
  professionOIDs: string[];
  professionItems: string[];
  registrationNumber?: string;
}

export interface CertificateIdentity {
  /** Common name of the holder (person or institution). */
  name: string;
  givenName?: string;
  surname?: string;
  organization?: string;
  /** Telematik-ID: registrationNumber of the Admission extension (HBA, SMC-B). */
  telematikId?: string;
  /** KVNR of an eGK certificate: the subject OU that looks like a KVNR (as in gematik's C.CH.AUT). */
  kvnr?: string;
  professionOIDs: string[];
}

export interface ParsedCertificate {
  der: Buffer;
  x509: X509Certificate;
  /** SHA-256 of the DER, hex: the cache key. */
  hash: string;
  /** Lower-case hex, no leading zero octets. */
  serial: string;
  tbs: Buffer;
  /** The AlgorithmIdentifier of the certificate signature, as DER. */
  signatureAlgorithm: Tlv;
  signature: Buffer;
  issuerDer: Buffer;
  subjectDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** Raw SubjectPublicKeyInfo and its key BIT STRING content (for OCSP issuerKeyHash). */
  spki: Buffer;
  publicKeyBits: Buffer;
  publicKey: KeyObject;
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
  isCA: boolean;
  /** keyUsage bits by name, when the extension is present. */
  keyUsage?: Set<KeyUsageName>;
  extKeyUsage: string[];
  ocspUrls: string[];
  subject: { oid: string; value: string }[];
  admission: Admission;
  identity: CertificateIdentity;
  selfIssued: boolean;
}

export type KeyUsageName =
  | 'digitalSignature' | 'nonRepudiation' | 'keyEncipherment' | 'dataEncipherment' | 'keyAgreement' | 'keyCertSign'
  | 'cRLSign' | 'encipherOnly' | 'decipherOnly';
export const KEY_USAGE_BITS: KeyUsageName[] = [
  'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign',
  'encipherOnly', 'decipherOnly',
];

const KVNR_PATTERN = /^[A-Z][0-9]{9}$/;

// Parsed certificates are immutable facts about their bytes, so they are cached by DER hash (bounded).
const CACHE_LIMIT = 5000;
const cache = new Map<string, ParsedCertificate>();

export function sha256(data: Buffer | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Parses a DER certificate (cached). Throws DerError on anything that is not a certificate. */
export function parseCertificate(input: Buffer | Uint8Array | ParsedCertificate): ParsedCertificate {
  if (!(input instanceof Uint8Array)) return input;
  const der = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const hash = sha256(der).toString('hex');
  const hit = cache.get(hash);
  if (hit) return hit;
  const parsed = parseUncached(Buffer.from(der), hash);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(hash, parsed);
  return parsed;
}

function parseUncached(der: Buffer, hash: string): ParsedCertificate {
  const root = readRoot(der);
  const [tbsT, sigAlgT, sigT] = children(root);
  if (!tbsT || !sigAlgT || !sigT || !isUniversal(tbsT, TAG.SEQUENCE)) throw new DerError('not a certificate');
  const tbsItems = children(tbsT);
  let i = 0;
  if (isContext(tbsItems[0], 0)) i++;
  const serialT = tbsItems[i++];
  i++; // inner signature algorithm
  const issuerT = tbsItems[i++];
  const validityT = tbsItems[i++];
  const subjectT = tbsItems[i++];
  const spkiT = tbsItems[i++];
  if (!serialT || !issuerT || !validityT || !subjectT || !spkiT) throw new DerError('incomplete TBSCertificate');
  const [nbT, naT] = children(validityT);
  const spkiParts = children(spkiT);

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch (err) {
    throw new DerError(`certificate rejected by OpenSSL: ${(err as Error).message}`);
  }

  const parsed: ParsedCertificate = {
    der,
    x509,
    hash,
    serial: integerHex(serialT),
    tbs: raw(tbsT),
    signatureAlgorithm: sigAlgT,
    signature: bitStringBytes(sigT),
    issuerDer: raw(issuerT),
    subjectDer: raw(subjectT),
    notBefore: time(nbT),
    notAfter: time(naT),
    spki: raw(spkiT),
    publicKeyBits: bitStringBytes(spkiParts[1]),
    publicKey: x509.publicKey,
    isCA: false,
    extKeyUsage: [],
    ocspUrls: [],
    subject: readName(subjectT),
    admission: { professionOIDs: [], professionItems: [] },
    identity: { name: '', professionOIDs: [] },
    selfIssued: false,
  };
  parsed.selfIssued = parsed.issuerDer.equals(parsed.subjectDer);

  for (; i < tbsItems.length; i++) {
    if (!isContext(tbsItems[i], 3)) continue;
    const [extsT] = children(tbsItems[i]);
    for (const extT of children(extsT)) readExtension(parsed, extT);
  }
  parsed.identity = identityOf(parsed);
  return parsed;
}

function readName(nameT: Tlv): { oid: string; value: string }[] {
  const out: { oid: string; value: string }[] = [];
  for (const rdn of children(nameT)) {
    for (const atv of children(rdn)) {
      const [typeT, valueT] = children(atv);
      out.push({ oid: oid(typeT), value: string(valueT) });
    }
  }
  return out;
}

function readExtension(cert: ParsedCertificate, extT: Tlv): void {
  const parts = children(extT);
  const id = oid(parts[0]);
  const value = octets(parts[parts.length - 1]);
  const v = readRoot(value);
  switch (id) {
    case OID.basicConstraints: {
      const c = children(v);
      cert.isCA = c.length > 0 && isUniversal(c[0], TAG.BOOLEAN) && content(c[0])[0] !== 0;
      break;
    }
    case OID.keyUsage: {
      const bits = content(v);
      const set = new Set<KeyUsageName>();
      KEY_USAGE_BITS.forEach((name, bit) => {
        const byte = bits[1 + (bit >> 3)];
        if (byte !== undefined && byte & (0x80 >> (bit & 7))) set.add(name);
      });
      cert.keyUsage = set;
      break;
    }
    case OID.extKeyUsage:
      cert.extKeyUsage = children(v).map(oid);
      break;
    case OID.subjectKeyIdentifier:
      cert.subjectKeyId = Buffer.from(content(v));
      break;
    case OID.authorityKeyIdentifier: {
      const keyId = children(v).find((c) => isContext(c, 0));
      if (keyId) cert.authorityKeyId = Buffer.from(content(keyId));
      break;
    }
    case OID.authorityInfoAccess:
      for (const ad of children(v)) {
        const [methodT, locationT] = children(ad);
        if (oid(methodT) === OID.ocspAccessMethod && isContext(locationT, 6)) cert.ocspUrls.push(content(locationT).toString('latin1'));
      }
      break;
    case OID.admission:
      cert.admission = readAdmissionSyntax(v);
      break;
  }
}

// AdmissionSyntax (Common PKI / gemSpec_PKI):
//   SEQUENCE { admissionAuthority GeneralName OPTIONAL, contentsOfAdmissions SEQUENCE OF Admissions }
//   Admissions ::= SEQUENCE { [0] admissionAuthority OPTIONAL, [1] namingAuthority OPTIONAL, professionInfos SEQUENCE OF ProfessionInfo }
//   ProfessionInfo ::= SEQUENCE { [0] namingAuthority OPTIONAL, professionItems SEQUENCE OF DirectoryString,
//     professionOIDs SEQUENCE OF OID OPTIONAL, registrationNumber PrintableString OPTIONAL, addProfessionInfo OCTET STRING OPTIONAL }
function readAdmissionSyntax(v: Tlv): Admission {
  const result: Admission = { professionOIDs: [], professionItems: [] };
  const top = children(v);
  const contents = top.find((c) => isUniversal(c, TAG.SEQUENCE));
  if (!contents) return result;
  for (const admissions of children(contents)) {
    const infos = children(admissions).find((c) => isUniversal(c, TAG.SEQUENCE));
    if (!infos) continue;
    for (const info of children(infos)) {
      const parts = children(info).filter((c) => c.cls === 0);
      const [items, ...rest] = parts;
      if (items && isUniversal(items, TAG.SEQUENCE)) result.professionItems.push(...children(items).map(string));
      for (const p of rest) {
        if (isUniversal(p, TAG.SEQUENCE)) result.professionOIDs.push(...children(p).map(oid));
        else if (isUniversal(p, TAG.PRINTABLE_STRING) || isUniversal(p, TAG.UTF8_STRING)) result.registrationNumber ??= string(p);
      }
    }
  }
  return result;
}

function identityOf(cert: ParsedCertificate): CertificateIdentity {
  const first = (o: string) => cert.subject.find((a) => a.oid === o)?.value;
  const kvnr = cert.subject.find((a) => a.oid === OID.organizationalUnit && KVNR_PATTERN.test(a.value))?.value;
  const identity: CertificateIdentity = {
    name: first(OID.commonName) ?? '',
    professionOIDs: cert.admission.professionOIDs,
  };
  const given = first(OID.givenName);
  const surname = first(OID.surname);
  const organization = first(OID.organization);
  if (given) identity.givenName = given;
  if (surname) identity.surname = surname;
  if (organization) identity.organization = organization;
  const reg = cert.admission.registrationNumber;
  if (kvnr) identity.kvnr = kvnr;
  else if (reg && KVNR_PATTERN.test(reg) && cert.admission.professionOIDs.includes('1.2.276.0.76.4.49')) identity.kvnr = reg;
  if (reg && !identity.kvnr) identity.telematikId = reg;
  return identity;
}

export function readAdmission(cert: Buffer | ParsedCertificate): Admission {
  return parseCertificate(cert).admission;
}

export function certificateIdentity(cert: Buffer | ParsedCertificate): CertificateIdentity {
  return parseCertificate(cert).identity;
}

/** Checks that `cert` was signed by `issuer`'s key (OpenSSL does the math for every algorithm). */
export function signedBy(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (!cert.issuerDer.equals(issuer.subjectDer)) return false;
  if (cert.authorityKeyId && issuer.subjectKeyId && !cert.authorityKeyId.equals(issuer.subjectKeyId)) return false;
  try {
    return cert.x509.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** All certificates of a PEM bundle, as DER. */
export function fromPem(pem: string, label = 'CERTIFICATE'): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

/** A short human label for messages: CN and serial. */
export function describe(cert: ParsedCertificate): string {
  return `"${cert.identity.name || cert.subject.map((a) => a.value).join(', ')}" (serial ${cert.serial})`;
}
