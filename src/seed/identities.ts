// The seeded demo world: one data source for the test PKI, the IDP's dev identities, VZD, KIM and the demo data.
// All identifiers pass their check rules (see ../fhir/identifiers.ts); all people and places are invented.

export const PROFESSION = {
  physician: '1.2.276.0.76.4.30',
  dentist: '1.2.276.0.76.4.31',
  pharmacist: '1.2.276.0.76.4.32',
  insured: '1.2.276.0.76.4.49',
  practice: '1.2.276.0.76.4.50',
  dentalPractice: '1.2.276.0.76.4.51',
  psychotherapyPractice: '1.2.276.0.76.4.52',
  hospital: '1.2.276.0.76.4.53',
  publicPharmacy: '1.2.276.0.76.4.54',
  hospitalPharmacy: '1.2.276.0.76.4.55',
  payer: '1.2.276.0.76.4.59',
} as const;

export type IdentityRole = 'physician' | 'practice' | 'pharmacy' | 'insured' | 'payer';

export const KIM_DOMAIN = 'erx.kim.telematik-test';

export interface Address {
  line: string;
  postalCode: string;
  city: string;
}

export interface Identity {
  /** Stable id, used by `POST /dev/token` on the IDP. */
  id: string;
  role: IdentityRole;
  professionOID: string;
  name: string;
  telematikId?: string;
  kvnr?: string;
  /** Local part of the KIM address; the full address is `${kimLocal}@${KIM_DOMAIN}`. */
  kimLocal?: string;
  address?: Address;
  phone?: string;
  /** Physician: LANR; practice: BSNR. */
  lanr?: string;
  bsnr?: string;
  /** Practice tenant in the RED-compatible API. */
  tenant?: string;
  /** Insured: given/family name and birth date as the KBV bundle needs them. */
  given?: string;
  family?: string;
  birthDate?: string;
  /** Insured: GKV or PKV, with the payer's IK number and name. */
  coverage?: { type: 'GKV' | 'PKV'; ik: string; payer: string };
  /** Insured: KVNRs of people this insured may act for (e.g. a parent for a child). */
  representativeFor?: string[];
  /** The organisation a person belongs to (physician -> practice). */
  organization?: string;
  /** Geo position for the pharmacy search (WGS84). */
  position?: { latitude: number; longitude: number };
}

export const TENANT = 'demopraxis_1000';

export const practice: Identity = {
  id: 'practice-demopraxis',
  role: 'practice',
  professionOID: PROFESSION.practice,
  name: 'Hausarztpraxis Dr. Berger',
  telematikId: '1-2031234567',
  bsnr: '031234567',
  tenant: TENANT,
  kimLocal: 'praxis.berger',
  address: { line: 'Friedrichstraße 112', postalCode: '10117', city: 'Berlin' },
  phone: '030 1234567',
};

export const physician: Identity = {
  id: 'physician-berger',
  role: 'physician',
  professionOID: PROFESSION.physician,
  name: 'Dr. med. Hanna Berger',
  given: 'Hanna',
  family: 'Berger',
  telematikId: '1-1017838382202',
  lanr: '838382202',
  organization: practice.id,
  kimLocal: 'hanna.berger',
};

interface PharmacySeed {
  slug: string;
  name: string;
  line: string;
  postalCode: string;
  city: string;
  latitude: number;
  longitude: number;
}

