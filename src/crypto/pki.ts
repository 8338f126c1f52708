// The simulated TI's test PKI: a root CA, sub-CAs for HBA (QES), SMC-B, eGK and TI components, and the
// end-entity certificates of the seeded world. Keys are ECDSA brainpoolP256r1 (as on real cards) or P-256.
// Certificates are built with asn1js and signed with node:crypto (Node's WebCrypto has no brainpool).
//
// Subject names follow the gematik profiles closely enough for our services:
//   HBA (C.HP.QES / AUT / ENC):  CN=<name>, GN=<given>, SN=<surname>, serialNumber=<ICCSN>, C=DE
//   SMC-B (C.HCI.AUT / OSIG / ENC): CN=<institution>, O=<institution>, serialNumber=<ICCSN>, C=DE
//   eGK (C.CH.AUT):             CN=<name>, GN, SN, OU=<KVNR>, O=<payer>, C=DE   (KVNR in the OU, as gematik does;
//                               the Admission carries professionOID .49 and no registrationNumber)
// HBA and SMC-B carry the Admission extension (1.3.36.8.3.3) with professionItems, professionOIDs and
// registrationNumber = Telematik-ID. The ENC certificates (keyAgreement, as for ECC keys) are what the VZD
// publishes as `userCertificate` (ti-components.md §2.1).
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { identities, PROFESSION, type Identity } from '../seed/identities.ts';
import { OID, fromPem, parseCertificate, sha256, toPem, type KeyUsageName } from './certificate.ts';

export { certificateIdentity, readAdmission, parseCertificate, fromPem, toPem } from './certificate.ts';
export type { Admission, CertificateIdentity, ParsedCertificate } from './certificate.ts';

export type Curve = 'brainpoolP256r1' | 'P-256';

export interface KeyAndCert {
  /** The private key. */
  key: KeyObject;
  /** The certificate, DER. */
  cert: Buffer;
  /** Issuing CA certificates up to, excluding, the root (DER). */
  chain: Buffer[];
}

export type CertKind =
  | 'hba-qes' | 'hba-aut' | 'hba-enc' | 'smcb-aut' | 'smcb-osig' | 'smcb-enc' | 'egk-aut' | 'fachdienst' | 'idp' | 'ocsp';

export interface IssueOptions {
  kind: CertKind;
  /** Holder name: CN. */
  name: string;
  givenName?: string;
  surname?: string;
  /** O= (SMC-B: the institution, eGK: the payer). */
  organization?: string;
  telematikId?: string;
  kvnr?: string;
  /** Overrides the kind's default (HBA: physician, SMC-B: practice, eGK: insured). */
  professionOID?: string;
  /** Card serial number for subject serialNumber (HBA/SMC-B). */
  iccsn?: string;
  curve?: Curve;
  notBefore?: Date;
  notAfter?: Date;
  /** Shortcut for tests: valid from six years ago until yesterday. */
  expired?: boolean;
}

export interface TestPki {
  curve: Curve;
  root: KeyAndCert;
  cas: { hba: KeyAndCert; smcb: KeyAndCert; egk: KeyAndCert; component: KeyAndCert };
  /** OCSP URL written into the AIA extension of end-entity certificates. */
  ocspUrl?: string;
  /** Issues a new end-entity certificate (kept in memory only). */
  issue(opts: IssueOptions): KeyAndCert;
  /** The self-signed roots (DER). */
  trustAnchors(): Buffer[];
  /** Root and sub-CA certificates: what `trust-list.pem` holds. */
  trustList(): Buffer[];
}

export type CardType = 'HBA' | 'SMC-B' | 'eGK';

export interface Card {
  /** Card id = seeded identity id (e.g. `physician-berger`). */
  id: string;
  type: CardType;
  iccsn: string;
  identity: Identity;
  aut: KeyAndCert;
  /** HBA only. */
  qes?: KeyAndCert;
  /** SMC-B only: organisation signature. */
  osig?: KeyAndCert;
  /** HBA and SMC-B: encryption certificate (C.HP.ENC / C.HCI.ENC), published in the VZD. */
  enc?: KeyAndCert;
}

