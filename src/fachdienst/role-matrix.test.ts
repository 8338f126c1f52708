// Role × operation matrix: who may call what (erp-api §1.2), plus the access rules the gematik tables name
// (AccessCode, Secret, representative, 169/209, second calls). Expected codes are written out, not derived.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachEngine } from '../storage/test-postgres.ts';
import { identityById } from '../seed/identities.ts';
import { chargconsConsent } from '../insured/billing.ts';
import { signCades } from '../crypto/cades.ts';
import type { KeyAndCert } from '../crypto/pki.ts';
import { toXml } from '../fhir/codec.ts';
import type { Bundle, ChargeItem } from '../fhir/types.ts';
import { NS } from './task-resource.ts';
import {
  acceptedTask, activateParameters, call, completedTask, createParameters, createTask, createWorld, dispenseParameters, egkQuery, readyTask,
  signedPrescription, type TaskHandle, type Who, type World,
} from './testing.ts';

const ROLES: Who[] = ['practice', 'pharmacy', 'payer', 'insured'];

/** A ChargeItem with the PKV dispense data signed by the pharmacy's SMC-B (one certificate per world). */
const smcbs = new WeakMap<World, KeyAndCert>();
function signedChargeItem(w: World, t: TaskHandle): ChargeItem {
  const pharmacy = w.identity('pharmacy');
  let smcb = smcbs.get(w);
  if (!smcb) {
    smcb = w.pki.issue({ kind: 'smcb-osig', name: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: '1.2.276.0.76.4.54' });
    smcbs.set(w, smcb);
  }
  const bundle: Bundle = { resourceType: 'Bundle', id: crypto.randomUUID(), type: 'document', identifier: { system: NS.prescriptionId, value: t.id } };
  const data = signCades(Buffer.from(toXml(bundle), 'utf8'), smcb, { signingTime: w.clock.now }).toString('base64');
  return {
    resourceType: 'ChargeItem',
    contained: [{ resourceType: 'Binary', id: 'abgabedaten', contentType: 'application/pkcs7-mime', data }],
    status: 'billable',
    code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable' }] },
    subject: { identifier: { system: 'http://fhir.de/sid/pkv/kvid-10', value: w.identity('pkv').kvnr } },
    supportingInformation: [{ reference: '#abgabedaten', display: 'Binary' }],
  };
}

interface Row {
  setup: (w: World) => Promise<TaskHandle | undefined>;
  run: (w: World, who: Who, t: TaskHandle) => Promise<number>;
  /** practice, pharmacy, payer, insured */
  expected: number[];
}

