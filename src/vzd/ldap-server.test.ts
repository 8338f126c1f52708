import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthMethodNotSupportedError, Client, InvalidDNSyntaxError, NoSuchObjectError, SizeLimitExceededError, UnwillingToPerformError,
} from 'ldapts';
import { startLdapServer, type RunningLdapServer } from './ldap-server.ts';
import { createDirectory } from './directory.ts';
import { escapeLdapFilterValue } from './ldap-filter.ts';
import { defaultPharmacy, pharmacies, practice, physician, payer } from '../seed/identities.ts';

const BASE = 'dc=data,dc=vzd';
const PHARMACY_OID = '1.2.276.0.76.4.54';

let server: RunningLdapServer;
let client: Client;

before(async () => {
  server = await startLdapServer({ port: 0 });
  client = new Client({ url: server.url, timeout: 5000 });
  await client.bind('', '');
});

after(async () => {
  await client.unbind();
  await server.stop();
});

async function search(filter: string, options: { attributes?: string[]; sizeLimit?: number; scope?: 'base' | 'one' | 'sub'; base?: string } = {}) {
  const { searchEntries } = await client.search(options.base ?? BASE, { scope: options.scope ?? 'sub', filter, attributes: options.attributes, sizeLimit: options.sizeLimit });
  return searchEntries;
}

describe('searches', () => {
  test('equality on telematikID finds the one entry with its KIM address and kimData', async () => {
    const entries = await search(`(telematikID=${defaultPharmacy.telematikId})`);
    assert.equal(entries.length, 1);
    const e = entries[0];
    assert.match(e.dn, /^uid=[0-9a-f-]{36},dc=data,dc=vzd$/);
    assert.equal(e.displayName, 'Apotheke am Gendarmenmarkt');
    assert.equal(e.mail, 'apotheke.gendarmenmarkt@erx.kim.telematik-test');
    assert.equal(e.kimData, 'apotheke.gendarmenmarkt@erx.kim.telematik-test,1.5,eRezept');
    assert.equal(e.komLeData, '1.5,apotheke.gendarmenmarkt@erx.kim.telematik-test');
    assert.equal(e.postalCode, '10117');
    assert.equal(e.localityName, 'Berlin');
    assert.equal(e.streetAddress, 'Markgrafenstraße 36');
    assert.equal(e.professionOID, PHARMACY_OID);
    assert.equal(e.personalEntry, 'FALSE');
  });

  test('substring displayName=*Apotheke* finds every pharmacy, case-insensitively', async () => {
    const entries = await search('(displayName=*Apotheke*)');
    assert.equal(entries.length, pharmacies.length);
    assert.equal((await search('(displayName=*aPoThEkE*)')).length, pharmacies.length);
    const initial = await search('(displayName=Apotheke am*)');
    assert.deepEqual(initial.map((e) => e.displayName).sort(), ['Apotheke am Gendarmenmarkt', 'Apotheke am Hausvogteiplatz', 'Apotheke am Marienplatz', 'Apotheke am Savignyplatz']);
    const final = await search('(displayName=*-Apotheke)');
    assert.ok(final.length > 0 && final.every((e) => String(e.displayName).endsWith('-Apotheke')));
  });

  test('postal code and profession OID: the pharmacies in 10117', async () => {
    const entries = await search(`(&(professionOID=${PHARMACY_OID})(postalCode=10117))`);
    const expected = pharmacies.filter((p) => p.address?.postalCode === '10117').map((p) => p.telematikId).sort();
    assert.ok(expected.length >= 4);
    assert.deepEqual(entries.map((e) => e.telematikID).sort(), expected);
    // without the OID, the practice and its physician (practice address) are in 10117 too
    assert.equal((await search('(postalCode=10117)')).length, expected.length + 2);
  });

  test('or, not and attribute names in any case or alias', async () => {
    const two = await search(`(|(telematikID=${practice.telematikId})(TELEMATIKID=${payer.telematikId}))`);
    assert.deepEqual(two.map((e) => e.telematikID).sort(), [practice.telematikId, payer.telematikId].sort());
    const outsideBerlin = await search(`(&(professionOID=${PHARMACY_OID})(!(l=Berlin)))`);
    assert.equal(outsideBerlin.length, pharmacies.filter((p) => p.address?.city !== 'Berlin').length);
    const byAlias = await search('(rfc822mailbox=praxis.berger@*)');
    assert.deepEqual(byAlias.map((e) => e.telematikID), [practice.telematikId]);
    // the PS pharmacy search seen in the spec
    const ps = await search(`(&(professionOID=${PHARMACY_OID})(|(displayName=*linden*)(rfc822mailbox=*linden*)))`);
    assert.equal(ps.length, 1);
    assert.equal(ps[0].displayName, 'Linden-Apotheke');
  });

  test('a physician entry has person attributes and the practice address', async () => {
    const [e] = await search(`(telematikID=${physician.telematikId})`);
    assert.equal(e.displayName, 'Dr. med. Berger, Hanna');
    assert.equal(e.givenName, 'Hanna');
    assert.equal(e.sn, 'Berger');
    assert.equal(e.personalEntry, 'TRUE');
    assert.equal(e.organization, practice.name);
    assert.equal(e.postalCode, '10117');
  });
});

