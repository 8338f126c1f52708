// The one data source of the simulated VZD: directory entries built from the seeded identities. The LDAP view
// (./ldap-server.ts) and the FHIR view (./fhir-resources.ts) both derive from these entries, so they always agree.
import { createHash } from 'node:crypto';
import { identities as seededIdentities, kimAddress, PROFESSION, type Identity } from '../seed/identities.ts';

export const BASE_DN = 'dc=data,dc=vzd';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

export interface OpeningHours {
  days: Weekday[];
  /** HH:MM:SS, local time. */
  open: string;
  close: string;
}

/** A pharmacy's service codes (gematik PharmacyHealthcareSpecialtyCS): 10 Handverkauf, 30 Botendienst, 40 Versand. */
export type PharmacySpecialty = '10' | '30' | '40';

export interface DirectoryEntry {
  /** LDAP `uid`, a name-based UUID of the Telematik-ID (stable across restarts). */
  uid: string;
  /** `uid=<uid>,dc=data,dc=vzd` */
  dn: string;
  /** Id of the seeded identity this entry is built from. */
  identityId: string;
  /** SMC-B institution or HBA person (LDAP `personalEntry`). */
  kind: 'organization' | 'person';
  telematikID: string;
  professionOID: string;
  /** Persons: "Dr. med. Berger, Hanna"; institutions: their name. */
  displayName: string;
  givenName?: string;
  sn?: string;
  title?: string;
  /** The institution's name (for persons: the institution they work at). */
  organization?: string;
  /** Persons: uid of their institution's entry. */
  organizationUid?: string;
  streetAddress?: string;
  postalCode?: string;
  localityName?: string;
  stateOrProvinceName?: string;
  countryCode: string;
  /** BSNR for practices, IK for payers. */
  domainID: string[];
  /** `urn:as:<OID>:<code>` (persons) or `urn:psc:<OID>:<code>` (institutions). */
  specialization: string[];
  /** KIM addresses. */
  mail: string[];
  /** `<mail>,<version>[+][,<appTag>|…]` */
  kimData: string[];
  /** `<version>,<mail>` */
  komLeData: string[];
  holder: string[];
  phone?: string;
  position?: { latitude: number; longitude: number };
  openingHours: OpeningHours[];
  pharmacySpecialties: PharmacySpecialty[];
  changeDateTime: string;
}

const KIM_VERSION = '1.5';
/** When the seeded directory data was "last synchronised" (fixed, so responses are reproducible). */
const CHANGE_DATE_TIME = '2025-01-02T08:00:00Z';
const PSC_OID = '1.3.6.1.4.1.19376.3.276.1.5.4'; // IHE-D Patientenbezogene Gesundheitsversorgung
const NAMESPACE = 'erx-platform/vzd';