const ROWS: Record<string, Row> = {
  'POST /Task/$create': {
    setup: async () => undefined,
    run: async (w, who) => (await call(w, who, 'POST', '/Task/$create', { body: createParameters('160') })).status,
    expected: [201, 403, 403, 403],
  },
  '$activate': {
    setup: (w) => createTask(w),
    run: async (w, who, t) => (await call(w, who, 'POST', `/Task/${t.id}/$activate`, {
      body: activateParameters(signedPrescription(w, t.id, '160')), headers: { 'x-accesscode': t.accessCode },
    })).status,
    expected: [200, 403, 403, 403],
  },
  '$accept (flowtype 160)': {
    setup: (w) => readyTask(w),
    run: async (w, who, t) => (await call(w, who, 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`)).status,
    expected: [403, 200, 403, 403],
  },
  '$dispense': {
    setup: (w) => acceptedTask(w),
    run: async (w, who, t) => (await call(w, who, 'POST', `/Task/${t.id}/$dispense?secret=${t.secret}`, { body: dispenseParameters(w, t) })).status,
    expected: [403, 204, 403, 403],
  },
  '$abort of a ready Task (practice with AccessCode)': {
    setup: (w) => readyTask(w),
    run: async (w, who, t) => (await call(w, who, 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } })).status,
    // pharmacy: wrong state without Secret; payer: role not allowed
    expected: [204, 403, 403, 204],
  },
  'GET /Task': {
    setup: async () => undefined,
    run: async (w, who) => (await call(w, who, 'GET', '/Task')).status,
    // pharmacy: only with the eGK's proof, whose first check is the kvnr parameter (455)
    expected: [403, 455, 403, 200],
  },
  'GET /Task?kvnr&hcv&pnw (eGK in the pharmacy)': {
    setup: (w) => readyTask(w),
    run: async (w, who) => (await call(w, who, 'GET', `/Task?${egkQuery(w, 'insured')}`)).status,
    expected: [403, 200, 403, 403],
  },
  'GET /Task/{id} without Secret/AccessCode': {
    setup: (w) => readyTask(w),
    run: async (w, who, t) => (await call(w, who, 'GET', `/Task/${t.id}`)).status,
    expected: [403, 403, 403, 200],
  },
  // PKV billing (the pharmacy's AccessCode read and PUT: operations/charge-item.test.ts)
  'POST /ChargeItem (completed PKV Task, consent given)': {
    setup: async (w) => {
      const consent = await call(w, 'pkv', 'POST', '/Consent', { body: chargconsConsent(w.identity('pkv').kvnr!) });
      assert.ok(consent.status === 201 || consent.status === 409, JSON.stringify(consent.body));
      return completedTask(w, '200');
    },
    run: async (w, who, t) => (await call(w, who, 'POST', `/ChargeItem?task=${t.id}&secret=${t.secret}`, { body: signedChargeItem(w, t) })).status,
    expected: [403, 201, 403, 403],
  },
  'POST /Consent': {
    setup: async () => undefined,
    run: async (w, who) => {
      const r = await call(w, who, 'POST', '/Consent', { body: chargconsConsent(w.identity('insured').kvnr!) });
      if (r.status === 201) await call(w, who, 'DELETE', '/Consent?category=CHARGCONS');
      return r.status;
    },
    expected: [403, 403, 403, 201],
  },
  'GET /Consent': {
    setup: async () => undefined,
    run: async (w, who) => (await call(w, who, 'GET', '/Consent')).status,
    expected: [403, 403, 403, 200],
  },
  'DELETE /Consent?category=CHARGCONS (none given)': {
    setup: async () => undefined,
    run: async (w, who) => (await call(w, who, 'DELETE', '/Consent?category=CHARGCONS')).status,
    expected: [403, 403, 403, 404],
  },
  'GET /ChargeItem': {
    setup: async () => undefined,
    run: async (w, who) => (await call(w, who, 'GET', '/ChargeItem')).status,
    expected: [403, 403, 403, 200],
  },
  'DELETE /ChargeItem without id': {
    setup: async () => undefined,
    run: async (w, who) => (await call(w, who, 'DELETE', '/ChargeItem')).status,
    expected: [405, 405, 405, 405],
  },
};

forEachEngine('Role × operation matrix', (getDb) => {
  let world: World;
  before(async () => {
    world = await createWorld(getDb());
  });
  after(() => world.close());

  for (const [name, row] of Object.entries(ROWS)) {
    test(name, async () => {
      const actual: Record<string, number> = {};
      for (const who of ROLES) {
        const task = await row.setup(world);
        actual[who] = await row.run(world, who, task as TaskHandle);
      }
      assert.deepEqual(actual, Object.fromEntries(ROLES.map((r, i) => [r, row.expected[i]])));
    });
  }

  test('no token: 401 with WWW-Authenticate; bad token: 401', async () => {
    const res = await world.app.inject({ method: 'GET', url: '/Task' });
    assert.equal(res.statusCode, 401);
    assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    assert.equal(res.json().resourceType, 'OperationOutcome');
    const bad = await world.app.inject({ method: 'GET', url: '/Task', headers: { authorization: 'Bearer abc.def.ghi' } });
    assert.equal(bad.statusCode, 401);
  });

  test('second $accept 409, by the same pharmacy with diagnostics', async () => {
    const t = await acceptedTask(world);
    const other = await call(world, 'pharmacy2', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
    assert.equal(other.status, 409);
    assert.equal(other.body.issue[0].details.text, 'Task has invalid status in-progress');
    const same = await call(world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
    assert.equal(same.status, 409);
    assert.equal(same.body.issue[0].diagnostics, 'Task is processed by requesting institution');
  });

  test('wrong AccessCode 403, wrong Secret 403 (brute_force hint)', async () => {
    const t = await readyTask(world);
    const ac = await call(world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${'0'.repeat(64)}`);
    assert.equal(ac.status, 403);
    assert.equal(ac.res.headers['vau-error-code'], 'brute_force');
    const a = await acceptedTask(world);
    const close = await call(world, 'pharmacy', 'POST', `/Task/${a.id}/$close?secret=${'0'.repeat(64)}`, { body: dispenseParameters(world, a) });
    assert.equal(close.status, 403);
    assert.equal(close.body.issue[0].details.text, 'No or invalid secret provided for Task');
  });

  test('second $close 403; $close without dispense data 403 with the gematik text', async () => {
    const t = await completedTask(world);
    const again = await call(world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret}`, { body: dispenseParameters(world, t) });
    assert.equal(again.status, 403);
    const a = await acceptedTask(world);
    const empty = await call(world, 'pharmacy', 'POST', `/Task/${a.id}/$close?secret=${a.secret}`);
    assert.equal(empty.status, 403);
    assert.equal(empty.body.issue[0].details.text,
      'Abschluss des Workflows konnte nicht durchgeführt werden. Dispensierinformationen wurden nicht bereitgestellt.');
  });

  test('representative with AccessCode reads and deletes; without it 403; never for 169', async () => {
    const child = identityById('insured-mueller-kind')!;
    const t = await readyTask(world, '160', 'json', { patient: child });
    assert.equal(t.kvnr, child.kvnr);
    const without = await call(world, 'insured', 'GET', `/Task/${t.id}`);
    assert.equal(without.status, 403);
    const read = await call(world, 'insured', 'GET', `/Task/${t.id}`, { headers: { 'x-accesscode': t.accessCode } });
    assert.equal(read.status, 200);
    const stranger = await call(world, 'stranger', 'POST', `/Task/${t.id}/$abort`);
    assert.equal(stranger.status, 403);
    const del = await call(world, 'insured', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } });
    assert.equal(del.status, 204);
    const after = await call(world, 'insured', 'GET', `/Task/${t.id}`, { headers: { 'x-accesscode': t.accessCode } });
    assert.equal(after.status, 410);

    const direct = await readyTask(world, '169', 'json', { patient: child });
    const rep169 = await call(world, 'insured', 'GET', `/Task/${direct.id}`, { headers: { 'x-accesscode': direct.accessCode } });
    assert.equal(rep169.status, 403);
    const own169 = await call(world, 'child', 'GET', `/Task/${direct.id}`);
    assert.equal(own169.status, 200);
    const ids = own169.body.entry[0].resource.identifier.map((i: { system: string }) => i.system);
    assert.ok(!ids.some((s: string) => s.endsWith('GEM_ERP_NS_AccessCode')), 'no AccessCode for 169');
    const abort169 = await call(world, 'child', 'POST', `/Task/${direct.id}/$abort`);
    assert.equal(abort169.status, 403, 'insured may abort 169 only when completed');
  });

  test('malformed PrescriptionID in the path: 404', async () => {
    const r = await call(world, 'pharmacy', 'POST', '/Task/160.000.000.000.000.01/$accept?ac=x');
    assert.equal(r.status, 404);
    assert.equal(r.body.issue[0].details.text, 'Failed to parse prescription ID from URL parameter');
  });
});