export interface LoadedPki extends TestPki {
  dir: string;
  fachdienst: KeyAndCert;
  idp: KeyAndCert;
  ocsp: KeyAndCert;
  /** One card per seeded identity, by identity id. */
  cards: Record<string, Card>;
}

export const PKI_FILE = 'pki.json';
export const TRUST_LIST_FILE = 'trust-list.pem';
export const DEFAULT_OCSP_URL = 'http://localhost:8082/ocsp';

const YEAR_MS = 365.25 * 24 * 3600 * 1000;

const PROFESSION_ITEMS: Record<string, string> = {
  [PROFESSION.physician]: 'Ärztin/Arzt',
  [PROFESSION.dentist]: 'Zahnärztin/Zahnarzt',
  [PROFESSION.pharmacist]: 'Apotheker/-in',
  [PROFESSION.insured]: 'Versicherte/-r',
  [PROFESSION.practice]: 'Betriebsstätte Arzt',
  [PROFESSION.dentalPractice]: 'Zahnarztpraxis',
  [PROFESSION.psychotherapyPractice]: 'Betriebsstätte Psychotherapeut',
  [PROFESSION.hospital]: 'Krankenhaus',
  [PROFESSION.publicPharmacy]: 'Öffentliche Apotheke',
  [PROFESSION.hospitalPharmacy]: 'Krankenhausapotheke',
  [PROFESSION.payer]: 'Betriebsstätte Kostenträger',
  '1.2.276.0.76.4.45': 'Psychotherapeut/-in',
  '1.2.276.0.76.4.46': 'Psychologische/-r Psychotherapeut/-in',
  '1.2.276.0.76.4.47': 'Kinder- und Jugendlichenpsychotherapeut/-in',
};

const NODE_CURVE: Record<Curve, string> = { brainpoolP256r1: 'brainpoolP256r1', 'P-256': 'prime256v1' };

export function generateKey(curve: Curve): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: NODE_CURVE[curve] });
}

// ---------------------------------------------------------------------------------------------------------------
// Certificate building

interface CertTemplate {
  subject: [string, string][];
  publicKey: KeyObject;
  issuer: { key: KeyObject; cert?: Buffer } | 'self';
  privateKeyForSelf?: KeyObject;
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
  keyUsage: KeyUsageName[];
  extKeyUsage?: string[];
  ocspUrl?: string;
  admission?: { professionOIDs: string[]; registrationNumber?: string };
}

const PRINTABLE_ATTRS = new Set<string>([OID.country, OID.serialNumber]);

function encodeName(rdns: [string, string][]): asn1js.Sequence {
  return new asn1js.Sequence({
    value: rdns.map(([type, value]) => new asn1js.Set({
      value: [new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: type }),
          PRINTABLE_ATTRS.has(type) ? new asn1js.PrintableString({ value }) : new asn1js.Utf8String({ value }),
        ],
      })],
    })),
  });
}

function encodeTime(date: Date): asn1js.UTCTime | asn1js.GeneralizedTime {
  // RFC 5280: UTCTime through 2049, GeneralizedTime after; whole seconds.
  const d = new Date(Math.floor(date.getTime() / 1000) * 1000);
  return d.getUTCFullYear() < 2050 ? new asn1js.UTCTime({ valueDate: d }) : new asn1js.GeneralizedTime({ valueDate: d });
}

function extension(oid: string, critical: boolean, value: asn1js.AsnType): asn1js.Sequence {
  const parts: asn1js.AsnType[] = [new asn1js.ObjectIdentifier({ value: oid })];
  if (critical) parts.push(new asn1js.Boolean({ value: true }));
  parts.push(new asn1js.OctetString({ valueHex: value.toBER() }));
  return new asn1js.Sequence({ value: parts });
}

function keyUsageBits(names: KeyUsageName[]): asn1js.BitString {
  const order: KeyUsageName[] = [
    'digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign',
  ];
  let byte = 0;
  for (const n of names) byte |= 0x80 >> order.indexOf(n);
  let unused = 0;
  while (unused < 7 && !(byte & (1 << unused))) unused++;
  return new asn1js.BitString({ valueHex: new Uint8Array([byte]), unusedBits: unused });
}

