// The VZD pharmacy search both apps offer (insured: assign a prescription, practice: send it by KIM), through /api/vzd.
import type { Bundle, Organization } from '../../../src/fhir/types.ts';
import { ERP_SYSTEM } from '../../../src/fhir/systems.ts';
import { resourcesOf, type Api } from './api.ts';

/** The OID of the Telematik-ID role "öffentliche Apotheke" in the VZD. */
const PHARMACY_TYPE = 'urn:oid:1.2.276.0.76.4.54';

export interface PharmacyHit { telematikId: string; name: string; address: string }

export interface PharmacyQuery { name?: string; postalCode?: string; city?: string }

/** The matching Organizations of a VZD searchset as hits (included resources skipped). */
export function pharmacyHits(bundle: Bundle | undefined): PharmacyHit[] {
  return resourcesOf<Organization>(bundle, 'Organization', 'match').map((o) => ({
    telematikId: o.identifier?.find((i) => i.system === ERP_SYSTEM.telematikId)?.value ?? '',
    name: o.name ?? '',
    address: [o.address?.[0]?.line?.join(' '), [o.address?.[0]?.postalCode, o.address?.[0]?.city].filter(Boolean).join(' ')].filter(Boolean).join(', '),
  }));
}

/** Up to 20 pharmacies by name, postal code and city (blank fields are left out). */
export async function searchPharmacies(api: Api, query: PharmacyQuery): Promise<PharmacyHit[]> {
  const params = new URLSearchParams({ type: PHARMACY_TYPE, _count: '20' });
  if (query.name?.trim()) params.set('name', query.name.trim());
  if (query.postalCode?.trim()) params.set('address-postalcode', query.postalCode.trim());
  if (query.city?.trim()) params.set('address-city', query.city.trim());
  return pharmacyHits(await api.json<Bundle>('GET', `/api/vzd/Organization?${params}`));
}
