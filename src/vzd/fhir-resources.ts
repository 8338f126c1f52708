// The FHIR view of a directory entry, shaped like the gematik FHIR-VZD (api-vzd examples): an institution is an
// Organization + HealthcareService + Location + KIM Endpoint; a person is a PractitionerRole (+ Endpoint).
import type { CodeableConcept, Endpoint, HealthcareService, Location, Organization, PractitionerRole, Resource } from '../fhir/types.ts';
import { nameUuid, type Directory, type DirectoryEntry } from './directory.ts';

export const SYSTEM = {
  telematikId: 'https://gematik.de/fhir/sid/telematik-id',
  ldapUid: 'https://gematik.de/fhir/directory/CodeSystem/ldapUID',
  bsnr: 'https://fhir.kbv.de/NamingSystem/KBV_NS_Base_BSNR',
  iknr: 'http://fhir.de/sid/arge-ik/iknr',
  origin: 'https://gematik.de/fhir/directory/CodeSystem/Origin',
  organizationProfessionOid: 'https://gematik.de/fhir/directory/CodeSystem/OrganizationProfessionOID',
  practitionerProfessionOid: 'https://gematik.de/fhir/directory/CodeSystem/PractitionerProfessionOID',
  connectionType: 'https://gematik.de/fhir/directory/CodeSystem/EndpointDirectoryConnectionType',
  kimAppTags: 'https://gematik.de/fhir/directory/CodeSystem/EndpointDirectoryKIMappTags',
  kimVersion: 'https://gematik.de/fhir/directory/CodeSystem/KimVersionCS',
  pharmacySpecialty: 'https://gematik.de/fhir/directory/CodeSystem/PharmacyHealthcareSpecialtyCS',
  pharmacyType: 'https://gematik.de/fhir/directory/CodeSystem/PharmacyTypeCS',
  characteristics: 'https://gematik.de/fhir/directory/CodeSystem/VZDHealthCareServiceCharacteristicsCS',
  category: 'http://ihe-d.de/CodeSystems/PatientBezogenenGesundheitsversorgung',
} as const;

const PROFILE = 'https://gematik.de/fhir/directory/StructureDefinition/';
const KIM_VERSION_EXT = 'https://gematik.de/fhir/directory/StructureDefinition/ConnectionTypeKimVersionEx';
const OWNER_EXT = 'https://gematik.de/fhir/directory/StructureDefinition/OwnerTelematikIdEx';

export const PROFESSION_DISPLAY: Record<string, string> = {
  '1.2.276.0.76.4.30': 'Ärztin/Arzt',
  '1.2.276.0.76.4.50': 'Betriebsstätte Arzt',
  '1.2.276.0.76.4.54': 'Öffentliche Apotheke',
  '1.2.276.0.76.4.55': 'Krankenhausapotheke',
  '1.2.276.0.76.4.56': 'Bundeswehrapotheke',
  '1.2.276.0.76.4.59': 'Betriebsstätte Kostenträger',
};

const SPECIALTY_DISPLAY: Record<string, string> = { '10': 'Handverkauf', '30': 'Botendienst', '40': 'Versand' };

export type DirectoryResourceType = 'Organization' | 'HealthcareService' | 'Location' | 'Endpoint' | 'PractitionerRole';
export const DIRECTORY_RESOURCE_TYPES: DirectoryResourceType[] = ['Organization', 'HealthcareService', 'Location', 'Endpoint', 'PractitionerRole'];

/** The resource id of an entry's resource of a type (stable: derived from the Telematik-ID). */
export function resourceId(entry: DirectoryEntry, type: DirectoryResourceType): string {
  return nameUuid(`${entry.telematikID}#${type}`);
}

function meta(profile: string) {
  return { tag: [{ system: SYSTEM.origin, code: 'ldap' }], profile: [PROFILE + profile] };
}