describe('attribute selection', () => {
  test('requested names in any case come back in the schema spelling, and only those', async () => {
    const [e] = await search(`(telematikID=${defaultPharmacy.telematikId})`, { attributes: ['TELEMATIKID', 'displayname', 'KimData'] });
    assert.deepEqual(Object.keys(e).sort(), ['displayName', 'dn', 'kimData', 'telematikID']);
    assert.equal(e.telematikID, defaultPharmacy.telematikId);
  });

  test('aliases answer under the requested name; 1.1 returns no attributes; default returns all', async () => {
    const [e] = await search(`(telematikID=${defaultPharmacy.telematikId})`, { attributes: ['street', 'l', 'rfc822mailbox'] });
    assert.deepEqual(e, {
      dn: e.dn,
      street: 'Markgrafenstraße 36',
      l: 'Berlin',
      rfc822Mailbox: 'apotheke.gendarmenmarkt@erx.kim.telematik-test',
    });
    const [none] = await search(`(telematikID=${defaultPharmacy.telematikId})`, { attributes: ['1.1'] });
    // ldapts lists requested names it did not receive as []; the server sent no attribute at all
    assert.deepEqual(Object.entries(none).filter(([k, v]) => k !== 'dn' && (v as unknown[]).length !== 0), []);
    const [all] = await search(`(telematikID=${defaultPharmacy.telematikId})`);
    for (const name of ['objectClass', 'uid', 'telematikID', 'displayName', 'cn', 'mail', 'kimData', 'postalCode', 'localityName', 'streetAddress', 'stateOrProvinceName', 'countryCode', 'professionOID', 'specialization', 'holder']) {
      assert.ok(name in all, `missing ${name}`);
    }
    assert.equal(all.stateOrProvinceName, 'Berlin');
  });
});

describe('scopes and limits', () => {
  test('base, one and sub scope under dc=data,dc=vzd', async () => {
    const directorySize = 25; // practice, physician, 22 pharmacies, payer
    assert.equal((await search('(objectClass=*)', { scope: 'one' })).length, directorySize);
    assert.equal((await search('(objectClass=*)', { scope: 'sub' })).length, directorySize + 1);
    const [root] = await search('(objectClass=*)', { scope: 'base' });
    assert.equal(root.dn, BASE);
    const [one] = await search(`(telematikID=${payer.telematikId})`);
    const base = await search('(objectClass=*)', { scope: 'base', base: one.dn });
    assert.deepEqual(base.map((e) => e.telematikID), [payer.telematikId]);
    assert.equal((await search('(objectClass=*)', { scope: 'one', base: one.dn })).length, 0);
  });

  test('the client sizeLimit is honoured', async () => {
    const entries = await search('(displayName=*Apotheke*)', { sizeLimit: 3 });
    assert.equal(entries.length, 3);
  });

  test('the server-side size limit answers sizeLimitExceeded', async () => {
    const small = await startLdapServer({ port: 0, maxResults: 5 });
    const c = new Client({ url: small.url });
    try {
      await assert.rejects(c.search(BASE, { scope: 'sub', filter: '(displayName=*Apotheke*)' }), (err: unknown) => err instanceof SizeLimitExceededError && err.code === 4);
      const few = await c.search(BASE, { scope: 'sub', filter: '(|(postalCode=80331)(postalCode=80802))' });
      assert.equal(few.searchEntries.length, 2);
    } finally {
      await c.unbind();
      await small.stop();
    }
  });
});

