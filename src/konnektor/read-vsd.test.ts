// VSDService ReadVSD: the eGK's insurance data (deterministic from the seed) and the online check's Prüfungsnachweis,
// whose Prüfziffer the Fachdienst can verify with the shared VSDM key (V2 carries the hcv, V1 is HMAC only).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodePruefungsnachweis, hcvFromParam, makeHcv, verifyPruefziffer, vsdmKeyOf, type VsdmKey,
} from '../crypto/vsdm.ts';
import { insured, pharmacies, practice } from '../seed/identities.ts';
import { CONTEXT, post, startTestKonnektor, type TestKonnektor } from './testing.ts';
import { vsdOf } from './vsd.ts';

const SECRET = Buffer.alloc(32, 0x5a);
const NOW = new Date('2026-03-02T09:30:00Z');
const handleOf = (k: TestKonnektor, identityId: string) => k.cards.cardsForIdentity(identityId)[0].handle;
const keys = (key: VsdmKey) => (op: string, v: string) => (op === key.operatorId && v === key.version ? key : undefined);

test('VSD come from the seed: Versicherungsbeginn, street without house number, payer', () => {
  const lisa = vsdOf(insured[0]);
  assert.equal(lisa.Versicherten_ID, 'X110614233');
  assert.equal(lisa.Versicherungsschutz.Beginn, '20100412', 'born 1985: insured since the 2010 birthday');
  assert.deepEqual(lisa.StrassenAdresse, { Strasse: 'Chausseestraße', Hausnummer: '8', Postleitzahl: '10115', Ort: 'Berlin', Land: 'D' });
  assert.equal(vsdOf(insured[1]).Versicherungsschutz.Beginn, '20160903', 'born 2016: insured since birth');
  assert.deepEqual(vsdOf(insured[0]), vsdOf(insured[0]), 'deterministic');
});

test('ReadVSD: a pharmacy reads an eGK; the PNW carries a V2 Prüfziffer with KVNR, time and the hcv of the VSD', async () => {
  const k = await startTestKonnektor({ vsdmKey: SECRET, now: () => NOW.getTime() });
  try {
    const r = await post(k.app, '/VSDService/ReadVSD', {
      Context: CONTEXT, EhcHandle: handleOf(k, insured[0].id), HpcHandle: handleOf(k, pharmacies[0].id), PerformOnlineCheck: true, ReadOnlineReceipt: true,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.Versichertendaten.Versicherten_ID, 'X110614233');
    const hcv = makeHcv('20100412', 'Chausseestraße');
    assert.deepEqual(hcvFromParam(r.body.Hcv), hcv);
    const pn = decodePruefungsnachweis(r.body.Pruefungsnachweis);
    assert.equal(pn.result, '2');
    assert.equal(pn.timestamp?.toISOString(), NOW.toISOString());
    const content = verifyPruefziffer(pn.pz!, keys(vsdmKeyOf(SECRET)));
    assert.equal(content.version, 2);
    assert.equal(content.kvnr, 'X110614233');
    assert.deepEqual(content.hcv, hcv);
    assert.ok(Math.abs(content.issuedAt.getTime() - NOW.getTime()) < 8000, 'iat has 8 s resolution');
    assert.throws(() => verifyPruefziffer(pn.pz!, keys(vsdmKeyOf(Buffer.alloc(32, 1)))), /not decryptable/, 'another key does not open it');

    const v1 = await post(k.app, '/VSDService/ReadVSD', {
      Context: CONTEXT, EhcHandle: handleOf(k, insured[2].id), HpcHandle: handleOf(k, pharmacies[3].id), PruefzifferVersion: 1,
    });
    const c1 = verifyPruefziffer(decodePruefungsnachweis(v1.body.Pruefungsnachweis).pz!, keys(vsdmKeyOf(SECRET)));
    assert.deepEqual([c1.version, c1.kvnr, c1.issuedAt.toISOString()], [1, 'A123456780', NOW.toISOString()]);
  } finally {
    await k.close();
  }
});

test('ReadVSD refuses a non-eGK, a practice SMC-B and a missing card; without the VSDM key the proof has result 3 and no PZ', async () => {
  const k = await startTestKonnektor();
  try {
    const egk = handleOf(k, insured[0].id);
    const pharmacy = handleOf(k, pharmacies[0].id);
    const asPractice = await post(k.app, '/VSDService/ReadVSD', { Context: CONTEXT, EhcHandle: egk, HpcHandle: handleOf(k, practice.id) });
    assert.deepEqual([asPractice.status, asPractice.body.error], [400, 'CARD_TYPE']);
    const notEgk = await post(k.app, '/VSDService/ReadVSD', { Context: CONTEXT, EhcHandle: pharmacy, HpcHandle: pharmacy });
    assert.deepEqual([notEgk.status, notEgk.body.error], [400, 'CARD_TYPE']);
    const missing = await post(k.app, '/VSDService/ReadVSD', { Context: CONTEXT, EhcHandle: 'EGK-999999', HpcHandle: pharmacy });
    assert.equal(missing.status, 404);
    const noContext = await post(k.app, '/VSDService/ReadVSD', { EhcHandle: egk, HpcHandle: pharmacy });
    assert.equal(noContext.status, 400);

    const offline = await post(k.app, '/VSDService/ReadVSD', { Context: CONTEXT, EhcHandle: egk, HpcHandle: pharmacy });
    assert.equal(offline.status, 200);
    const pn = decodePruefungsnachweis(offline.body.Pruefungsnachweis);
    assert.deepEqual([pn.result, pn.pz], ['3', undefined]);
  } finally {
    await k.close();
  }
});
