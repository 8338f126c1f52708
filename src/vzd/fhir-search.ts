// FHIR search over the directory: parameter definitions per resource type and the matching rules
// (string: contains, case- and diacritics-insensitive; token: [system]|[code]; reference; near; _text).
import { FhirError } from '../fhir/errors.ts';
import type { Resource } from '../fhir/types.ts';
import type { Directory, DirectoryEntry } from './directory.ts';
import { institutionOf, resourceId, SYSTEM, type DirectoryResourceType } from './fhir-resources.ts';

export interface Token {
  system?: string;
  code: string;
}

type ParamDef =
  | { kind: 'string'; values: (e: DirectoryEntry, d: Directory) => (string | undefined)[] }
  | { kind: 'token'; values: (e: DirectoryEntry, d: Directory) => Token[] }
  | { kind: 'reference'; values: (e: DirectoryEntry, d: Directory) => (string | undefined)[] }
  | { kind: 'near' }
  | { kind: 'text' };

/**
 * Folds a string for matching: case, diacritics ("Müller" = "Muller"), ß = ss, and the German transliterations
 * ae/oe/ue ("Mueller" = "Müller" = "Muller"), punctuation and runs of space.
 */
export function foldText(value: string): string {
  return value
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/([aou])e/g, '$1')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

const name = (e: DirectoryEntry) => [e.displayName];
const addressParts = (e: DirectoryEntry) => [e.streetAddress, e.postalCode, e.localityName, e.stateOrProvinceName, e.countryCode];
const telematik = (e: DirectoryEntry): Token[] => [{ system: SYSTEM.telematikId, code: e.telematikID }];
const active = (): Token[] => [{ code: 'true' }];
const orgType = (e: DirectoryEntry): Token[] => [{ system: SYSTEM.organizationProfessionOid, code: e.professionOID }];
const ref = (type: DirectoryResourceType) => (e: DirectoryEntry) => [`${type}/${resourceId(e, type)}`];
const institutionRef = (type: DirectoryResourceType) => (e: DirectoryEntry, d: Directory) => {
  const inst = institutionOf(e, d);
  return [inst ? `${type}/${resourceId(inst, type)}` : undefined];
};
const institution = (e: DirectoryEntry, d: Directory) => institutionOf(e, d);

function organizationIdentifiers(e: DirectoryEntry): Token[] {
  const tokens = telematik(e);
  if (e.professionOID === '1.2.276.0.76.4.50') for (const v of e.domainID) tokens.push({ system: SYSTEM.bsnr, code: v });
  if (e.professionOID === '1.2.276.0.76.4.59') for (const v of e.domainID) tokens.push({ system: SYSTEM.iknr, code: v });
  return tokens;
}

const COMMON: Record<string, ParamDef> = {
  _id: { kind: 'token', values: () => [] }, // filled per type below
  _text: { kind: 'text' },
};