describe('filter injection', () => {
  test('an escaped value cannot widen the search', async () => {
    const hostile = '*)(objectClass=*';
    const filter = `(telematikID=${escapeLdapFilterValue(hostile)})`;
    assert.equal(filter, '(telematikID=\\2a\\29\\28objectClass=\\2a)');
    assert.equal((await search(filter)).length, 0);
    assert.equal((await search(`(telematikID=${escapeLdapFilterValue('*')})`)).length, 0);
    // the same value unescaped would have matched every entry with a telematikID
    assert.equal((await search('(telematikID=*)')).length, 25);
  });
});

describe('malformed requests get LDAP result codes, never a dropped connection', () => {
  test('bad base DN -> invalidDNSyntax (34); unknown entry or foreign base -> noSuchObject (32)', async () => {
    await assert.rejects(search('(objectClass=*)', { base: 'this is not a dn' }), (e: unknown) => e instanceof InvalidDNSyntaxError && e.code === 34);
    await assert.rejects(search('(objectClass=*)', { base: 'uid=nobody,dc=data,dc=vzd' }), (e: unknown) => e instanceof NoSuchObjectError && e.code === 32);
    await assert.rejects(search('(objectClass=*)', { base: 'dc=example,dc=com' }), (e: unknown) => e instanceof NoSuchObjectError);
    // the same connection still works
    assert.equal((await search(`(telematikID=${payer.telematikId})`)).length, 1);
  });

  test('an unsupported filter (extensible match) -> unwillingToPerform (53)', async () => {
    await assert.rejects(search('(displayName:caseExactMatch:=Roland-Apotheke)'), (e: unknown) => e instanceof UnwillingToPerformError && e.code === 53);
    assert.equal((await search('(displayName=Roland-Apotheke)')).length, 1);
  });

  test('SASL bind -> authMethodNotSupported (7); simple bind accepted; writes refused (53)', async () => {
    const c = new Client({ url: server.url });
    try {
      await assert.rejects(c.bind('EXTERNAL'), (e: unknown) => e instanceof AuthMethodNotSupportedError && e.code === 7);
      await c.bind('cn=praxis,dc=data,dc=vzd', 'irrelevant');
      await assert.rejects(c.bind('cn=praxis,dc=data,dc=vzd', ''), (e: unknown) => e instanceof UnwillingToPerformError);
      await assert.rejects(c.add(`uid=new,${BASE}`, { cn: 'x', objectClass: 'person' }), (e: unknown) => e instanceof UnwillingToPerformError);
      await assert.rejects(c.del(`uid=x,${BASE}`), (e: unknown) => e instanceof UnwillingToPerformError);
      const { searchEntries } = await c.search(BASE, { filter: `(telematikID=${practice.telematikId})` });
      assert.equal(searchEntries.length, 1);
    } finally {
      await c.unbind();
    }
  });
});

describe('certificates', () => {
  test('userCertificate;binary carries the DER bytes set by the PKI; requireCertificate hides entries without', async () => {
    const directory = createDirectory();
    const der = Buffer.from([0x30, 0x82, 0x01, 0x0a, 0xff, 0x00, 0x80, 0xfe, 0x41]);
    directory.setCertificates(new Map([[defaultPharmacy.telematikId!, der]]));
    const s = await startLdapServer({ port: 0, directory, requireCertificate: true });
    const c = new Client({ url: s.url });
    try {
      const { searchEntries } = await c.search(BASE, { scope: 'sub', filter: '(professionOID=1.2.276.0.76.4.54)', attributes: ['telematikID', 'userCertificate;binary'] });
      assert.equal(searchEntries.length, 1);
      const cert = searchEntries[0]['userCertificate;binary'];
      assert.ok(Buffer.isBuffer(cert));
      assert.deepEqual(cert, der);
      const present = await c.search(BASE, { scope: 'sub', filter: '(userCertificate=*)', attributes: ['1.1'] });
      assert.equal(present.searchEntries.length, 1);
    } finally {
      await c.unbind();
      await s.stop();
    }
  });
});