/** RFC 5280 key identifier: SHA-1 of the subjectPublicKey bits. */
function keyIdentifier(spkiDer: Buffer): Buffer {
  return createHash('sha1').update(parseSpkiBits(spkiDer)).digest();
}

function parseSpkiBits(spkiDer: Buffer): Buffer {
  const spki = asn1js.fromBER(spkiDer).result as asn1js.Sequence;
  const bits = spki.valueBlock.value[1] as asn1js.BitString;
  return Buffer.from(bits.valueBlock.valueHexView);
}

function randomSerial(): Buffer {
  const s = randomBytes(16);
  s[0] = (s[0] & 0x7f) | 0x10; // positive, no leading zero octet
  return s;
}

function buildCertificate(t: CertTemplate): Buffer {
  const spkiDer = t.publicKey.export({ type: 'spki', format: 'der' });
  const issuerCert = t.issuer === 'self' ? undefined : parseCertificate(t.issuer.cert!);
  const signingKey = t.issuer === 'self' ? t.privateKeyForSelf! : t.issuer.key;
  const sigAlg = new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.ecdsaWithSha256 })] });
  const subjectName = encodeName(t.subject);
  const issuerName = issuerCert ? asn1js.fromBER(issuerCert.subjectDer).result : subjectName;
  const ski = keyIdentifier(spkiDer);
  const aki = issuerCert?.subjectKeyId ?? ski;

  const exts: asn1js.Sequence[] = [
    extension(OID.basicConstraints, true, new asn1js.Sequence({ value: t.ca ? [new asn1js.Boolean({ value: true })] : [] })),
    extension(OID.keyUsage, true, keyUsageBits(t.keyUsage)),
    extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: ski })),
    extension(OID.authorityKeyIdentifier, false, new asn1js.Sequence({
      value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: aki })],
    })),
  ];
  if (t.extKeyUsage?.length) {
    exts.push(extension(OID.extKeyUsage, false, new asn1js.Sequence({
      value: t.extKeyUsage.map((value) => new asn1js.ObjectIdentifier({ value })),
    })));
  }
  if (t.ocspUrl) {
    exts.push(extension(OID.authorityInfoAccess, false, new asn1js.Sequence({
      value: [new asn1js.Sequence({
        value: [
          new asn1js.ObjectIdentifier({ value: OID.ocspAccessMethod }),
          new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 6 }, valueHex: Buffer.from(t.ocspUrl, 'latin1') }),
        ],
      })],
    })));
  }
  if (t.admission) exts.push(extension(OID.admission, false, encodeAdmission(t.admission)));

  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: 2 })] }),
      new asn1js.Integer({ valueHex: randomSerial() }),
      sigAlg,
      issuerName,
      new asn1js.Sequence({ value: [encodeTime(t.notBefore), encodeTime(t.notAfter)] }),
      subjectName,
      asn1js.fromBER(spkiDer).result,
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 3 }, value: [new asn1js.Sequence({ value: exts })] }),
    ],
  });
  const tbsDer = Buffer.from(tbs.toBER());
  const signature = sign('sha256', tbsDer, signingKey);
  const cert = new asn1js.Sequence({
    value: [asn1js.fromBER(tbsDer).result, sigAlg, new asn1js.BitString({ valueHex: signature })],
  });
  return Buffer.from(cert.toBER());
}

function encodeAdmission(a: { professionOIDs: string[]; registrationNumber?: string }): asn1js.Sequence {
  const info: asn1js.AsnType[] = [
    new asn1js.Sequence({ value: a.professionOIDs.map((o) => new asn1js.Utf8String({ value: PROFESSION_ITEMS[o] ?? o })) }),
    new asn1js.Sequence({ value: a.professionOIDs.map((value) => new asn1js.ObjectIdentifier({ value })) }),
  ];
  if (a.registrationNumber) info.push(new asn1js.PrintableString({ value: a.registrationNumber }));
  return new asn1js.Sequence({
    value: [new asn1js.Sequence({
      value: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: [new asn1js.Sequence({ value: info })] })] })],
    })],
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The PKI