function address(entry: DirectoryEntry) {
  if (!entry.localityName && !entry.postalCode && !entry.streetAddress) return undefined;
  const text = [entry.streetAddress, [entry.postalCode, entry.localityName].filter(Boolean).join(' '), entry.stateOrProvinceName, entry.countryCode]
    .filter(Boolean)
    .join(', ');
  return {
    use: 'work' as const,
    type: 'both' as const,
    text,
    line: entry.streetAddress ? [entry.streetAddress] : undefined,
    city: entry.localityName,
    state: entry.stateOrProvinceName,
    postalCode: entry.postalCode,
    country: entry.countryCode,
  };
}

function professionType(entry: DirectoryEntry, system: string): CodeableConcept {
  return { coding: [{ system, code: entry.professionOID, display: PROFESSION_DISPLAY[entry.professionOID] }] };
}

function phone(entry: DirectoryEntry) {
  return entry.phone ? [{ system: 'phone' as const, value: entry.phone, use: 'work' as const }] : undefined;
}

export function organizationOf(entry: DirectoryEntry): Organization | undefined {
  if (entry.kind !== 'organization') return undefined;
  const identifier: Organization['identifier'] = [{ system: SYSTEM.telematikId, value: entry.telematikID }];
  if (entry.professionOID === '1.2.276.0.76.4.50') for (const bsnr of entry.domainID) identifier.push({ system: SYSTEM.bsnr, value: bsnr });
  if (entry.professionOID === '1.2.276.0.76.4.59') for (const ik of entry.domainID) identifier.push({ system: SYSTEM.iknr, value: ik });
  identifier.push({ system: SYSTEM.ldapUid, value: entry.uid });
  const addr = address(entry);
  return {
    resourceType: 'Organization',
    id: resourceId(entry, 'Organization'),
    meta: meta('OrganizationDirectory'),
    identifier,
    active: true,
    type: [professionType(entry, SYSTEM.organizationProfessionOid)],
    name: entry.displayName,
    telecom: phone(entry),
    address: addr ? [addr] : undefined,
    endpoint: entry.mail.length ? [{ reference: `Endpoint/${resourceId(entry, 'Endpoint')}` }] : undefined,
  };
}

export function locationOf(entry: DirectoryEntry): Location | undefined {
  if (entry.kind !== 'organization') return undefined;
  const addr = address(entry);
  if (!addr) return undefined;
  return {
    resourceType: 'Location',
    id: resourceId(entry, 'Location'),
    meta: meta('LocationDirectory'),
    status: 'active',
    name: entry.displayName,
    address: addr,
    position: entry.position ? { latitude: entry.position.latitude, longitude: entry.position.longitude } : undefined,
    managingOrganization: { reference: `Organization/${resourceId(entry, 'Organization')}` },
  };
}

export function endpointOf(entry: DirectoryEntry): Endpoint | undefined {
  const mail = entry.mail[0];
  if (!mail) return undefined;
  const [, version = '1.0', tags = ''] = (entry.kimData[0] ?? '').split(',');
  const appTags = tags ? tags.split('|') : [];
  return {
    resourceType: 'Endpoint',
    id: resourceId(entry, 'Endpoint'),
    meta: meta('EndpointDirectory'),
    extension: [{ url: OWNER_EXT, valueIdentifier: { system: SYSTEM.telematikId, value: entry.telematikID } }],
    status: 'active',
    connectionType: {
      extension: [
        {
          url: KIM_VERSION_EXT,
          extension: [
            { url: 'version', valueCoding: { system: SYSTEM.kimVersion, code: version.replace('+', '') } },
            { url: 'xxlMailSupported', valueBoolean: version.endsWith('+') },
          ],
        },
      ],
      system: SYSTEM.connectionType,
      code: 'kim',
      display: 'KIM Endpoint',
    },
    name: 'KIM-Mailadresse',
    managingOrganization: entry.kind === 'organization' ? { reference: `Organization/${resourceId(entry, 'Organization')}` } : undefined,
    payloadType: appTags.length ? appTags.map((code) => ({ coding: [{ system: SYSTEM.kimAppTags, code }] })) : [{ text: 'KIM' }],
    address: `mailto:${mail}`,
  };
}