// Several pharmacies in 10117 Berlin (seed 004's search example) and others across Germany.
const pharmacySeeds: PharmacySeed[] = [
  { slug: 'gendarmenmarkt', name: 'Apotheke am Gendarmenmarkt', line: 'Markgrafenstraße 36', postalCode: '10117', city: 'Berlin', latitude: 52.5137, longitude: 13.3926 },
  { slug: 'friedrichstadt', name: 'Friedrichstadt-Apotheke', line: 'Friedrichstraße 90', postalCode: '10117', city: 'Berlin', latitude: 52.5163, longitude: 13.3884 },
  { slug: 'unter-den-linden', name: 'Linden-Apotheke', line: 'Unter den Linden 21', postalCode: '10117', city: 'Berlin', latitude: 52.5170, longitude: 13.3889 },
  { slug: 'hausvogteiplatz', name: 'Apotheke am Hausvogteiplatz', line: 'Hausvogteiplatz 3', postalCode: '10117', city: 'Berlin', latitude: 52.5131, longitude: 13.3979 },
  { slug: 'mitte', name: 'Mitte-Apotheke', line: 'Rosenthaler Straße 40', postalCode: '10178', city: 'Berlin', latitude: 52.5262, longitude: 13.4022 },
  { slug: 'kreuzberg', name: 'Bergmann-Apotheke', line: 'Bergmannstraße 5', postalCode: '10961', city: 'Berlin', latitude: 52.4897, longitude: 13.3953 },
  { slug: 'prenzlauer-berg', name: 'Kollwitz-Apotheke', line: 'Kollwitzstraße 50', postalCode: '10405', city: 'Berlin', latitude: 52.5360, longitude: 13.4177 },
  { slug: 'charlottenburg', name: 'Apotheke am Savignyplatz', line: 'Kantstraße 20', postalCode: '10623', city: 'Berlin', latitude: 52.5058, longitude: 13.3223 },
  { slug: 'potsdam', name: 'Brandenburger Tor Apotheke', line: 'Brandenburger Straße 30', postalCode: '14467', city: 'Potsdam', latitude: 52.4005, longitude: 13.0535 },
  { slug: 'hamburg-altona', name: 'Altonaer Stern-Apotheke', line: 'Ottenser Hauptstraße 10', postalCode: '22765', city: 'Hamburg', latitude: 53.5530, longitude: 9.9290 },
  { slug: 'hamburg-eppendorf', name: 'Eppendorfer Apotheke', line: 'Eppendorfer Baum 12', postalCode: '20249', city: 'Hamburg', latitude: 53.5860, longitude: 9.9830 },
  { slug: 'muenchen-schwabing', name: 'Schwabinger Apotheke', line: 'Leopoldstraße 60', postalCode: '80802', city: 'München', latitude: 48.1600, longitude: 11.5860 },
  { slug: 'muenchen-marienplatz', name: 'Apotheke am Marienplatz', line: 'Rosenstraße 6', postalCode: '80331', city: 'München', latitude: 48.1365, longitude: 11.5745 },
  { slug: 'koeln-dom', name: 'Dom-Apotheke Köln', line: 'Hohe Straße 110', postalCode: '50667', city: 'Köln', latitude: 50.9390, longitude: 6.9570 },
  { slug: 'frankfurt-roemer', name: 'Römer-Apotheke', line: 'Braubachstraße 18', postalCode: '60311', city: 'Frankfurt am Main', latitude: 50.1110, longitude: 8.6840 },
  { slug: 'stuttgart', name: 'Schlossplatz-Apotheke', line: 'Königstraße 28', postalCode: '70173', city: 'Stuttgart', latitude: 48.7790, longitude: 9.1780 },
  { slug: 'leipzig', name: 'Thomas-Apotheke Leipzig', line: 'Thomaskirchhof 12', postalCode: '04109', city: 'Leipzig', latitude: 51.3390, longitude: 12.3730 },
  { slug: 'dresden', name: 'Frauenkirch-Apotheke', line: 'Neumarkt 8', postalCode: '01067', city: 'Dresden', latitude: 51.0520, longitude: 13.7420 },
  { slug: 'hannover', name: 'Kröpcke-Apotheke', line: 'Georgstraße 40', postalCode: '30159', city: 'Hannover', latitude: 52.3740, longitude: 9.7380 },
  { slug: 'bremen', name: 'Roland-Apotheke', line: 'Obernstraße 50', postalCode: '28195', city: 'Bremen', latitude: 53.0760, longitude: 8.8060 },
  { slug: 'nuernberg', name: 'Lorenz-Apotheke', line: 'Königstraße 60', postalCode: '90402', city: 'Nürnberg', latitude: 49.4500, longitude: 11.0790 },
  { slug: 'duesseldorf', name: 'Kö-Apotheke', line: 'Königsallee 30', postalCode: '40212', city: 'Düsseldorf', latitude: 51.2230, longitude: 6.7800 },
];