const CA_NAMES = {
  root: 'ERX-TEST Root-CA',
  hba: 'ERX-TEST HBA-qCA',
  smcb: 'ERX-TEST SMCB-CA',
  egk: 'ERX-TEST EGK-CA',
  component: 'ERX-TEST KOMP-CA',
} as const;
const CA_ORG = 'erx-platform NOT-VALID';

function caName(cn: string): [string, string][] {
  return [[OID.country, 'DE'], [OID.organization, CA_ORG], [OID.commonName, cn]];
}

function makeRoot(curve: Curve, now: Date): KeyAndCert {
  const { privateKey, publicKey } = generateKey(curve);
  const cert = buildCertificate({
    subject: caName(CA_NAMES.root), publicKey, issuer: 'self', privateKeyForSelf: privateKey,
    notBefore: new Date(now.getTime() - 3600_000), notAfter: new Date(now.getTime() + 10 * YEAR_MS),
    ca: true, keyUsage: ['keyCertSign', 'cRLSign'],
  });
  return { key: privateKey, cert, chain: [] };
}

function makeSubCa(root: KeyAndCert, cn: string, curve: Curve, now: Date): KeyAndCert {
  const { privateKey, publicKey } = generateKey(curve);
  const cert = buildCertificate({
    subject: caName(cn), publicKey, issuer: root,
    notBefore: new Date(now.getTime() - 3600_000), notAfter: new Date(now.getTime() + 10 * YEAR_MS),
    ca: true, keyUsage: ['keyCertSign', 'cRLSign'],
  });
  return { key: privateKey, cert, chain: [] };
}

function issuerFor(kind: CertKind, cas: TestPki['cas']): KeyAndCert {
  if (kind.startsWith('hba')) return cas.hba;
  if (kind.startsWith('smcb')) return cas.smcb;
  if (kind.startsWith('egk')) return cas.egk;
  return cas.component;
}

function defaultProfession(kind: CertKind): string | undefined {
  if (kind.startsWith('hba')) return PROFESSION.physician;
  if (kind.startsWith('smcb')) return PROFESSION.practice;
  if (kind.startsWith('egk')) return PROFESSION.insured;
  return undefined;
}

function issueEndEntity(pki: Omit<TestPki, 'issue'>, opts: IssueOptions): KeyAndCert {
  if (!opts.name) throw new Error('issue: name is required');
  const curve = opts.curve ?? pki.curve;
  const ca = issuerFor(opts.kind, pki.cas);
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(opts.expired ? now - 6 * YEAR_MS : now - 3600_000);
  const notAfter = opts.notAfter ?? new Date(opts.expired ? now - 24 * 3600_000 : notBefore.getTime() + 5 * YEAR_MS);
  const { privateKey, publicKey } = generateKey(curve);

  const subject: [string, string][] = [[OID.country, 'DE']];
  if (opts.organization) subject.push([OID.organization, opts.organization]);
  if (opts.kind === 'egk-aut') {
    if (!opts.kvnr) throw new Error('issue: an eGK certificate needs a kvnr');
    subject.push([OID.organizationalUnit, opts.kvnr]);
  }
  if (opts.iccsn) subject.push([OID.serialNumber, opts.iccsn]);
  if (opts.surname) subject.push([OID.surname, opts.surname]);
  if (opts.givenName) subject.push([OID.givenName, opts.givenName]);
  subject.push([OID.commonName, opts.name]);

  const keyUsage: KeyUsageName[] = {
    'hba-qes': ['nonRepudiation'],
    'hba-aut': ['digitalSignature'],
    'hba-enc': ['keyAgreement'],
    'smcb-aut': ['digitalSignature'],
    'smcb-osig': ['nonRepudiation'],
    'smcb-enc': ['keyAgreement'],
    'egk-aut': ['digitalSignature'],
    fachdienst: ['digitalSignature', 'nonRepudiation'],
    idp: ['digitalSignature'],
    ocsp: ['digitalSignature'],
  }[opts.kind] as KeyUsageName[];
  const profession = opts.professionOID ?? defaultProfession(opts.kind);
  const registrationNumber = opts.kind === 'egk-aut' ? undefined : opts.telematikId;

  const cert = buildCertificate({
    subject, publicKey, issuer: ca, notBefore, notAfter, ca: false, keyUsage,
    extKeyUsage: opts.kind === 'ocsp' ? [OID.kpOcspSigning] : opts.kind.endsWith('-aut') ? [OID.kpClientAuth] : undefined,
    ocspUrl: opts.kind === 'ocsp' ? undefined : pki.ocspUrl,
    admission: profession ? { professionOIDs: [profession], registrationNumber } : undefined,
  });
  return { key: privateKey, cert, chain: [ca.cert] };
}

