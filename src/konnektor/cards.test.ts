import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { certificateIdentity, createSeededPki } from '../crypto/pki.ts';
import { KonnektorError } from './errors.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { insured, pharmacies, physician, practice } from '../seed/identities.ts';
import { DEV_PIN, openCardStore, type CardStore } from './cards.ts';

let database: Database;
let cards: CardStore;
const pki = createSeededPki();

before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  cards = await openCardStore(database, pki);
});
after(() => database.close());

test('every seeded identity has its cards: HBA for the physician, SMC-B for practice and pharmacies, eGK for insured', () => {
  const [hba] = cards.cardsForIdentity(physician.id);
  assert.equal(hba.type, 'HBA');
  assert.match(hba.handle, /^HBA-\d+$/);
  assert.ok(hba.qes && hba.aut, 'HBA has QES and AUT keys');
  assert.deepEqual(hba.pinTypes, ['PIN.CH', 'PIN.QES']);
  assert.equal(hba.telematikId, physician.telematikId);
  assert.equal(certificateIdentity(hba.qes.cert).telematikId, physician.telematikId);
  assert.equal(hba.holderName, physician.name);
  assert.match(hba.iccsn, /^80276\d+$/);

  const [smcb] = cards.cardsForIdentity(practice.id);
  assert.equal(smcb.type, 'SMC-B');
  assert.ok(smcb.osig && smcb.aut);
  assert.equal(smcb.ctId, hba.ctId, 'HBA and practice SMC-B sit in the same terminal');
  assert.equal(cards.cards({ type: 'SMC-B' }).filter((c) => c.role === 'pharmacy').length, pharmacies.length);

  const egks = cards.cards({ type: 'EGK' });
  assert.equal(egks.length, insured.length);
  assert.equal(cards.cards({ kvnr: 'X110614233' })[0].type, 'EGK');
  assert.equal(certificateIdentity(cards.cards({ kvnr: 'X110614233' })[0].aut.cert).kvnr, 'X110614233');
  assert.equal(cards.getCard(hba.handle), hba);
  assert.equal(cards.getCard('HBA-999'), undefined);
  assert.equal(new Set(cards.cards().map((c) => c.handle)).size, cards.cards().length, 'handles are unique');
});

test('PIN status starts VERIFIABLE with 3 tries and becomes VERIFIED after the right PIN', async () => {
  const [smcb] = cards.cardsForIdentity(pharmacies[1].id);
  assert.deepEqual(await cards.pinStatus(smcb.handle, 'PIN.SMC'), { status: 'VERIFIABLE', leftTries: 3 });
  assert.deepEqual(await cards.verifyPin(smcb.handle, 'PIN.SMC', DEV_PIN), { result: 'OK', leftTries: 3 });
  assert.deepEqual(await cards.pinStatus(smcb.handle, 'PIN.SMC'), { status: 'VERIFIED', leftTries: 3 });
  await cards.resetSecurityState(smcb.handle);
  assert.equal((await cards.pinStatus(smcb.handle, 'PIN.SMC')).status, 'VERIFIABLE');
});

test('a wrong PIN counts down; the right one resets the counter', async () => {
  const [egk] = cards.cardsForIdentity(insured[1].id);
  assert.deepEqual(await cards.verifyPin(egk.handle, 'PIN.CH', '000000'), { result: 'REJECTED', leftTries: 2 });
  assert.deepEqual(await cards.pinStatus(egk.handle, 'PIN.CH'), { status: 'VERIFIABLE', leftTries: 2 });
  assert.deepEqual(await cards.verifyPin(egk.handle, 'PIN.CH', DEV_PIN), { result: 'OK', leftTries: 3 });
});

test('three wrong PINs block the card; then even the right PIN is refused until the PUK unblocks it', async () => {
  const [egk] = cards.cardsForIdentity(insured[2].id);
  assert.equal((await cards.verifyPin(egk.handle, 'PIN.CH', '111111')).result, 'REJECTED');
  assert.equal((await cards.verifyPin(egk.handle, 'PIN.CH', '111111')).result, 'REJECTED');
  assert.deepEqual(await cards.verifyPin(egk.handle, 'PIN.CH', '111111'), { result: 'BLOCKED', leftTries: 0 });
  assert.deepEqual(await cards.pinStatus(egk.handle, 'PIN.CH'), { status: 'BLOCKED', leftTries: 0 });
  assert.deepEqual(await cards.verifyPin(egk.handle, 'PIN.CH', DEV_PIN), { result: 'BLOCKED', leftTries: 0 });
  assert.equal((await cards.unblockPin(egk.handle, 'PIN.CH', '99999999')).result, 'REJECTED');
  assert.equal((await cards.unblockPin(egk.handle, 'PIN.CH', '12345678', '654321')).result, 'OK');
  assert.equal((await cards.verifyPin(egk.handle, 'PIN.CH', DEV_PIN)).result, 'REJECTED', 'the old PIN no longer works');
  assert.equal((await cards.verifyPin(egk.handle, 'PIN.CH', '654321')).result, 'OK');
});

test('PIN state survives reopening the store (durable counter)', async () => {
  const [smcb] = cards.cardsForIdentity(pharmacies[2].id);
  await cards.verifyPin(smcb.handle, 'PIN.SMC', '222222');
  const reopened = await openCardStore(database, pki);
  assert.deepEqual(await reopened.pinStatus(smcb.handle, 'PIN.SMC'), { status: 'VERIFIABLE', leftTries: 2 });
});

test('bad input gets a clear CardError', async () => {
  const [hba] = cards.cardsForIdentity(physician.id);
  await assert.rejects(cards.verifyPin(hba.handle, 'PIN.CH', '12'), (e: KonnektorError) => e.error === 'PIN_FORMAT' && e.status === 400);
  await assert.rejects(cards.verifyPin(hba.handle, 'PIN.SMC', DEV_PIN), (e: KonnektorError) => e.error === 'PIN_TYPE' && /has no PIN.SMC/.test(e.message));
  await assert.rejects(cards.pinStatus('HBA-999', 'PIN.CH'), (e: KonnektorError) => e.error === 'CARD_NOT_FOUND' && e.status === 404);
});
