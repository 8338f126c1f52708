import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { createSharedResources } from '../cli/resources.ts';
import { startVzd, vzdService, type RunningVzd } from './service.ts';
import { findPharmacies, lookupKimAddress } from './client.ts';
import { loadConfig } from '../config.ts';
import { kimAddress, pharmacies, physician, practice } from '../seed/identities.ts';
import type { Bundle } from '../fhir/types.ts';

let vzd: RunningVzd;

before(async () => {
  vzd = await startVzd({ host: '127.0.0.1', httpPort: 0, ldapPort: 0 });
});
after(() => vzd.stop());

describe('the running VZD over real sockets', () => {
  test('HTTP: /health and the seed 004 search', async () => {
    assert.equal((await fetch(`${vzd.httpUrl}/health`)).status, 200);
    const res = await fetch(`${vzd.httpUrl}/Organization?type=urn:oid:1.2.276.0.76.4.54&address-postalcode=10117`, { headers: { accept: 'application/fhir+json' } });
    assert.equal(res.status, 200);
    const bundle = (await res.json()) as Bundle;
    assert.equal(bundle.total, pharmacies.filter((p) => p.address?.postalCode === '10117').length);
    assert.ok(bundle.entry?.every((e) => e.fullUrl?.startsWith(`${vzd.httpUrl}/Organization/`)));
  });

  test('findPharmacies: by postal code, name and city, with KIM addresses', async () => {
    const in10117 = await findPharmacies({ vzdUrl: vzd.httpUrl, postalCode: '10117' });
    assert.deepEqual(
      in10117.map((p) => p.kimAddress).sort(),
      pharmacies.filter((p) => p.address?.postalCode === '10117').map((p) => kimAddress(p)).sort(),
    );
    assert.ok(in10117.every((p) => p.city === 'Berlin' && p.telematikId.startsWith('3-')));
    assert.deepEqual((await findPharmacies({ vzdUrl: vzd.httpUrl, name: 'kropcke' })).map((p) => p.name), ['Kröpcke-Apotheke']);
    // more than one page (the client follows next links)
    const all = await findPharmacies({ vzdUrl: vzd.httpUrl, limit: 100 });
    assert.equal(all.length, pharmacies.length);
    const berlin = await findPharmacies({ vzdUrl: vzd.httpUrl, city: 'Berlin', limit: 3 });
    assert.equal(berlin.length, 3);
  });

  test('lookupKimAddress: by Telematik-ID, escaped', async () => {
    assert.equal(await lookupKimAddress({ ldapUrl: vzd.ldapUrl, telematikId: physician.telematikId! }), kimAddress(physician));
    assert.equal(await lookupKimAddress({ ldapUrl: vzd.ldapUrl, telematikId: practice.telematikId! }), kimAddress(practice));
    assert.equal(await lookupKimAddress({ ldapUrl: vzd.ldapUrl, telematikId: '3-does-not-exist' }), undefined);
    assert.equal(await lookupKimAddress({ ldapUrl: vzd.ldapUrl, telematikId: '*' }), undefined);
    assert.equal(await lookupKimAddress({ ldapUrl: vzd.ldapUrl, telematikId: '*)(objectClass=*' }), undefined);
  });

  test('LDAP and FHIR agree on the pharmacy list', async () => {
    const client = new Client({ url: vzd.ldapUrl });
    let ldapRows: string[];
    try {
      const { searchEntries } = await client.search('dc=data,dc=vzd', {
        scope: 'sub',
        filter: '(professionOID=1.2.276.0.76.4.54)',
        attributes: ['telematikID', 'displayName', 'mail', 'postalCode', 'localityName', 'streetAddress'],
      });
      ldapRows = searchEntries.map((e) => [e.telematikID, e.displayName, e.mail, e.streetAddress, e.postalCode, e.localityName].join(' | ')).sort();
    } finally {
      await client.unbind();
    }
    const fhirRows = (await findPharmacies({ vzdUrl: vzd.httpUrl, limit: 100 }))
      .map((p) => [p.telematikId, p.name, p.kimAddress, p.line, p.postalCode, p.city].join(' | '))
      .sort();
    assert.equal(ldapRows.length, pharmacies.length);
    assert.deepEqual(fhirRows, ldapRows);
  });
});

test('vzdService starts from the config on free ports and stops', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'erx-vzd-'));
  const config = loadConfig({ ERX_VZD_PORT: '0', ERX_VZD_LDAP_PORT: '0', ERX_LOG_LEVEL: 'silent', ERX_DATA_DIR: dataDir });
  const logs: unknown[] = [];
  const log = { info: (o: unknown) => logs.push(o), warn: (o: unknown) => logs.push(o), error: (o: unknown) => logs.push(o) };
  const resources = createSharedResources();
  const running = await vzdService.start({ config, log, resources });
  try {
    assert.equal(running.name, 'vzd');
    const [httpUrl, ldapUrl] = running.urls;
    assert.match(httpUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(ldapUrl, /^ldap:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await fetch(`${httpUrl}/health`)).status, 200);
    assert.equal(await lookupKimAddress({ ldapUrl, telematikId: pharmacies[1].telematikId! }), kimAddress(pharmacies[1]));
  } finally {
    await running.stop();
    await resources.closeAll();
    await rm(dataDir, { recursive: true, force: true });
  }
});
