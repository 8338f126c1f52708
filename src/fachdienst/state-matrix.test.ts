// State × operation matrix over HTTP: every Task operation in every Task state, with the right credentials, against
// the status codes of the gematik API (erp-api §1.2, §2). Expected codes are written out here, not derived.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachEngine } from '../storage/test-postgres.ts';
import { activateParameters, call, createWorld, dispenseParameters, signedPrescription, taskInState, type State, type TaskHandle, type World } from './testing.ts';

const STATES: State[] = ['draft', 'ready', 'in-progress', 'completed', 'cancelled'];
const NO_SECRET = 'f'.repeat(64);

type Op = (world: World, task: TaskHandle) => Promise<number>;

const OPERATIONS: Record<string, { run: Op; expected: number[] }> = {
  '$activate (practice, AccessCode)': {
    run: async (w, t) => (await call(w, 'practice', 'POST', `/Task/${t.id}/$activate`, {
      body: activateParameters(signedPrescription(w, t.id, t.flowType)), headers: { 'x-accesscode': t.accessCode },
    })).status,
    expected: [200, 403, 403, 403, 410],
  },
  '$accept (pharmacy, ?ac)': {
    run: async (w, t) => (await call(w, 'pharmacy2', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`)).status,
    expected: [409, 200, 409, 409, 410],
  },
  '$reject (pharmacy, ?secret)': {
    run: async (w, t) => (await call(w, 'pharmacy', 'POST', `/Task/${t.id}/$reject?secret=${t.secret ?? NO_SECRET}`)).status,
    expected: [403, 403, 204, 403, 410],
  },
  '$dispense (pharmacy, ?secret)': {
    run: async (w, t) => (await call(w, 'pharmacy', 'POST', `/Task/${t.id}/$dispense?secret=${t.secret ?? NO_SECRET}`, {
      body: dispenseParameters(w, { ...t, kvnr: t.kvnr ?? 'X110614233' }),
    })).status,
    expected: [403, 403, 204, 403, 410],
  },
  '$close (pharmacy, ?secret)': {
    run: async (w, t) => (await call(w, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret ?? NO_SECRET}`, {
      body: dispenseParameters(w, { ...t, kvnr: t.kvnr ?? 'X110614233' }),
    })).status,
    expected: [403, 403, 200, 403, 410],
  },
  '$abort (insured, own)': {
    run: async (w, t) => (await call(w, 'insured', 'POST', `/Task/${t.id}/$abort`)).status,
    expected: [403, 204, 403, 204, 410],
  },
  '$abort (practice, AccessCode)': {
    run: async (w, t) => (await call(w, 'practice', 'POST', `/Task/${t.id}/$abort`, { headers: { 'x-accesscode': t.accessCode } })).status,
    expected: [403, 204, 403, 403, 410],
  },
  '$abort (pharmacy, ?secret)': {
    run: async (w, t) => (await call(w, 'pharmacy', 'POST', `/Task/${t.id}/$abort?secret=${t.secret ?? NO_SECRET}`)).status,
    expected: [403, 403, 204, 403, 410],
  },
  'GET /Task/{id} (insured)': {
    run: async (w, t) => (await call(w, 'insured', 'GET', `/Task/${t.id}`)).status,
    expected: [403, 200, 200, 200, 410],
  },
  'GET /Task/{id}?secret (pharmacy)': {
    run: async (w, t) => (await call(w, 'pharmacy', 'GET', `/Task/${t.id}?secret=${t.secret ?? NO_SECRET}`)).status,
    expected: [403, 403, 200, 200, 410],
  },
  'GET /Task/{id}?ac (pharmacy secret recovery)': {
    run: async (w, t) => (await call(w, 'pharmacy', 'GET', `/Task/${t.id}?ac=${t.accessCode}`)).status,
    expected: [412, 412, 200, 200, 410],
  },
};

forEachEngine('Task state × operation matrix', (getDb) => {
  let world: World;
  before(async () => {
    world = await createWorld(getDb());
  });
  after(() => world.close());

  for (const [name, { run, expected }] of Object.entries(OPERATIONS)) {
    test(name, async () => {
      const actual: number[] = [];
      for (const state of STATES) actual.push(await run(world, await taskInState(world, state)));
      assert.deepEqual(
        Object.fromEntries(STATES.map((s, i) => [s, actual[i]])),
        Object.fromEntries(STATES.map((s, i) => [s, expected[i]])),
      );
    });
  }
});
