// The VZD service publishes the test PKI's ENC certificates as LDAP userCertificate, as the real VZD does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { createSharedResources } from '../cli/resources.ts';
import { getPki } from '../cli/shared.ts';
import { loadConfig } from '../config.ts';
import { parseCertificate, readAdmission } from '../crypto/certificate.ts';
import { createSeededPki } from '../crypto/pki.ts';
import { pharmacies, physician } from '../seed/identities.ts';
import { BASE_DN, seededDirectory } from './directory.ts';
import { directoryCertificates, vzdService } from './service.ts';

const silent = { info() {}, warn() {}, error() {} };

test('LDAP search for a Telematik-ID returns the card ENC certificate whose Admission names that Telematik-ID', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'erx-vzd-certs-'));
  const config = loadConfig({ ERX_VZD_PORT: '0', ERX_VZD_LDAP_PORT: '0', ERX_LOG_LEVEL: 'silent', ERX_DATA_DIR: dataDir });
  const resources = createSharedResources();
  const context = { config, log: silent, resources };
  const running = await vzdService.start(context);
  const client = new Client({ url: running.urls[1] });
  try {
    const pki = await getPki(context);
    const pharmacy = pharmacies[4];
    const { searchEntries } = await client.search(BASE_DN, {
      scope: 'sub', filter: `(telematikID=${pharmacy.telematikId})`, attributes: ['telematikID', 'userCertificate;binary'],
    });
    assert.equal(searchEntries.length, 1);
    assert.equal(searchEntries[0].telematikID, pharmacy.telematikId);
    const cert = searchEntries[0]['userCertificate;binary'];
    assert.ok(Buffer.isBuffer(cert), 'one DER certificate');
    assert.equal(readAdmission(cert)?.registrationNumber, pharmacy.telematikId);
    assert.deepEqual([...(parseCertificate(cert).keyUsage ?? [])], ['keyAgreement'], 'the encryption certificate');
    assert.ok(cert.equals(pki.cards[pharmacy.id].enc!.cert), 'the SMC-B ENC certificate of that pharmacy from the PKI');

    const person = await client.search(BASE_DN, { scope: 'sub', filter: `(telematikID=${physician.telematikId})`, attributes: ['userCertificate;binary'] });
    const hbaEnc = person.searchEntries[0]['userCertificate;binary'] as Buffer;
    assert.equal(readAdmission(hbaEnc)?.registrationNumber, physician.telematikId);
    assert.ok(hbaEnc.equals(pki.cards[physician.id].enc!.cert), 'the HBA ENC certificate');

    // Certificates are required now, and every directory entry has one: nothing is hidden.
    const all = await client.search(BASE_DN, { scope: 'sub', filter: '(userCertificate=*)', attributes: ['1.1'] });
    assert.equal(all.searchEntries.length, seededDirectory.entries.length);
  } finally {
    await client.unbind();
    await running.stop();
    await resources.closeAll();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('directoryCertificates: ENC certificates only, keyed by Telematik-ID; insured (eGK) are not in it', () => {
  const pki = createSeededPki();
  const map = directoryCertificates(pki);
  assert.deepEqual([...map.keys()].sort(), seededDirectory.entries.map((e) => e.telematikID).sort());
  for (const card of Object.values(pki.cards)) {
    if (card.type === 'eGK') continue;
    assert.deepEqual(map.get(card.identity.telematikId!), [card.enc!.cert]);
  }
});