export const SEARCH_PARAMS: Record<DirectoryResourceType, Record<string, ParamDef>> = {
  Organization: {
    ...COMMON,
    name: { kind: 'string', values: name },
    address: { kind: 'string', values: addressParts },
    'address-city': { kind: 'string', values: (e) => [e.localityName] },
    'address-postalcode': { kind: 'string', values: (e) => [e.postalCode] },
    'address-state': { kind: 'string', values: (e) => [e.stateOrProvinceName] },
    type: { kind: 'token', values: orgType },
    identifier: { kind: 'token', values: organizationIdentifiers },
    active: { kind: 'token', values: active },
    endpoint: { kind: 'reference', values: ref('Endpoint') },
    near: { kind: 'near' },
  },
  HealthcareService: {
    ...COMMON,
    name: { kind: 'string', values: name },
    identifier: { kind: 'token', values: telematik },
    active: { kind: 'token', values: active },
    specialty: { kind: 'token', values: (e) => e.pharmacySpecialties.map((code) => ({ system: SYSTEM.pharmacySpecialty, code })) },
    organization: { kind: 'reference', values: ref('Organization') },
    location: { kind: 'reference', values: ref('Location') },
    endpoint: { kind: 'reference', values: ref('Endpoint') },
    'organization.type': { kind: 'token', values: orgType },
    'organization.identifier': { kind: 'token', values: organizationIdentifiers },
    'organization.active': { kind: 'token', values: active },
    'organization.name': { kind: 'string', values: name },
    'location.address': { kind: 'string', values: addressParts },
    'location.address-city': { kind: 'string', values: (e) => [e.localityName] },
    'location.address-postalcode': { kind: 'string', values: (e) => [e.postalCode] },
    'endpoint.status': { kind: 'token', values: (e) => (e.mail.length ? [{ code: 'active' }] : []) },
    near: { kind: 'near' },
  },
  Location: {
    ...COMMON,
    name: { kind: 'string', values: name },
    address: { kind: 'string', values: addressParts },
    'address-city': { kind: 'string', values: (e) => [e.localityName] },
    'address-postalcode': { kind: 'string', values: (e) => [e.postalCode] },
    'address-state': { kind: 'string', values: (e) => [e.stateOrProvinceName] },
    organization: { kind: 'reference', values: ref('Organization') },
    near: { kind: 'near' },
  },
  Endpoint: {
    ...COMMON,
    name: { kind: 'string', values: () => ['KIM-Mailadresse'] },
    status: { kind: 'token', values: () => [{ code: 'active' }] },
    'connection-type': { kind: 'token', values: () => [{ system: SYSTEM.connectionType, code: 'kim' }] },
    'payload-type': {
      kind: 'token',
      values: (e) => (e.kimData[0]?.split(',')[2]?.split('|') ?? []).map((code) => ({ system: SYSTEM.kimAppTags, code })),
    },
    address: { kind: 'string', values: (e) => e.mail },
    organization: { kind: 'reference', values: (e) => (e.kind === 'organization' ? [`Organization/${resourceId(e, 'Organization')}`] : []) },
    'organization.identifier': { kind: 'token', values: (e) => (e.kind === 'organization' ? organizationIdentifiers(e) : []) },
  },
  PractitionerRole: {
    ...COMMON,
    identifier: { kind: 'token', values: telematik },
    'practitioner.identifier': { kind: 'token', values: telematik },
    'practitioner.name': { kind: 'string', values: (e) => [e.displayName, e.givenName, e.sn] },
    'practitioner.active': { kind: 'token', values: active },
    active: { kind: 'token', values: active },
    role: { kind: 'token', values: (e) => [{ system: SYSTEM.practitionerProfessionOid, code: e.professionOID }] },
    organization: { kind: 'reference', values: institutionRef('Organization') },
    location: { kind: 'reference', values: institutionRef('Location') },
    endpoint: { kind: 'reference', values: ref('Endpoint') },
    'location.address-city': { kind: 'string', values: (e, d) => [institution(e, d)?.localityName] },
    'location.address-postalcode': { kind: 'string', values: (e, d) => [institution(e, d)?.postalCode] },
    'endpoint.status': { kind: 'token', values: (e) => (e.mail.length ? [{ code: 'active' }] : []) },
  },
};

/** Result-shaping parameters every type accepts. */
export const RESULT_PARAMS = new Set(['_count', '_offset', 'page', '_include', '_summary', '_format', '_pretty']);

/** Systems that clients use for OID-coded values ("urn:oid|1.2.276.0.76.4.54", "urn:ietf:rfc:3986|urn:oid:…"). */
const OID_SYSTEMS = new Set(['urn:oid', 'urn:ietf:rfc:3986']);

export function parseToken(raw: string): Token {
  const bar = raw.indexOf('|');
  let system: string | undefined;
  let code: string;
  if (bar < 0) code = raw;
  else {
    system = raw.slice(0, bar);
    code = raw.slice(bar + 1);
  }
  if (code.startsWith('urn:oid:')) {
    code = code.slice('urn:oid:'.length);
    if (system === undefined || OID_SYSTEMS.has(system)) system = undefined;
  } else if (system !== undefined && OID_SYSTEMS.has(system)) system = undefined;
  return { system, code };
}

function tokenMatches(wanted: Token, values: Token[]): boolean {
  return values.some((v) => {
    if (wanted.system === '' && v.system) return false; // "|code": no system
    if (wanted.system && v.system !== wanted.system) return false;
    return wanted.code === '' || v.code === wanted.code;
  });
}

export interface Near {
  latitude: number;
  longitude: number;
  km: number;
}

export function parseNear(raw: string): Near {
  const [lat, lon, distance, unit = 'km'] = raw.split('|');
  const latitude = Number(lat);
  const longitude = Number(lon);
  const amount = distance === undefined || distance === '' ? 10 : Number(distance);
  const scale = unit === 'km' ? 1 : unit === 'm' ? 0.001 : NaN;
  if (!Number.isFinite(latitude) || !Number.isFinite(longitude) || Math.abs(latitude) > 90 || Math.abs(longitude) > 180 || !Number.isFinite(amount) || amount < 0 || Number.isNaN(scale)) {
    throw new FhirError(400, `near=${raw}: erwartet Breite|Länge|Entfernung|km (oder m)`, { code: 'invalid', expression: ['near'] });
  }
  return { latitude, longitude, km: amount * scale };
}

