// Flooding with one access token: that token gets 429 (OperationOutcome, Retry-After) past its budget, while
// requests with other tokens, sent in the middle of the flood, are served.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openDatabase, type Database } from '../src/storage/database.ts';
import { createWorld, type World } from '../src/fachdienst/testing.ts';

const LIMIT = 40;
let database: Database;
let world: World;
before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createWorld(database, { rateLimitPerMinute: LIMIT });
});
after(async () => {
  await world.close();
  await database.close();
});

test('one flooding token gets 429, other tokens are served during the flood', async () => {
  const flooder = await world.token('insured');
  const others = await Promise.all((['stranger', 'child', 'pharmacy'] as const).map((w) => world.token(w)));
  const get = (token: string, url = '/Task') => world.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
  const flood = Array.from({ length: 300 }, () => get(flooder));
  const served = others.map((t, i) => get(t, i === 2 ? '/metadata' : '/Task'));
  const floodResults = await Promise.all(flood);
  const otherResults = await Promise.all(served);
  const ok = floodResults.filter((r) => r.statusCode === 200).length;
  const limited = floodResults.filter((r) => r.statusCode === 429);
  assert.equal(ok, LIMIT, 'exactly the budget is served');
  assert.equal(limited.length, 300 - LIMIT);
  assert.equal(JSON.parse(limited[0].body).resourceType, 'OperationOutcome');
  assert.ok(Number(limited[0].headers['retry-after']) > 0);
  assert.deepEqual(otherResults.map((r) => r.statusCode), [200, 200, 200]);
  // still limited afterwards, the others still served
  assert.equal((await get(flooder)).statusCode, 429);
  assert.equal((await get(others[0])).statusCode, 200);
});

test('forged tokens do not use up the budget of a real one', async () => {
  const real = await world.token('payer');
  const forged = real.slice(0, -4) + (real.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  const results = await Promise.all(Array.from({ length: 60 }, () => world.app.inject({
    method: 'GET', url: '/metadata', headers: { authorization: `Bearer ${forged}` },
  })));
  assert.ok(results.every((r) => r.statusCode === 401 || r.statusCode === 429));
  assert.ok(results.some((r) => r.statusCode === 429), 'a forged token is rate limited by its own hash');
  assert.equal((await world.app.inject({ method: 'GET', url: '/metadata', headers: { authorization: `Bearer ${real}` } })).statusCode, 200);
});