function assemble(curve: Curve, root: KeyAndCert, cas: TestPki['cas'], ocspUrl: string | undefined): TestPki {
  const base = {
    curve, root, cas, ocspUrl,
    trustAnchors: () => [root.cert],
    trustList: () => [root.cert, cas.hba.cert, cas.smcb.cert, cas.egk.cert, cas.component.cert],
  };
  return { ...base, issue: (opts: IssueOptions) => issueEndEntity(base, opts) };
}

/** A fresh PKI in memory (tests). Takes a few milliseconds. */
export function createTestPki(options: { curve?: Curve; ocspUrl?: string } = {}): TestPki {
  const curve = options.curve ?? 'brainpoolP256r1';
  const now = new Date();
  const root = makeRoot(curve, now);
  const cas = {
    hba: makeSubCa(root, CA_NAMES.hba, curve, now),
    smcb: makeSubCa(root, CA_NAMES.smcb, curve, now),
    egk: makeSubCa(root, CA_NAMES.egk, curve, now),
    component: makeSubCa(root, CA_NAMES.component, curve, now),
  };
  return assemble(curve, root, cas, options.ocspUrl);
}

function iccsnFor(index: number): string {
  // ICCSN, 20 digits: 80 (health care) 276 (Germany) 88311 (issuer of the gematik test cards) + 10-digit serial,
  // as in the test-card Telematik-ID `1-HBA-Testkarte-883110000163974`.
  return `8027688311${String(10_000_000_000 + index).slice(1)}`;
}

/** Subject and Admission data of an HBA (person) or SMC-B (institution) certificate. */
function holderOptions(identity: Identity, iccsn: string): Omit<IssueOptions, 'kind'> {
  const base = { name: identity.name, iccsn, telematikId: identity.telematikId, professionOID: identity.professionOID };
  return identity.role === 'physician'
    ? { ...base, givenName: identity.given, surname: identity.family }
    : { ...base, organization: identity.name };
}

function issueEnc(pki: TestPki, card: Pick<Card, 'type' | 'identity' | 'iccsn'>): KeyAndCert {
  return pki.issue({ ...holderOptions(card.identity, card.iccsn), kind: card.type === 'HBA' ? 'hba-enc' : 'smcb-enc' });
}

function cardFor(pki: TestPki, identity: Identity, index: number): Card | undefined {
  const iccsn = iccsnFor(index);
  const holder = holderOptions(identity, iccsn);
  switch (identity.role) {
    case 'physician':
      return {
        id: identity.id, type: 'HBA', iccsn, identity,
        qes: pki.issue({ ...holder, kind: 'hba-qes' }),
        aut: pki.issue({ ...holder, kind: 'hba-aut' }),
        enc: issueEnc(pki, { type: 'HBA', identity, iccsn }),
      };
    case 'practice':
    case 'pharmacy':
    case 'payer':
      return {
        id: identity.id, type: 'SMC-B', iccsn, identity,
        aut: pki.issue({ ...holder, kind: 'smcb-aut' }),
        osig: pki.issue({ ...holder, kind: 'smcb-osig' }),
        enc: issueEnc(pki, { type: 'SMC-B', identity, iccsn }),
      };
    case 'insured':
      return {
        id: identity.id, type: 'eGK', iccsn, identity,
        aut: pki.issue({
          kind: 'egk-aut', name: identity.name, givenName: identity.given, surname: identity.family,
          kvnr: identity.kvnr, organization: identity.coverage?.payer, professionOID: identity.professionOID,
        }),
      };
    default:
      return undefined;
  }
}