function availableTime(entry: DirectoryEntry): HealthcareService['availableTime'] {
  if (!entry.openingHours.length) return undefined;
  return entry.openingHours.map((h) => ({ daysOfWeek: h.days, availableStartTime: h.open, availableEndTime: h.close }));
}

export function healthcareServiceOf(entry: DirectoryEntry): HealthcareService | undefined {
  if (entry.kind !== 'organization') return undefined;
  const pharmacy = entry.pharmacySpecialties.length > 0;
  const location = locationOf(entry);
  const endpoint = endpointOf(entry);
  return {
    resourceType: 'HealthcareService',
    id: resourceId(entry, 'HealthcareService'),
    meta: meta('HealthcareServiceDirectory'),
    identifier: [{ system: SYSTEM.telematikId, value: entry.telematikID }],
    active: true,
    providedBy: { reference: `Organization/${resourceId(entry, 'Organization')}`, display: entry.displayName },
    category: pharmacy ? [{ coding: [{ system: SYSTEM.category, code: 'APO', display: 'Apotheke' }] }] : undefined,
    type: pharmacy ? [{ coding: [{ system: SYSTEM.pharmacyType, code: 'offizin-apotheke', display: 'Offizin-Apotheke' }] }] : undefined,
    specialty: pharmacy
      ? entry.pharmacySpecialties.map((code) => ({ coding: [{ system: SYSTEM.pharmacySpecialty, code, display: SPECIALTY_DISPLAY[code] }] }))
      : undefined,
    characteristic: pharmacy ? [{ coding: [{ system: SYSTEM.characteristics, code: 'erx-token-receiver', display: 'eRX Token Receiver' }] }] : undefined,
    location: location ? [{ reference: `Location/${location.id}` }] : undefined,
    name: entry.displayName,
    telecom: phone(entry),
    availableTime: availableTime(entry),
    endpoint: endpoint ? [{ reference: `Endpoint/${endpoint.id}` }] : undefined,
  };
}

/** The institution a person works at (their PractitionerRole points to its Organization and Location). */
export function institutionOf(entry: DirectoryEntry, directory: Directory): DirectoryEntry | undefined {
  return entry.organizationUid ? directory.byUid(entry.organizationUid) : undefined;
}

export function practitionerRoleOf(entry: DirectoryEntry, directory: Directory): PractitionerRole | undefined {
  if (entry.kind !== 'person') return undefined;
  const endpoint = endpointOf(entry);
  const institution = institutionOf(entry, directory);
  const orgRef = (type: 'Organization' | 'Location') => (institution ? `${type}/${resourceId(institution, type)}` : undefined);
  return {
    resourceType: 'PractitionerRole',
    id: resourceId(entry, 'PractitionerRole'),
    meta: meta('PractitionerRoleDirectory'),
    identifier: [{ system: SYSTEM.telematikId, value: entry.telematikID }],
    active: true,
    practitioner: { identifier: { system: SYSTEM.telematikId, value: entry.telematikID }, display: entry.displayName },
    organization: orgRef('Organization') ? { reference: orgRef('Organization'), display: entry.organization } : undefined,
    location: orgRef('Location') ? [{ reference: orgRef('Location') }] : undefined,
    code: [professionType(entry, SYSTEM.practitionerProfessionOid)],
    telecom: phone(entry),
    endpoint: endpoint ? [{ reference: `Endpoint/${endpoint.id}` }] : undefined,
  };
}

export function resourceOf(entry: DirectoryEntry, type: DirectoryResourceType, directory: Directory): Resource | undefined {
  switch (type) {
    case 'Organization': return organizationOf(entry);
    case 'HealthcareService': return healthcareServiceOf(entry);
    case 'Location': return locationOf(entry);
    case 'Endpoint': return endpointOf(entry);
    case 'PractitionerRole': return practitionerRoleOf(entry, directory);
  }
}
