// GET /Task?kvnr&hcv&pnw: a pharmacy lists an insured's redeemable Tasks with the eGK's VSDM proof of presence.
// A valid proof lists exactly the insured's ready flowtype-160 Tasks with AccessCode; every faked or stale part of
// the proof is refused with gematik's status code and text; the insured gets an AuditEvent.
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';
import { encodePruefungsnachweis } from '../../crypto/vsdm.ts';
import { forEachEngine } from '../../storage/test-postgres.ts';
import { pharmacies, type Identity } from '../../seed/identities.ts';
import { runRetention } from '../retention.ts';
import {
  acceptedTask, call, createWorld, egkQuery, identifierValue, readyTask, TEST_VSDM_KEY, type EgkProofOptions, type TaskHandle, type World,
} from '../testing.ts';
import { NS } from '../task-resource.ts';

const ids = (body: any): string[] => (body.entry ?? []).map((e: any) => e.resource.id).sort();
const text = (body: any): string => body.issue[0].details.text;

forEachEngine('GET /Task with the eGK (pharmacy)', (getDb) => {
  let world: World;
  let lenient: World;
  let own: TaskHandle[];
  let others: TaskHandle[];
  before(async () => {
    world = await createWorld(getDb());
    // A second Fachdienst on the same data that accepts PN3 and locks a pharmacy after 3 failed comparisons (the
    // counter is in the database: world's 2 failed comparisons of pharmacy count here too, pharmacy2 has none).
    lenient = await createWorld(getDb(), { egk: { vsdmKey: TEST_VSDM_KEY, acceptPn3: true, failuresPerDay: 3 } });
    own = [await readyTask(world), await readyTask(world)];
    others = [
      await readyTask(world, '160', 'json', { patient: world.identity('child') }), // another insured
      await readyTask(world, '169'), // assigned by the practice: not for any pharmacy with the eGK
      await acceptedTask(world), // in progress elsewhere
    ];
  });
  after(async () => {
    await world.close();
    await lenient.close();
  });

  test('a valid proof (Prüfziffer V2 with hcv) lists the insured\'s ready 160 Tasks with AccessCode, and $accept works', async () => {
    const r = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured')}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.type, 'searchset');
    const listed = ids(r.body);
    for (const t of own) assert.ok(listed.includes(t.id), `own ready Task ${t.id} listed`);
    for (const t of others) assert.ok(!listed.includes(t.id), `Task ${t.id} (${t.flowType}) not listed`);
    for (const e of r.body.entry) {
      assert.equal(e.resource.status, 'ready');
      assert.equal(e.resource.for.identifier.value, 'X110614233');
      assert.equal(identifierValue(e.resource, NS.secret), undefined);
      assert.ok(identifierValue(e.resource, NS.accessCode));
    }
    const first = r.body.entry.find((e: any) => e.resource.id === own[0].id).resource;
    const accept = await call(world, 'pharmacy', 'POST', `/Task/${first.id}/$accept?ac=${identifierValue(first, NS.accessCode)}`);
    assert.equal(accept.status, 200);
    const again = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured')}`);
    assert.ok(!ids(again.body).includes(first.id), 'an accepted Task is no longer offered');
    own.shift();

    const audit = await call(world, 'insured', 'GET', '/AuditEvent');
    const texts: string[] = audit.body.entry.map((e: any) => e.resource.text.div);
    assert.ok(texts.some((t) => t.includes(`${world.identity('pharmacy').name} hat mit Ihrer eGK die Liste Ihrer einlösbaren E-Rezepte abgerufen`)));
  });

  test('Prüfziffer V1 (HMAC, no hcv inside) is accepted too; XML answer for the AVS by default', async () => {
    const r = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { version: 1 })}`, { format: 'xml' });
    assert.equal(r.status, 200);
    assert.deepEqual(ids(r.body), own.map((t) => t.id).sort());
  });

  test('tampered Prüfziffer, another key: 403 with the gematik texts', async () => {
    for (const version of [1, 2] as const) {
      const tampered = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { version, tamper: (pz) => { pz[40] ^= 1; } })}`);
      assert.equal(tampered.status, 403);
      assert.match(text(tampered.body), version === 1 ? /Fehler bei Prüfung der HMAC-Sicherung/ : /nicht entschlüsselbar/);
      const otherKey = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { version, key: Buffer.alloc(32, 1) })}`);
      assert.equal(otherKey.status, 403);
    }
    // KVNR forged inside a V1 Prüfziffer (the HMAC no longer fits)
    const forged = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { version: 1, kvnr: 'K220745670', tamper: (pz) => pz.write('K220745670', 0, 'latin1') })}`);
    assert.equal(forged.status, 403);
  });

  test('KVNR of another insured: 456; wrong hcv: 458; stale proof: 403', async () => {
    const kvnr = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { kvnr: 'K220745670' })}`);
    assert.equal(kvnr.status, 456);
    assert.equal(text(kvnr.body), 'KVNR Überprüfung fehlgeschlagen.');
    const hcv = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { hcv: 'AAAAAAA' })}`);
    assert.equal(hcv.status, 458);
    assert.equal(text(hcv.body), 'HCV Validierung fehlgeschlagen.');
    const stale = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { issuedAt: new Date(world.clock.now.getTime() - 31 * 60_000) })}`);
    assert.equal(stale.status, 403);
    assert.match(text(stale.body), /Zeitliche Gültigkeit des Anwesenheitsnachweis überschritten/);
    const fresh = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', { issuedAt: new Date(world.clock.now.getTime() - 29 * 60_000) })}`);
    assert.equal(fresh.status, 200, '29 minutes is still valid');
  });

  test('missing kvnr 455, missing hcv 457, malformed hcv 400, missing or undecodable pnw 403, gzip bomb 403', async () => {
    const full = new URLSearchParams(egkQuery(world, 'insured'));
    const without = (name: string) => { const p = new URLSearchParams(full); p.delete(name); return p.toString(); };
    assert.equal((await call(world, 'pharmacy', 'GET', `/Task?${without('kvnr')}`)).status, 455);
    assert.equal((await call(world, 'pharmacy', 'GET', `/Task?${without('hcv')}`)).status, 457);
    assert.equal((await call(world, 'pharmacy', 'GET', `/Task?${without('pnw')}`)).status, 403);
    assert.equal((await call(world, 'pharmacy', 'GET', '/Task')).status, 455);
    const badHcv = new URLSearchParams(full); badHcv.set('hcv', '%%%');
    assert.equal((await call(world, 'pharmacy', 'GET', `/Task?${badHcv}`)).status, 400);
    const notGzip = new URLSearchParams(full); notGzip.set('pnw', Buffer.from('<PN/>').toString('base64'));
    assert.equal((await call(world, 'pharmacy', 'GET', `/Task?${notGzip}`)).status, 403);

    // 2 MiB of zeros compress to about 2 KiB: far past the 8 KiB the inflater may produce.
    const bomb = gzipSync(Buffer.alloc(2 * 1024 * 1024), { level: 9 }).toString('base64');
    assert.ok(bomb.length < 4096, `bomb fits the parameter limit (${bomb.length})`);
    const p = new URLSearchParams(full); p.set('pnw', bomb);
    const r = await call(world, 'pharmacy', 'GET', `/Task?${p}`);
    assert.equal(r.status, 403);
    assert.equal(text(r.body), 'Failed decoding PNW data.');
    assert.match(r.body.issue[0].diagnostics, /beyond the limit/);

    const doctype = gzipSync('<?xml version="1.0"?><!DOCTYPE PN [<!ENTITY x "y">]><PN xmlns="http://ws.gematik.de/fa/vsdm/pnw/v1.0"><TS>&x;</TS><E>2</E></PN>').toString('base64');
    p.set('pnw', doctype);
    assert.equal((await call(world, 'pharmacy', 'GET', `/Task?${p}`)).status, 403, 'no DOCTYPE / entities');
  });

  test('PN3 (result 3, no Prüfziffer): 454 by default, 202 with the list where the Fachdienst accepts PN3', async () => {
    const pn3 = new URLSearchParams(egkQuery(world, 'insured'));
    pn3.set('pnw', encodePruefungsnachweis({ timestamp: world.clock.now, result: '3', errorCode: '3' }));
    const refused = await call(world, 'pharmacy', 'GET', `/Task?${pn3}`);
    assert.equal(refused.status, 454);
    assert.equal(text(refused.body), 'Es wird kein Prüfnachweis mit Ergebnis 3 (ohne Prüfziffer) akzeptiert.');
    const accepted = await call(lenient, 'pharmacy', 'GET', `/Task?${pn3}`);
    assert.equal(accepted.status, 202);
    assert.deepEqual(ids(accepted.body), own.map((t) => t.id).sort());
    const result1 = new URLSearchParams(pn3);
    result1.set('pnw', encodePruefungsnachweis({ timestamp: world.clock.now, result: '1' }));
    assert.equal((await call(lenient, 'pharmacy', 'GET', `/Task?${result1}`)).status, 403, 'result 1 without Prüfziffer');
  });

  test('only pharmacies: insured with the eGK parameters 403, practice and payer 403', async () => {
    const q = egkQuery(world, 'insured');
    for (const who of ['insured', 'practice', 'payer'] as const) {
      assert.equal((await call(world, who, 'GET', `/Task?${q}`)).status, 403, who);
    }
  });

  test('after 3 failed KVNR / hcv comparisons the pharmacy is locked for the day (423), others are not', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await call(lenient, 'pharmacy2', 'GET', `/Task?${egkQuery(lenient, 'insured', { kvnr: 'K220745670' })}`)).status, 456);
    }
    const locked = await call(lenient, 'pharmacy2', 'GET', `/Task?${egkQuery(lenient, 'insured')}`);
    assert.equal(locked.status, 423);
    assert.equal((await call(lenient, 'pharmacy', 'GET', `/Task?${egkQuery(lenient, 'insured')}`)).status, 200);
    lenient.clock.advanceDays(1);
    assert.equal((await call(lenient, 'pharmacy2', 'GET', `/Task?${egkQuery(lenient, 'insured')}`)).status, 200, 'a new day');
  });

  test('expired Tasks are not offered', async () => {
    world.clock.advanceDays(400);
    const r = await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured')}`);
    assert.equal(r.status, 200);
    assert.deepEqual(ids(r.body), []);
  });
});