/** Builds the full seeded PKI in memory: CAs, service certificates and one card per seeded identity. */
export function createSeededPki(options: { curve?: Curve; ocspUrl?: string; dir?: string } = {}): LoadedPki {
  const pki = createTestPki({ curve: options.curve, ocspUrl: options.ocspUrl ?? DEFAULT_OCSP_URL });
  const cards: Record<string, Card> = {};
  identities.forEach((identity, i) => {
    const card = cardFor(pki, identity, i + 1);
    if (card) cards[card.id] = card;
  });
  return {
    ...pki,
    dir: options.dir ?? '',
    fachdienst: pki.issue({ kind: 'fachdienst', name: 'erx-platform E-Rezept-Fachdienst', organization: CA_ORG }),
    idp: pki.issue({ kind: 'idp', name: 'erx-platform IDP', organization: CA_ORG }),
    ocsp: pki.issue({ kind: 'ocsp', name: 'erx-platform OCSP-Responder', organization: CA_ORG }),
    cards,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Persistence: one JSON file with PEM certificates and PKCS#8 keys, plus the trust list for the Fachdienst.

interface StoredKeyAndCert { key: string; cert: string; chain: string[] }
interface StoredPki {
  version: 1;
  curve: Curve;
  ocspUrl?: string;
  created: string;
  entries: Record<string, StoredKeyAndCert>;
  cards: Record<string, { type: CardType; iccsn: string; certs: Partial<Record<CardSlot, string>> }>;
}

type CardSlot = 'aut' | 'qes' | 'osig' | 'enc';
const CARD_SLOTS: CardSlot[] = ['aut', 'qes', 'osig', 'enc'];

function storeEntry(k: KeyAndCert): StoredKeyAndCert {
  return {
    key: k.key.export({ type: 'pkcs8', format: 'pem' }) as string,
    cert: toPem(k.cert),
    chain: k.chain.map((c) => toPem(c)),
  };
}

function loadEntry(s: StoredKeyAndCert): KeyAndCert {
  return { key: createPrivateKey(s.key), cert: fromPem(s.cert)[0], chain: s.chain.map((c) => fromPem(c)[0]) };
}

export function serializePki(pki: LoadedPki): StoredPki {
  const entries: Record<string, StoredKeyAndCert> = {
    root: storeEntry(pki.root), 'ca-hba': storeEntry(pki.cas.hba), 'ca-smcb': storeEntry(pki.cas.smcb),
    'ca-egk': storeEntry(pki.cas.egk), 'ca-component': storeEntry(pki.cas.component),
    fachdienst: storeEntry(pki.fachdienst), idp: storeEntry(pki.idp), ocsp: storeEntry(pki.ocsp),
  };
  const cards: StoredPki['cards'] = {};
  for (const card of Object.values(pki.cards)) {
    const certs: Partial<Record<CardSlot, string>> = {};
    for (const slot of CARD_SLOTS) {
      const kc = card[slot];
      if (!kc) continue;
      const id = `${card.id}/${slot}`;
      entries[id] = storeEntry(kc);
      certs[slot] = id;
    }
    cards[card.id] = { type: card.type, iccsn: card.iccsn, certs };
  }
  return { version: 1, curve: pki.curve, ocspUrl: pki.ocspUrl, created: new Date().toISOString(), entries, cards };
}

export function deserializePki(stored: StoredPki, dir: string): LoadedPki {
  if (stored.version !== 1) throw new Error(`${PKI_FILE}: unsupported version ${String(stored.version)}`);
  const e = (id: string) => {
    const s = stored.entries[id];
    if (!s) throw new Error(`${PKI_FILE}: entry ${id} missing`);
    return loadEntry(s);
  };
  const root = e('root');
  const cas = { hba: e('ca-hba'), smcb: e('ca-smcb'), egk: e('ca-egk'), component: e('ca-component') };
  const pki = assemble(stored.curve, root, cas, stored.ocspUrl);
  const cards: Record<string, Card> = {};
  for (const [id, c] of Object.entries(stored.cards)) {
    const identity = identities.find((i) => i.id === id);
    if (!identity || !c.certs.aut) continue;
    cards[id] = {
      id, type: c.type, iccsn: c.iccsn, identity, aut: e(c.certs.aut),
      ...(c.certs.qes ? { qes: e(c.certs.qes) } : {}),
      ...(c.certs.osig ? { osig: e(c.certs.osig) } : {}),
      ...(c.certs.enc ? { enc: e(c.certs.enc) } : {}),
    };
  }
  return { ...pki, dir, fachdienst: e('fachdienst'), idp: e('idp'), ocsp: e('ocsp'), cards };
}

/** All certificates of a stored PKI by entry id (`root`, `fachdienst`, `<identity>/aut`, ...), without keys. */
export async function readStoredCertificates(dir: string): Promise<{ id: string; cert: Buffer; card?: string }[]> {
  const stored = JSON.parse(await readFile(join(dir, PKI_FILE), 'utf8')) as StoredPki;
  const cardOf = new Map<string, string>();
  for (const [cardId, c] of Object.entries(stored.cards)) for (const id of Object.values(c.certs)) if (id) cardOf.set(id, cardId);
  return Object.entries(stored.entries).map(([id, s]) => ({ id, cert: fromPem(s.cert)[0], card: cardOf.get(id) }));
}

/**
 * Loads the PKI from `dir` (e.g. `${dataDir}/pki`), creating it on first start. Several processes may start at
 * once: the file is written under a temporary name and linked into place, so the first writer wins and the
 * others load its result.
 */
export async function loadOrCreatePki(dir: string, options: { curve?: Curve; ocspUrl?: string } = {}): Promise<LoadedPki> {
  const file = join(dir, PKI_FILE);
  try {
    return await loadPki(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dir, { recursive: true });
  const pki = createSeededPki({ ...options, dir });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, JSON.stringify(serializePki(pki), null, 1), { mode: 0o600 });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await rm(tmp, { force: true });
    return loadPki(dir);
  }
  await rm(tmp, { force: true });
  await writeTrustList(dir, pki.trustList());
  return pki;
}

export async function loadPki(dir: string): Promise<LoadedPki> {
  const text = await readFile(join(dir, PKI_FILE), 'utf8');
  let stored: StoredPki;
  try {
    stored = JSON.parse(text) as StoredPki;
  } catch {
    throw new Error(`${join(dir, PKI_FILE)} is not valid JSON; delete it to create a new test PKI`);
  }
  const pki = deserializePki(stored, dir);
  if (addMissingEncCertificates(pki)) {
    // A PKI written before cards had ENC certificates: add them once and keep everything else as it was.
    const file = join(dir, PKI_FILE);
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...serializePki(pki), created: stored.created }, null, 1), { mode: 0o600 });
    await rename(tmp, file);
  }
  await writeTrustList(dir, pki.trustList()).catch(() => undefined);
  return pki;
}

function addMissingEncCertificates(pki: LoadedPki): boolean {
  let added = false;
  for (const card of Object.values(pki.cards)) {
    if (card.enc || card.type === 'eGK') continue;
    card.enc = issueEnc(pki, card);
    added = true;
  }
  return added;
}

async function writeTrustList(dir: string, certs: Buffer[]): Promise<void> {
  const file = join(dir, TRUST_LIST_FILE);
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, certs.map((c) => toPem(c)).join(''), { mode: 0o644 });
  await rename(tmp, file);
}

/** The trust list (root and sub-CA certificates, DER) that the Fachdienst loads; needs no private keys. */
export async function loadTrustList(dir: string): Promise<Buffer[]> {
  const certs = fromPem(await readFile(join(dir, TRUST_LIST_FILE), 'utf8'));
  if (certs.length === 0) throw new Error(`${join(dir, TRUST_LIST_FILE)} holds no certificates`);
  return certs;
}

/** Hex SHA-256 of a certificate: a stable handle for logs and caches. */
export function fingerprint(cert: Buffer): string {
  return sha256(cert).toString('hex');
}
