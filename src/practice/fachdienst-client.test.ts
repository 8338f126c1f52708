// The practice's Fachdienst access: one dev token per practice identity, reused until shortly before it expires,
// and a fresh one after a 401; the token carries the practice SMC-B identity (professionOID 1.2.276.0.76.4.50).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { injectFetch } from '../idp/testing.ts';
import { practice, PROFESSION } from '../seed/identities.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { createFachdienstClient, devTokenSource } from './fachdienst-client.ts';
import { createPracticeWorld, FD_URL, ISSUER, type PracticeWorld } from './testing.ts';

let database: Database;
let world: PracticeWorld;
before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createPracticeWorld(database);
});
after(async () => {
  await world.close();
  await database.close();
});

function countingIdpFetch() {
  const inner = injectFetch(world.idp);
  const counter = { calls: 0 };
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    counter.calls++;
    return inner(input, init);
  }) as typeof fetch;
  return { f, counter };
}

test('the token is the practice identity and is fetched once until it nearly expires', async () => {
  const { f, counter } = countingIdpFetch();
  let now = Date.now();
  const tokens = devTokenSource({ idpUrl: ISSUER, identityId: practice.id, fetch: f, now: () => now });
  const first = await tokens.token();
  const claims = JSON.parse(Buffer.from(first.split('.')[1], 'base64url').toString());
  assert.equal(claims.professionOID, PROFESSION.practice);
  assert.equal(claims.idNummer, practice.telematikId);
  const [a, b] = await Promise.all([tokens.token(), tokens.token()]);
  assert.equal(a, first);
  assert.equal(b, first);
  assert.equal(counter.calls, 1);
  now = claims.exp * 1000 - 10_000; // within the 30 s margin
  await tokens.token();
  assert.equal(counter.calls, 2);
});

test('$create with the cached token; a 401 (token rejected) fetches a new one and retries once', async () => {
  const { f, counter } = countingIdpFetch();
  const tokens = devTokenSource({ idpUrl: ISSUER, identityId: practice.id, fetch: f });
  let reject = true;
  const fdFetch = injectFetch(world.fachdienst);
  const client = createFachdienstClient({
    baseUrl: FD_URL, tokens,
    fetch: (async (input: string | URL | Request, init?: RequestInit) => {
      if (reject) {
        reject = false;
        return new Response(null, { status: 401 });
      }
      return fdFetch(input, init);
    }) as typeof fetch,
  });
  const task = await client.createTask('160');
  assert.match(task.prescriptionId, /^160\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}$/);
  assert.match(task.accessCode, /^[0-9a-f]{64}$/);
  assert.equal(counter.calls, 2);
});

test('an unknown identity at the IDP: clear 503 error', async () => {
  const tokens = devTokenSource({ idpUrl: ISSUER, identityId: 'nobody', fetch: injectFetch(world.idp) });
  await assert.rejects(tokens.token(), (err: Error) => /Zugriffstoken/.test(err.message));
});