// The lock counter lives in the database: every Fachdienst process on it (cluster workers, a restarted one) counts
// the same failures, and parallel failures all count.
forEachEngine('GET /Task with the eGK: failure counter shared through the database', (getDb) => {
  const worlds: World[] = [];
  const open = async (failuresPerDay: number, sameClockAs?: World) => {
    const w = await createWorld(getDb(), { egk: { vsdmKey: TEST_VSDM_KEY, failuresPerDay } });
    if (sameClockAs) w.clock.now = sameClockAs.clock.now; // one Berlin day for all instances
    worlds.push(w);
    return w;
  };
  after(async () => {
    for (const w of worlds) await w.close();
  });
  // Each test its own pharmacy: the block shares one database and today's counters.
  const egk = async (world: World, pharmacy: Identity, options: EgkProofOptions = {}) => {
    const authorization = `Bearer ${await world.tokenOf(pharmacy)}`;
    return (await call(world, 'pharmacy', 'GET', `/Task?${egkQuery(world, 'insured', options)}`, { headers: { authorization } })).status;
  };
  const wrongKvnr = { kvnr: 'K220745670' };
  const stored = async (pharmacy: Identity) => {
    const rows = await getDb().db.selectFrom('fachdienst_egk_failure').select(['day', 'failures'])
      .where('telematik_id', '=', pharmacy.telematikId!).execute();
    return rows.map((r) => Number(r.failures));
  };

  test('the count survives a new Fachdienst instance on the same database (restart)', async () => {
    const pharmacy = pharmacies[2];
    const first = await open(2);
    assert.equal(await egk(first, pharmacy, wrongKvnr), 456);
    assert.equal(await egk(first, pharmacy, { hcv: 'AAAAAAA' }), 458);
    await first.close();
    worlds.splice(worlds.indexOf(first), 1);
    const restarted = await open(2, first);
    assert.equal(await egk(restarted, pharmacy), 423);
    assert.equal(await egk(restarted, pharmacies[3]), 200, 'another pharmacy is not locked');
  });

  test('two instances on one database (cluster workers) share the count', async () => {
    const pharmacy = pharmacies[4];
    const a = await open(3);
    const b = await open(3, a);
    assert.equal(await egk(a, pharmacy, wrongKvnr), 456);
    assert.equal(await egk(b, pharmacy, wrongKvnr), 456);
    assert.equal(await egk(a, pharmacy), 200, '2 of 3');
    assert.equal(await egk(b, pharmacy, wrongKvnr), 456);
    assert.equal(await egk(a, pharmacy), 423);
    assert.equal(await egk(b, pharmacy), 423);
    assert.deepEqual(await stored(pharmacy), [3]);
  });

  test('N parallel failing requests on two instances count N', async () => {
    const pharmacy = pharmacies[5];
    const n = 12;
    const a = await open(n);
    const b = await open(n, a);
    // Each request checks the lock before its own failure is counted, so all n get 456; a read-then-write
    // counter would lose some of them and leave the pharmacy unlocked.
    const statuses = await Promise.all(Array.from({ length: n }, (_, i) => egk(i % 2 ? a : b, pharmacy, wrongKvnr)));
    assert.deepEqual(statuses, Array(n).fill(456));
    assert.deepEqual(await stored(pharmacy), [n]);
    assert.equal(await egk(a, pharmacy), 423);
    assert.equal(await egk(b, pharmacy), 423);
  });

  test('the retention job deletes the counters of past days, not today\'s', async () => {
    const pharmacy = pharmacies[6];
    const a = await open(5);
    assert.equal(await egk(a, pharmacy, wrongKvnr), 456);
    await runRetention(getDb(), { now: a.clock.now });
    assert.deepEqual(await stored(pharmacy), [1]);
    await runRetention(getDb(), { now: new Date(a.clock.now.getTime() + 86_400_000) });
    assert.deepEqual(await stored(pharmacy), []);
  });
});