export const pharmacies: Identity[] = pharmacySeeds.map((p, i) => ({
  id: `pharmacy-${p.slug}`,
  role: 'pharmacy',
  professionOID: PROFESSION.publicPharmacy,
  name: p.name,
  telematikId: `3-11.2.10${String(i + 1).padStart(5, '0')}.16.1${String(i + 1).padStart(2, '0')}`,
  kimLocal: `apotheke.${p.slug}`,
  address: { line: p.line, postalCode: p.postalCode, city: p.city },
  phone: `0${30 + i} ${String(4000000 + i * 1111)}`,
  position: { latitude: p.latitude, longitude: p.longitude },
}));

/** The pharmacy seed 004 walks through (10117 Berlin). */
export const defaultPharmacy: Identity = pharmacies[0];

const AOK = { ik: '109519005', payer: 'AOK Nordost' };
const TK = { ik: '101575519', payer: 'Techniker Krankenkasse' };

export const insured: Identity[] = [
  {
    id: 'insured-mueller', role: 'insured', professionOID: PROFESSION.insured, name: 'Lisa Müller',
    given: 'Lisa', family: 'Müller', birthDate: '1985-04-12', kvnr: 'X110614233',
    coverage: { type: 'GKV', ...AOK }, address: { line: 'Chausseestraße 8', postalCode: '10115', city: 'Berlin' },
    representativeFor: ['K220745670'],
  },
  {
    id: 'insured-mueller-kind', role: 'insured', professionOID: PROFESSION.insured, name: 'Jonas Müller',
    given: 'Jonas', family: 'Müller', birthDate: '2016-09-03', kvnr: 'K220745670',
    coverage: { type: 'GKV', ...AOK }, address: { line: 'Chausseestraße 8', postalCode: '10115', city: 'Berlin' },
  },
  {
    id: 'insured-schmidt', role: 'insured', professionOID: PROFESSION.insured, name: 'Peter Schmidt',
    given: 'Peter', family: 'Schmidt', birthDate: '1958-01-30', kvnr: 'A123456780',
    coverage: { type: 'GKV', ...TK }, address: { line: 'Torstraße 140', postalCode: '10119', city: 'Berlin' },
  },
  {
    id: 'insured-yilmaz', role: 'insured', professionOID: PROFESSION.insured, name: 'Ayşe Yılmaz',
    given: 'Ayşe', family: 'Yılmaz', birthDate: '1992-11-17', kvnr: 'M310550123',
    coverage: { type: 'GKV', ...TK }, address: { line: 'Oranienstraße 25', postalCode: '10999', city: 'Berlin' },
  },
  {
    id: 'insured-weber', role: 'insured', professionOID: PROFESSION.insured, name: 'Dr. Klaus Weber',
    given: 'Klaus', family: 'Weber', birthDate: '1970-06-21', kvnr: 'P501777437',
    coverage: { type: 'PKV', ik: '168141347', payer: 'Allianz Private Krankenversicherung' },
    address: { line: 'Kurfürstendamm 200', postalCode: '10719', city: 'Berlin' },
  },
];

export const payer: Identity = {
  id: 'payer-aok-nordost', role: 'payer', professionOID: PROFESSION.payer, name: 'AOK Nordost',
  telematikId: '8-01-109519005',
};

export const identities: Identity[] = [practice, physician, ...pharmacies, ...insured, payer];

export function identityById(id: string): Identity | undefined {
  return identities.find((i) => i.id === id);
}

export function kimAddress(identity: Identity): string | undefined {
  return identity.kimLocal ? `${identity.kimLocal}@${KIM_DOMAIN}` : undefined;
}