/** Name-based (v5-style, SHA-1) UUID, so an entry keeps its uid across restarts. */
export function nameUuid(name: string): string {
  const h = createHash('sha1').update(`${NAMESPACE}:${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// KV-region style state names, as the VZD writes them (Köln/Düsseldorf are "Nordrhein").
const STATE_OF_CITY: Record<string, string> = {
  Berlin: 'Berlin', Potsdam: 'Brandenburg', Hamburg: 'Hamburg', München: 'Bayern', Nürnberg: 'Bayern',
  Köln: 'Nordrhein', Düsseldorf: 'Nordrhein', 'Frankfurt am Main': 'Hessen', Stuttgart: 'Baden-Württemberg',
  Leipzig: 'Sachsen', Dresden: 'Sachsen', Hannover: 'Niedersachsen', Bremen: 'Bremen',
};

const WEEKDAYS: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

/** Opening hours vary a little by pharmacy so the app has something to show; derived, not random. */
function pharmacyOpeningHours(index: number): OpeningHours[] {
  const hours: OpeningHours[] = [{ days: WEEKDAYS, open: index % 3 === 0 ? '08:00:00' : '08:30:00', close: index % 2 === 0 ? '19:00:00' : '18:30:00' }];
  if (index % 4 !== 3) hours.push({ days: ['sat'], open: '09:00:00', close: index % 2 === 0 ? '16:00:00' : '14:00:00' });
  return hours;
}

function pharmacySpecialties(index: number): PharmacySpecialty[] {
  const codes: PharmacySpecialty[] = ['10'];
  if (index % 2 === 0) codes.push('30');
  if (index % 5 === 1) codes.push('40');
  return codes;
}

function kimFields(identity: Identity, appTags: string[]): Pick<DirectoryEntry, 'mail' | 'kimData' | 'komLeData'> {
  const mail = kimAddress(identity);
  if (!mail) return { mail: [], kimData: [], komLeData: [] };
  return {
    mail: [mail],
    kimData: [`${mail},${KIM_VERSION}${appTags.length ? ',' + appTags.join('|') : ''}`],
    komLeData: [`${KIM_VERSION},${mail}`],
  };
}

function addressFields(identity: Identity | undefined): Pick<DirectoryEntry, 'streetAddress' | 'postalCode' | 'localityName' | 'stateOrProvinceName'> {
  const a = identity?.address;
  if (!a) return {};
  return { streetAddress: a.line, postalCode: a.postalCode, localityName: a.city, stateOrProvinceName: STATE_OF_CITY[a.city] };
}

/** "Dr. med. Hanna Berger" with given "Hanna", family "Berger" -> title "Dr. med.". */
function titleOf(identity: Identity): string | undefined {
  if (!identity.given || !identity.family) return undefined;
  const rest = identity.name.replace(identity.given, '').replace(identity.family, '').replace(/\s+/g, ' ').trim();
  return rest || undefined;
}

function buildEntry(identity: Identity, all: Identity[]): DirectoryEntry | undefined {
  const telematikID = identity.telematikId;
  if (!telematikID) return undefined; // insured people are not in the VZD
  const uid = nameUuid(telematikID);
  const base = {
    uid,
    dn: `uid=${uid},${BASE_DN}`,
    identityId: identity.id,
    telematikID,
    professionOID: identity.professionOID,
    countryCode: 'DE',
    phone: identity.phone,
    position: identity.position,
    openingHours: [] as OpeningHours[],
    pharmacySpecialties: [] as PharmacySpecialty[],
    changeDateTime: CHANGE_DATE_TIME,
  };
  switch (identity.role) {
    case 'physician': {
      const org = all.find((i) => i.id === identity.organization);
      const title = titleOf(identity);
      return {
        ...base,
        kind: 'person',
        displayName: `${title ? title + ' ' : ''}${identity.family}, ${identity.given}`,
        givenName: identity.given,
        sn: identity.family,
        title,
        organization: org?.name,
        organizationUid: org?.telematikId ? nameUuid(org.telematikId) : undefined,
        ...addressFields(org),
        phone: identity.phone ?? org?.phone,
        domainID: [],
        specialization: ['urn:as:1.2.276.0.76.5.114:010'], // Allgemeinmedizin
        ...kimFields(identity, ['eRezept', 'Arztbrief']),
        holder: ['aek'],
      };
    }
    case 'practice':
      return {
        ...base,
        kind: 'organization',
        displayName: identity.name,
        organization: identity.name,
        ...addressFields(identity),
        domainID: identity.bsnr ? [identity.bsnr] : [],
        specialization: [`urn:psc:${PSC_OID}:ALLG`],
        ...kimFields(identity, ['eRezept', 'eAU', 'Arztbrief']),
        holder: ['kbv'],
      };
    case 'pharmacy': {
      const index = all.filter((i) => i.role === 'pharmacy').indexOf(identity);
      return {
        ...base,
        kind: 'organization',
        displayName: identity.name,
        organization: identity.name,
        ...addressFields(identity),
        domainID: [],
        specialization: [`urn:psc:${PSC_OID}:APO`],
        ...kimFields(identity, ['eRezept']),
        holder: ['dav'],
        openingHours: pharmacyOpeningHours(index),
        pharmacySpecialties: pharmacySpecialties(index),
      };
    }
    case 'payer':
      return {
        ...base,
        kind: 'organization',
        displayName: identity.name,
        organization: identity.name,
        ...addressFields(identity),
        domainID: [telematikID.replace(/^8-01-/, '')],
        specialization: [],
        ...kimFields(identity, ['eAU', 'eEB']),
        holder: ['gkv-sv'],
      };
    default:
      return undefined;
  }
}

/** The directory: entries plus the certificates the PKI supplies later. Read-only for clients. */
export class Directory {
  readonly entries: readonly DirectoryEntry[];
  private readonly byTelematik = new Map<string, DirectoryEntry>();
  private readonly byUidMap = new Map<string, DirectoryEntry>();
  private certificates = new Map<string, Buffer[]>();

  constructor(entries: DirectoryEntry[]) {
    this.entries = entries;
    for (const e of entries) {
      this.byTelematik.set(e.telematikID, e);
      this.byUidMap.set(e.uid, e);
    }
  }

  byTelematikId(telematikId: string): DirectoryEntry | undefined {
    return this.byTelematik.get(telematikId);
  }

  byUid(uid: string): DirectoryEntry | undefined {
    return this.byUidMap.get(uid);
  }

  /** Hook for the test PKI: ENC certificates (DER) per Telematik-ID, served as LDAP `userCertificate`. */
  setCertificates(certificates: Map<string, Uint8Array | Uint8Array[]> | Record<string, Uint8Array | Uint8Array[]>): void {
    const next = new Map<string, Buffer[]>();
    const pairs = certificates instanceof Map ? [...certificates.entries()] : Object.entries(certificates);
    for (const [telematikId, der] of pairs) {
      const list = Array.isArray(der) ? der : [der];
      next.set(telematikId, list.map((d) => Buffer.from(d)));
    }
    this.certificates = next;
  }

  certificatesOf(telematikId: string): Buffer[] {
    return this.certificates.get(telematikId) ?? [];
  }
}

export function createDirectory(identities: Identity[] = seededIdentities): Directory {
  const entries: DirectoryEntry[] = [];
  for (const identity of identities) {
    const entry = buildEntry(identity, identities);
    if (entry) entries.push(entry);
  }
  return new Directory(entries);
}

/** The process-wide directory of the seeded world; the PKI calls `setCertificates` on it. */
export const seededDirectory = createDirectory();

/** Convenience for the PKI: certificates of the seeded directory, telematikId -> DER. */
export function setCertificates(certificates: Map<string, Uint8Array | Uint8Array[]> | Record<string, Uint8Array | Uint8Array[]>): void {
  seededDirectory.setCertificates(certificates);
}

export function isPharmacy(entry: DirectoryEntry): boolean {
  return entry.professionOID === PROFESSION.publicPharmacy || entry.professionOID === PROFESSION.hospitalPharmacy || entry.professionOID === '1.2.276.0.76.4.56';
}