/** Great-circle distance in km (haversine). */
export function distanceKm(a: { latitude: number; longitude: number }, b: { latitude: number; longitude: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad;
  const dLon = (b.longitude - a.longitude) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.sqrt(h));
}

function referenceMatches(raw: string, values: (string | undefined)[], type: string): boolean {
  // "Organization/<id>", "<id>", or an absolute URL ending in Organization/<id>
  const m = /(?:^|\/)([A-Za-z]+)\/([^/]+)$/.exec(raw);
  const wanted = m ? `${m[1]}/${m[2]}` : raw.includes('/') ? raw : `${type}/${raw}`;
  return values.some((v) => v !== undefined && (v === wanted || (!m && v.endsWith(`/${raw}`))));
}

function textOf(entry: DirectoryEntry, d: Directory): string {
  const inst = institutionOf(entry, d);
  return foldText(
    [entry.displayName, entry.organization, entry.telematikID, ...entry.mail, ...addressParts(entry), ...addressParts(inst ?? entry)]
      .filter(Boolean)
      .join(' '),
  );
}

/** One parsed search criterion: parameter, modifier, and its comma-separated alternatives (OR). */
export interface Criterion {
  param: string;
  modifier?: string;
  def: ParamDef;
  alternatives: string[];
}

export function parseCriteria(type: DirectoryResourceType, query: Record<string, string | string[] | undefined>): Criterion[] {
  const defs = SEARCH_PARAMS[type];
  const criteria: Criterion[] = [];
  const unknown: string[] = [];
  for (const [key, rawValue] of Object.entries(query)) {
    const [param, modifier] = key.split(':', 2);
    if (RESULT_PARAMS.has(param)) continue;
    const def = defs[param];
    if (!def) {
      unknown.push(key);
      continue;
    }
    if (modifier !== undefined && !(def.kind === 'string' && (modifier === 'exact' || modifier === 'contains'))) {
      throw new FhirError(400, `Modifikator :${modifier} wird für ${param} nicht unterstützt`, { code: 'not-supported', expression: [key] });
    }
    for (const value of Array.isArray(rawValue) ? rawValue : [rawValue ?? '']) {
      if (value === '') continue; // FHIR: empty parameters are ignored
      const alternatives = def.kind === 'near' ? [value] : value.split(',').filter((v) => v !== '');
      if (alternatives.length) criteria.push({ param, modifier, def, alternatives });
    }
  }
  if (unknown.length) {
    throw new FhirError(400, `Unbekannter Suchparameter für ${type}: ${unknown.join(', ')}`, {
      code: 'not-supported',
      diagnostics: `Unterstützt: ${Object.keys(defs).concat([...RESULT_PARAMS]).sort().join(', ')}`,
      expression: unknown,
    });
  }
  return criteria;
}

export interface Candidate {
  entry: DirectoryEntry;
  resource: Resource;
  /** Distance to the `near` point, when one was given. */
  km?: number;
}

/** Filters (and, with `near`, sorts by distance) the candidates of one resource type. */
export function applyCriteria(type: DirectoryResourceType, candidates: Candidate[], criteria: Criterion[], directory: Directory): Candidate[] {
  let out = candidates.map((c) => ({ ...c }));
  let sortByDistance = false;
  for (const c of criteria) {
    const def = c.def;
    if (def.kind === 'near') {
      const near = parseNear(c.alternatives[0]);
      sortByDistance = true;
      out = out.filter((cand) => {
        const pos = cand.entry.position;
        if (!pos) return false;
        cand.km = distanceKm(near, pos);
        return cand.km <= near.km;
      });
      continue;
    }
    out = out.filter((cand) => {
      const e = cand.entry;
      switch (def.kind) {
        case 'text': {
          const text = textOf(e, directory);
          return c.alternatives.some((alt) => foldText(alt).split(' ').every((term) => term === '' || text.includes(term)));
        }
        case 'string': {
          const values = def.values(e, directory).filter((v): v is string => !!v);
          if (c.modifier === 'exact') return c.alternatives.some((alt) => values.includes(alt));
          const folded = values.map(foldText);
          return c.alternatives.some((alt) => folded.some((v) => v.includes(foldText(alt))));
        }
        case 'token': {
          const values = c.param === '_id' ? [{ code: cand.resource.id ?? '' }] : def.values(e, directory);
          return c.alternatives.some((alt) => tokenMatches(parseToken(alt), values));
        }
        case 'reference':
          return c.alternatives.some((alt) => referenceMatches(alt, def.values(e, directory), type));
      }
    });
  }
  if (sortByDistance) out.sort((a, b) => (a.km ?? 0) - (b.km ?? 0));
  return out;
}
