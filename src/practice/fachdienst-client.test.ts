// The practice's Fachdienst access: a token from the IDP's card flow with the practice SMC-B behind the Konnektor,
// reused until shortly before it expires, a fresh login after a 401; the token carries the practice SMC-B identity
// (professionOID 1.2.276.0.76.4.50). Login failures are retryable or final as the practice's batch needs them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { injectFetch } from '../idp/testing.ts';
import { createKonnektorClient } from '../konnektor/client.ts';
import { CONTEXT, startTestKonnektor } from '../konnektor/testing.ts';
import { pharmacies, practice, PROFESSION } from '../seed/identities.ts';
import { createFachdienstClient, FachdienstCallError, konnektorTokenSource, smcbHandleOf } from './fachdienst-client.ts';
import { usePracticeWorld, FD_URL, ISSUER, testPki } from './testing.ts';

const env = usePracticeWorld();

/** A fetch to the IDP that counts logins (signed challenges posted). */
function countingIdpFetch() {
  const inner = injectFetch(env.world.idp);
  const counter = { logins: 0 };
  const f = (async (input: string | URL | Request, init?: RequestInit) => {
    if (init?.method === 'POST' && new URL(String(input)).pathname === '/auth') counter.logins++;
    return inner(input, init);
  }) as typeof fetch;
  return { f, counter };
}

const konnektorClient = () => createKonnektorClient('http://konnektor.test', { context: CONTEXT, fetch: injectFetch(env.world.konnektor.app) });
const smcbOf = (identityId: string) => env.world.konnektor.cards.cardsForIdentity(identityId).find((c) => c.type === 'SMC-B')!.handle;

test('the token is the practice SMC-B identity, one login until it nearly expires, shared by concurrent callers', async () => {
  const { f, counter } = countingIdpFetch();
  let now = Date.now();
  const konnektor = konnektorClient();
  const tokens = konnektorTokenSource({ idpUrl: ISSUER, konnektor, smcbHandle: () => smcbHandleOf(konnektor, practice.telematikId!), fetch: f, now: () => now });
  const [first, second] = await Promise.all([tokens.token(), tokens.token()]);
  assert.equal(first, second);
  const claims = JSON.parse(Buffer.from(first.split('.')[1], 'base64url').toString());
  assert.equal(claims.professionOID, PROFESSION.practice);
  assert.equal(claims.idNummer, practice.telematikId);
  assert.equal(claims.client_id, 'erx-practice');
  assert.equal(await tokens.token(), first);
  assert.equal(counter.logins, 1);
  now = claims.exp * 1000 - 40_000; // still outside the 30 s margin
  assert.equal(await tokens.token(), first);
  assert.equal(counter.logins, 1);
  now = claims.exp * 1000 - 10_000; // within the margin
  await tokens.token();
  assert.equal(counter.logins, 2);
});

test('$create with the cached token; a 401 (token rejected) logs in again and retries once', async () => {
  const { f, counter } = countingIdpFetch();
  const tokens = konnektorTokenSource({ idpUrl: ISSUER, konnektor: konnektorClient(), smcbHandle: smcbOf(practice.id), fetch: f });
  let reject = true;
  const fdFetch = injectFetch(env.world.fachdienst);
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
  assert.equal(counter.logins, 2);
});

test('SMC-B PIN: not entered yet is retryable (503), rejected/blocked is final (403); the message says why', async () => {
  const k = await startTestKonnektor({ pki: testPki(), autoPin: false });
  try {
    const handle = k.cards.cardsForIdentity(pharmacies[3].id)[0].handle;
    const konnektor = createKonnektorClient('http://konnektor.test', { context: CONTEXT, fetch: injectFetch(k.app) });
    const source = () => konnektorTokenSource({ idpUrl: ISSUER, konnektor, smcbHandle: handle, fetch: injectFetch(env.world.idp) });
    await assert.rejects(source().token(), (e: FachdienstCallError) =>
      e instanceof FachdienstCallError && e.retryable && e.status === 503
      && new RegExp(`^Anmeldung der SMC-B ${handle} am IDP fehlgeschlagen: Signatur der Karte: PIN-Eingabe erforderlich: PIN.SMC`).test(e.message));
    for (let i = 0; i < 3; i++) await k.cards.verifyPin(handle, 'PIN.SMC', '999999');
    await assert.rejects(source().token(), (e: FachdienstCallError) => !e.retryable && e.status === 403 && /gesperrt/.test(e.message));
  } finally {
    await k.close();
  }
});

test('an SMC-B that is not in the terminal: retryable, named by its Telematik-ID', async () => {
  const konnektor = konnektorClient();
  const tokens = konnektorTokenSource({ idpUrl: ISSUER, konnektor, smcbHandle: () => smcbHandleOf(konnektor, '1-2-NICHT-GESTECKT'), fetch: injectFetch(env.world.idp) });
  await assert.rejects(tokens.token(), (e: FachdienstCallError) => e.retryable && /Keine SMC-B mit Telematik-ID 1-2-NICHT-GESTECKT/.test(e.message));
});
