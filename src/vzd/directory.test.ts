import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDirectory, nameUuid, BASE_DN } from './directory.ts';
import { kimAddress, pharmacies, physician, practice, payer, insured } from '../seed/identities.ts';

test('the directory holds the practice, the physician, every pharmacy and the payer, but no insured', () => {
  const d = createDirectory();
  assert.equal(d.entries.length, 2 + pharmacies.length + 1);
  for (const who of [practice, physician, payer, ...pharmacies]) assert.ok(d.byTelematikId(who.telematikId!), who.id);
  assert.ok(insured.every((i) => !d.entries.some((e) => e.identityId === i.id)));
});

test('entries carry KIM data, addresses and stable uids', () => {
  const d = createDirectory();
  const p = d.byTelematikId(pharmacies[0].telematikId!)!;
  assert.equal(p.uid, nameUuid(pharmacies[0].telematikId!));
  assert.equal(p.uid, createDirectory().byTelematikId(pharmacies[0].telematikId!)!.uid);
  assert.match(p.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(p.dn, `uid=${p.uid},${BASE_DN}`);
  assert.deepEqual(p.mail, [kimAddress(pharmacies[0])]);
  assert.deepEqual(p.kimData, [`${kimAddress(pharmacies[0])},1.5,eRezept`]);
  assert.equal(p.postalCode, '10117');
  assert.ok(p.openingHours.length > 0 && p.pharmacySpecialties.includes('10'));
  const doc = d.byTelematikId(physician.telematikId!)!;
  assert.equal(doc.kind, 'person');
  assert.equal(doc.organizationUid, d.byTelematikId(practice.telematikId!)!.uid);
  assert.deepEqual(d.byTelematikId(practice.telematikId!)!.domainID, [practice.bsnr]);
  assert.deepEqual(d.byTelematikId(payer.telematikId!)!.domainID, ['109519005']);
  assert.equal(new Set(d.entries.map((e) => e.uid)).size, d.entries.length);
});

test('setCertificates replaces the certificates per Telematik-ID', () => {
  const d = createDirectory();
  const id = pharmacies[2].telematikId!;
  assert.deepEqual(d.certificatesOf(id), []);
  d.setCertificates({ [id]: new Uint8Array([1, 2, 3]) });
  assert.deepEqual(d.certificatesOf(id), [Buffer.from([1, 2, 3])]);
  d.setCertificates(new Map([[physician.telematikId!, [new Uint8Array([4]), new Uint8Array([5])]]]));
  assert.deepEqual(d.certificatesOf(id), []);
  assert.equal(d.certificatesOf(physician.telematikId!).length, 2);
});
