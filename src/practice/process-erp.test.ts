// GET /{tenant}/TI?action=$processerp: one batch signs every pending request (QES via the Konnektor's batch
// SignDocument), creates and activates the Tasks at the Fachdienst and answers RED's <Prescriptions> XML.
// Concurrent calls never sign a request twice. On PGlite and PostgreSQL.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { extractCadesContent } from '../crypto/cades.ts';
import { parseXml } from '../fhir/codec.ts';
import { berlinDay } from '../fhir/kbv/dates.ts';
import { extractPrescriptionFacts } from '../fhir/kbv/prescription-bundle.ts';
import type { Bundle } from '../fhir/types.ts';
import { insured, physician } from '../seed/identities.ts';
import { forEachEngine } from '../storage/test-postgres.ts';
import { createPracticeWorld, postRequest, requestBundle, requestId, TENANT, weber } from './testing.ts';

const xml = new XMLParser({ isArray: (name, jpath) => jpath === 'Prescriptions.person' || name === 'prescription' });

function urlsOf(body: string): string[] {
  const doc = xml.parse(body);
  const out: string[] = [];
  for (const p of doc.Prescriptions?.person ?? []) for (const rx of p.prescriptions.prescription) out.push(...JSON.parse(rx.url).urls);
  return out;
}

forEachEngine('$processerp', (getDb) => {
  test('signs all pending requests of the tenant; <Prescriptions> grouped by person; Tasks ready at the Fachdienst', async () => {
    const world = await createPracticeWorld(getDb());
    try {
      const lisa = [requestBundle(), requestBundle({ medication: { kind: 'FreeText', text: 'Testpräparat für eine Freitextverordnung' } })];
      const klaus = requestBundle({ patient: weber() });
      for (const b of [...lisa, klaus]) assert.equal((await postRequest(world.app, b)).statusCode, 201);

      const res = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-type']), /xml/);
      const doc = xml.parse(res.body);
      const persons = doc.Prescriptions.person as any[];
      assert.equal(persons.length, 2);
      const müller = persons.find((p) => p.person.lastname === 'Müller');
      assert.deepEqual({ ...müller.person }, { lastname: 'Müller', firstname: 'Lisa', birthday: insured[0].birthDate });
      assert.equal(müller.prescriptions.prescription.length, 2);
      assert.ok(müller.prescriptions.prescription.some((p: any) => p.name === 'Testpräparat für eine Freitextverordnung'));
      // The url element holds the JSON exactly: {"urls":["Task/<id>/$accept?ac=<64 hex>"]}
      assert.match(res.body, /<url>\{"urls":\["Task\/160\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}\/\$accept\?ac=[0-9a-f]{64}"\]\}<\/url>/);
      assert.match(res.body, /<url>\{"urls":\["Task\/200\./);

      const urls = urlsOf(res.body);
      assert.equal(urls.length, 3);
      const db = getDb().db;
      for (const url of urls) {
        const [, id, ac] = /^Task\/([\d.]+)\/\$accept\?ac=([0-9a-f]{64})$/.exec(url)!;
        const task = await db.selectFrom('fachdienst_task').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        assert.equal(task.status, 'ready');
        assert.equal(task.access_code, ac);
        // What was signed: PrescriptionID, authoredOn = signing day, the signing physician.
        const signed = parseXml(extractCadesContent(task.prescription_cms).toString('utf8')) as Bundle;
        const facts = extractPrescriptionFacts(signed);
        assert.equal(facts.prescriptionId, id);
        assert.equal(facts.authoredOn, berlinDay(new Date()));
        assert.equal(facts.practitioner?.lanr, physician.lanr);
      }
      for (const b of [...lisa, klaus]) {
        const r = await world.store.getRequest(TENANT, requestId(b));
        assert.equal(r?.status, 'done');
        assert.equal(r?.authoredOn, berlinDay(new Date()));
      }

      // Nothing left: a second run signs nothing.
      const again = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
      assert.equal(again.statusCode, 200);
      assert.deepEqual(urlsOf(again.body), []);
    } finally {
      await world.close();
    }
  });

  test('two concurrent $processerp calls: every request signed and activated exactly once', async () => {
    const world = await createPracticeWorld(getDb());
    try {
      const before = Number((await getDb().db.selectFrom('fachdienst_task').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'ready').executeTakeFirstOrThrow()).n);
      const bundles = Array.from({ length: 24 }, () => requestBundle());
      for (const b of bundles) assert.equal((await postRequest(world.app, b)).statusCode, 201);
      const [a, b] = await Promise.all([
        world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` }),
        world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` }),
      ]);
      assert.equal(a.statusCode, 200, a.body);
      assert.equal(b.statusCode, 200, b.body);
      const all = [...urlsOf(a.body), ...urlsOf(b.body)];
      assert.equal(all.length, 24);
      assert.equal(new Set(all).size, 24);
      const after = Number((await getDb().db.selectFrom('fachdienst_task').select((eb) => eb.fn.countAll().as('n')).where('status', '=', 'ready').executeTakeFirstOrThrow()).n);
      assert.equal(after - before, 24);
      for (const bundle of bundles) assert.equal((await world.store.getRequest(TENANT, requestId(bundle)))?.status, 'done');
    } finally {
      await world.close();
    }
  });
});
