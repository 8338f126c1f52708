// Small VZD client for the practice and the apps: pharmacy search over the FHIR-Directory and KIM address
// lookup over LDAP (as a PVS does through the Konnektor's LDAP proxy).
import { Client } from 'ldapts';
import type { Bundle, Endpoint, Organization } from '../fhir/types.ts';
import { BASE_DN } from './directory.ts';
import { escapeLdapFilterValue } from './ldap-filter.ts';
import { SYSTEM } from './fhir-resources.ts';

export const PUBLIC_PHARMACY_OID = '1.2.276.0.76.4.54';

export interface PharmacyHit {
  telematikId: string;
  name: string;
  line?: string;
  postalCode?: string;
  city?: string;
  phone?: string;
  /** KIM address, from the pharmacy's Endpoint. */
  kimAddress?: string;
  /** Organization resource id in the VZD. */
  organizationId: string;
}

export interface FindPharmaciesOptions {
  vzdUrl: string;
  name?: string;
  postalCode?: string;
  city?: string;
  /** At most this many hits (default 100); further pages are followed until then. */
  limit?: number;
  signal?: AbortSignal;
}

/** Public pharmacies matching all given criteria (name: contains, ignoring case and umlauts). */
export async function findPharmacies(options: FindPharmaciesOptions): Promise<PharmacyHit[]> {
  const limit = options.limit ?? 100;
  const params = new URLSearchParams({ type: `urn:oid:${PUBLIC_PHARMACY_OID}`, _include: 'Organization:endpoint', _count: String(Math.min(limit, 100)) });
  if (options.name) params.set('name', options.name);
  if (options.postalCode) params.set('address-postalcode', options.postalCode);
  if (options.city) params.set('address-city', options.city);
  let url: string | undefined = `${options.vzdUrl.replace(/\/+$/, '')}/Organization?${params}`;
  const hits: PharmacyHit[] = [];
  while (url && hits.length < limit) {
    const response = await fetch(url, { headers: { accept: 'application/fhir+json' }, signal: options.signal });
    if (!response.ok) throw new Error(`VZD search failed: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`);
    const bundle = (await response.json()) as Bundle;
    const endpoints = new Map<string, Endpoint>();
    for (const e of bundle.entry ?? []) if (e.resource?.resourceType === 'Endpoint') endpoints.set(`Endpoint/${e.resource.id}`, e.resource);
    for (const e of bundle.entry ?? []) {
      if (e.resource?.resourceType !== 'Organization' || e.search?.mode === 'include') continue;
      const org = e.resource as Organization;
      const endpoint = org.endpoint?.map((r) => endpoints.get(r.reference ?? '')).find((x) => x?.connectionType?.code === 'kim');
      const address = org.address?.[0];
      hits.push({
        telematikId: org.identifier?.find((i) => i.system === SYSTEM.telematikId)?.value ?? '',
        name: org.name ?? '',
        line: address?.line?.[0],
        postalCode: address?.postalCode,
        city: address?.city,
        phone: org.telecom?.find((t) => t.system === 'phone')?.value,
        kimAddress: endpoint?.address?.replace(/^mailto:/, ''),
        organizationId: org.id ?? '',
      });
      if (hits.length >= limit) break;
    }
    url = bundle.link?.find((l) => l.relation === 'next')?.url;
  }
  return hits;
}

export interface LookupKimAddressOptions {
  ldapUrl: string;
  telematikId: string;
  timeoutMs?: number;
}

/** The KIM address of a Telematik-ID, or undefined when the directory has none. */
export async function lookupKimAddress(options: LookupKimAddressOptions): Promise<string | undefined> {
  const client = new Client({ url: options.ldapUrl, timeout: options.timeoutMs ?? 5000, connectTimeout: options.timeoutMs ?? 5000 });
  try {
    const { searchEntries } = await client.search(BASE_DN, {
      scope: 'sub',
      // The Telematik-ID comes from outside (a prescription, a UI): escaped so it cannot widen the filter.
      filter: `(telematikID=${escapeLdapFilterValue(options.telematikId)})`,
      attributes: ['mail'],
      sizeLimit: 2,
    });
    if (searchEntries.length !== 1) return undefined;
    const mail = searchEntries[0].mail;
    const first = Array.isArray(mail) ? mail[0] : mail;
    return first === undefined ? undefined : String(first);
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
