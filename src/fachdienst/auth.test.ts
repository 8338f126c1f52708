import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roleOfProfession } from './auth.ts';
import { call, useWorld } from './testing.ts';

const env = useWorld({ rateLimitPerMinute: 3 });

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
  for (let i = 0; i < 3; i++) assert.equal((await call(env.world, 'insured', 'GET', '/Task')).status, 200);
  const limited = await call(env.world, 'insured', 'GET', '/Task');
  assert.equal(limited.status, 429);
  assert.equal(limited.body.resourceType, 'OperationOutcome');
  assert.ok(limited.res.headers['retry-after']);
  assert.equal((await call(env.world, 'stranger', 'GET', '/Task')).status, 200);
});

test('response format: _format, Accept, else JSON for the insured and XML for everyone else', async () => {
  const token = await env.world.token('pharmacy');
  const xml = await env.world.app.inject({ method: 'GET', url: '/metadata', headers: { authorization: `Bearer ${token}` } });
  assert.match(String(xml.headers['content-type']), /^application\/fhir\+xml/);
  const json = await env.world.app.inject({ method: 'GET', url: '/metadata?_format=json', headers: { authorization: `Bearer ${token}` } });
  assert.match(String(json.headers['content-type']), /^application\/fhir\+json/);
  const bad = await env.world.app.inject({ method: 'GET', url: '/metadata', headers: { authorization: `Bearer ${token}`, accept: 'text/html' } });
  assert.equal(bad.statusCode, 406);
});
