import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { createFhirServer } from '../http/fhir-server.ts';
import { vzdFhirRoutes } from './fhir-routes.ts';
import { defaultPharmacy, pharmacies, physician, practice } from '../seed/identities.ts';
import type { Bundle, Endpoint, HealthcareService, Organization, PractitionerRole } from '../fhir/types.ts';

const TELEMATIK = 'https://gematik.de/fhir/sid/telematik-id';
const PHARMACY = 'urn:oid:1.2.276.0.76.4.54';
let app: FastifyInstance;

before(async () => {
  app = createFhirServer();
  await app.register(vzdFhirRoutes);
  await app.ready();
});
after(() => app.close());

async function get(url: string, headers: Record<string, string> = {}) {
  return app.inject({ method: 'GET', url, headers: { host: 'vzd.test', ...headers } });
}

async function bundle(url: string): Promise<Bundle> {
  const res = await get(url);
  assert.equal(res.statusCode, 200, res.body);
  const b = res.json() as Bundle;
  assert.equal(b.resourceType, 'Bundle');
  assert.equal(b.type, 'searchset');
  return b;
}

const matches = <T>(b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as T);
const names = (b: Bundle) => matches<Organization>(b).map((o) => o.name).sort();

describe('seed 004: pharmacy search by postal code, name and city', () => {
  test('Organization?type=urn:oid:1.2.276.0.76.4.54&address-postalcode=10117 returns the 10117 pharmacies', async () => {
    const b = await bundle(`/Organization?type=${PHARMACY}&address-postalcode=10117`);
    const expected = pharmacies.filter((p) => p.address?.postalCode === '10117').map((p) => p.name).sort();
    assert.ok(expected.length >= 4);
    assert.equal(b.total, expected.length);
    assert.deepEqual(names(b), expected);
    for (const org of matches<Organization>(b)) {
      assert.equal(org.address?.[0].postalCode, '10117');
      assert.equal(org.type?.[0].coding?.[0].code, '1.2.276.0.76.4.54');
      assert.equal(org.identifier?.[0].system, TELEMATIK);
      assert.ok(org.id && b.entry!.some((e) => e.fullUrl === `http://vzd.test/Organization/${org.id}`));
    }
    const self = b.link?.find((l) => l.relation === 'self')?.url ?? '';
    assert.match(self, /^http:\/\/vzd\.test\/Organization\?.*address-postalcode=10117/);
  });

  test('the type accepts system|code forms, but the person OID .32 finds no pharmacy', async () => {
    for (const type of ['urn:oid|1.2.276.0.76.4.54', 'https://gematik.de/fhir/directory/CodeSystem/OrganizationProfessionOID|1.2.276.0.76.4.54', '1.2.276.0.76.4.54']) {
      assert.equal((await bundle(`/Organization?type=${encodeURIComponent(type)}&address-postalcode=10117`)).total, 4, type);
    }
    assert.equal((await bundle('/Organization?type=http://other.system|1.2.276.0.76.4.54')).total, 0);
    assert.equal((await bundle('/Organization?type=urn:oid:1.2.276.0.76.4.32')).total, 0);
    assert.equal((await bundle('/Organization?type=urn:oid:1.2.276.0.76.4.50')).total, 1);
  });

  test('name: contains, ignoring case, umlauts and their transliteration', async () => {
    assert.deepEqual(names(await bundle(`/Organization?type=${PHARMACY}&name=Apotheke%20am%20gendarmenmarkt`)), ['Apotheke am Gendarmenmarkt']);
    assert.deepEqual(names(await bundle('/Organization?name=kropcke')), ['Kröpcke-Apotheke']);
    assert.deepEqual(names(await bundle('/Organization?name=Kroepcke')), ['Kröpcke-Apotheke']);
    assert.deepEqual(names(await bundle('/Organization?name=KOLN')), ['Dom-Apotheke Köln']);
    assert.deepEqual(names(await bundle('/Organization?name:exact=Linden-Apotheke')), ['Linden-Apotheke']);
    assert.equal((await bundle('/Organization?name:exact=linden-apotheke')).total, 0);
    assert.deepEqual(names(await bundle('/Organization?name=linden,roland')), ['Linden-Apotheke', 'Roland-Apotheke']);
  });

  test('address-city, with umlauts folded', async () => {
    const berlin = await bundle(`/Organization?type=${PHARMACY}&address-city=Berlin`);
    assert.equal(berlin.total, pharmacies.filter((p) => p.address?.city === 'Berlin').length);
    assert.deepEqual(names(await bundle(`/Organization?type=${PHARMACY}&address-city=Munchen`)), ['Apotheke am Marienplatz', 'Schwabinger Apotheke']);
  });

  test('identifier with and without the Telematik-ID system', async () => {
    const id = defaultPharmacy.telematikId!;
    assert.deepEqual(names(await bundle(`/Organization?identifier=${encodeURIComponent(`${TELEMATIK}|${id}`)}`)), [defaultPharmacy.name]);
    assert.deepEqual(names(await bundle(`/Organization?identifier=${id}`)), [defaultPharmacy.name]);
    assert.equal((await bundle(`/Organization?identifier=${encodeURIComponent(`http://fhir.de/sid/other|${id}`)}`)).total, 0);
    assert.deepEqual(names(await bundle(`/Organization?identifier=${encodeURIComponent('https://fhir.kbv.de/NamingSystem/KBV_NS_Base_BSNR|' + practice.bsnr)}`)), [practice.name]);
  });

  test('_text and near', async () => {
    assert.deepEqual(names(await bundle('/Organization?_text=linden%20berlin')), ['Linden-Apotheke']);
    const near = await bundle('/Location?near=52.5137|13.3926|1|km');
    const locs = matches<{ name?: string }>(near).map((l) => l.name);
    assert.equal(locs[0], 'Apotheke am Gendarmenmarkt'); // sorted by distance
    assert.ok(locs.length >= 3 && !locs.includes('Mitte-Apotheke'));
  });
});

describe('paging', () => {
  test('_count pages with next/previous links that lead through every match once', async () => {
    const first = await bundle(`/Organization?type=${PHARMACY}&_count=5`);
    assert.equal(first.total, pharmacies.length);
    assert.equal(matches(first).length, 5);
    assert.equal(first.link?.some((l) => l.relation === 'previous'), false);
    const seen = new Set<string>();
    let b: Bundle | undefined = first;
    let pages = 0;
    while (b) {
      pages++;
      for (const o of matches<Organization>(b)) seen.add(o.id!);
      const next: string | undefined = b.link?.find((l) => l.relation === 'next')?.url;
      if (pages === 2) assert.ok(b.link?.some((l) => l.relation === 'previous'));
      b = next ? await bundle(next.replace('http://vzd.test', '')) : undefined;
    }
    assert.equal(pages, Math.ceil(pharmacies.length / 5));
    assert.equal(seen.size, pharmacies.length);
  });

  test('page=N equals _offset; _count is capped at 100; _count=0 only counts', async () => {
    const byPage = await bundle(`/Organization?type=${PHARMACY}&_count=5&page=2`);
    const byOffset = await bundle(`/Organization?type=${PHARMACY}&_count=5&_offset=5`);
    assert.deepEqual(names(byPage), names(byOffset));
    const big = await bundle('/Organization?_count=500');
    assert.equal(matches(big).length, big.total);
    assert.match(big.link!.find((l) => l.relation === 'self')!.url, /_count=100/);
    const count = await bundle(`/Organization?type=${PHARMACY}&_count=0`);
    assert.equal(count.total, pharmacies.length);
    assert.equal(count.entry, undefined);
    const defaultPage = await bundle(`/Organization?type=${PHARMACY}`);
    assert.equal(matches(defaultPage).length, 20);
  });
});

describe('other resource types and _include', () => {
  test('HealthcareService with _include of Organization, Location and the KIM Endpoint', async () => {
    const id = defaultPharmacy.telematikId!;
    const b = await bundle(`/HealthcareService?identifier=${id}&_include=HealthcareService:organization&_include=HealthcareService:location&_include=HealthcareService:endpoint`);
    assert.equal(b.total, 1);
    const types = (b.entry ?? []).map((e) => `${e.search?.mode}:${e.resource?.resourceType}`).sort();
    assert.deepEqual(types, ['include:Endpoint', 'include:Location', 'include:Organization', 'match:HealthcareService']);
    const hs = matches<HealthcareService>(b)[0];
    assert.ok(hs.specialty?.some((s) => s.coding?.[0].code === '10'));
    assert.ok(hs.availableTime?.length);
    const endpoint = b.entry!.find((e) => e.resource?.resourceType === 'Endpoint')!.resource as Endpoint;
    assert.equal(endpoint.address, 'mailto:apotheke.gendarmenmarkt@erx.kim.telematik-test');
    assert.equal(endpoint.connectionType.code, 'kim');
    assert.equal(endpoint.status, 'active');
    assert.equal(hs.endpoint?.[0].reference, `Endpoint/${endpoint.id}`);
    const star = await bundle(`/HealthcareService?organization.identifier=${id}&_include=*`);
    assert.equal(star.entry?.length, 4);
  });

  test('PractitionerRole points to the practice; Endpoint search by address', async () => {
    const b = await bundle(`/PractitionerRole?identifier=${physician.telematikId}&_include=PractitionerRole:organization`);
    assert.equal(b.total, 1);
    const role = matches<PractitionerRole>(b)[0];
    const org = b.entry!.find((e) => e.search?.mode === 'include')!.resource as Organization;
    assert.equal(org.name, practice.name);
    assert.equal(role.organization?.reference, `Organization/${org.id}`);
    const ep = await bundle('/Endpoint?address=hanna.berger@');
    assert.equal((matches<Endpoint>(ep)[0]).address, 'mailto:hanna.berger@erx.kim.telematik-test');
  });

  test('GET /<Type>/<id> reads one resource; an unknown id is 404', async () => {
    const b = await bundle(`/Organization?identifier=${defaultPharmacy.telematikId}`);
    const id = matches<Organization>(b)[0].id!;
    const res = await get(`/Organization/${id}`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().name, defaultPharmacy.name);
    const missing = await get('/Organization/00000000-0000-0000-0000-000000000000');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().resourceType, 'OperationOutcome');
    assert.equal((await get(`/Location/${id}`)).statusCode, 404); // an Organization id is not a Location id
  });
});

describe('errors and formats', () => {
  test('an unknown search parameter is 400 with an OperationOutcome', async () => {
    const res = await get('/Organization?address-zip=10117');
    assert.equal(res.statusCode, 400);
    const oo = res.json();
    assert.equal(oo.resourceType, 'OperationOutcome');
    assert.equal(oo.issue[0].code, 'not-supported');
    assert.match(oo.issue[0].details.text, /address-zip/);
  });

  test('bad paging values, modifiers, near and _include are 400', async () => {
    for (const url of ['/Organization?_count=-1', '/Organization?_count=abc', '/Organization?page=0', '/Organization?type:text=x', '/Location?near=abc', '/Location?near=52|13|5|miles', '/Organization?_include=HealthcareService:organization', '/Organization?_summary=data']) {
      const res = await get(url);
      assert.equal(res.statusCode, 400, url);
      assert.equal(res.json().resourceType, 'OperationOutcome', url);
    }
  });

  test('_format=xml answers a FHIR XML Bundle', async () => {
    const res = await get(`/Organization?type=${PHARMACY}&address-postalcode=10117&_format=xml`);
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/fhir\+xml/);
    assert.match(res.body, /<Bundle xmlns="http:\/\/hl7.org\/fhir">/);
    assert.match(res.body, /<total value="4"\/>/);
    assert.match(res.body, /<name value="Apotheke am Gendarmenmarkt"\/>/);
  });
});
