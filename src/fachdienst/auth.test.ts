import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Database } from '../storage/database.ts';
import { roleOfProfession } from './auth.ts';
import { call, createWorld, type World } from './testing.ts';

let database: Database;
let world: World;
before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createWorld(database, { rateLimitPerMinute: 3 });
});
after(async () => {
  await world.close();
  await database.close();
});

test('roles from professionOID', () => {
  assert.equal(roleOfProfession('1.2.276.0.76.4.50'), 'prescriber');
  assert.equal(roleOfProfession('1.2.276.0.76.4.30'), 'prescriber');
  assert.equal(roleOfProfession('1.2.276.0.76.4.54'), 'pharmacy');
  assert.equal(roleOfProfession('1.2.276.0.76.4.55'), 'pharmacy');
  assert.equal(roleOfProfession('1.2.276.0.76.4.59'), 'payer');
  assert.equal(roleOfProfession('1.2.276.0.76.4.49'), 'insured');
  assert.equal(roleOfProfession('1.2.276.0.76.4.32'), undefined, 'a pharmacist HBA is no role of the Fachdienst');
});

test('rate limit per token: 429 as OperationOutcome, other tokens unaffected', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await call(world, 'insured', 'GET', '/Task')).status, 200);
  const limited = await call(world, 'insured', 'GET', '/Task');
  assert.equal(limited.status, 429);
  assert.equal(limited.body.resourceType, 'OperationOutcome');
  assert.ok(limited.res.headers['retry-after']);
  assert.equal((await call(world, 'stranger', 'GET', '/Task')).status, 200);
});

test('response format: _format, Accept, else JSON for the insured and XML for everyone else', async () => {
  const token = await world.token('pharmacy');
  const xml = await world.app.inject({ method: 'GET', url: '/metadata', headers: { authorization: `Bearer ${token}` } });
  assert.match(String(xml.headers['content-type']), /^application\/fhir\+xml/);
  const json = await world.app.inject({ method: 'GET', url: '/metadata?_format=json', headers: { authorization: `Bearer ${token}` } });
  assert.match(String(json.headers['content-type']), /^application\/fhir\+json/);
  const bad = await world.app.inject({ method: 'GET', url: '/metadata', headers: { authorization: `Bearer ${token}`, accept: 'text/html' } });
  assert.equal(bad.statusCode, 406);
});
