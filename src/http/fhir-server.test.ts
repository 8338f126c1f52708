import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFhirServer, redactUrl } from './fhir-server.ts';
import { FhirError } from '../fhir/errors.ts';

function app() {
  const server = createFhirServer({ bodyLimit: 4096 });
  server.post('/echo', async (request, reply) => reply.fhir(request.body as never, 201));
  server.get('/boom', async () => {
    throw new Error('secret internal detail at /srv/app.ts:12');
  });
  server.get('/gone', async () => {
    throw new FhirError(410, 'Task has already been deleted');
  });
  server.get('/busy', async () => {
    throw new FhirError(503, 'Datenbank vorübergehend nicht erreichbar', { headers: { 'Retry-After': '1' } });
  });
  return server;
}

const task = { resourceType: 'Task', id: '160.000.000.000.001.54', status: 'draft', intent: 'order' };
const taskXml = '<Task xmlns="http://hl7.org/fhir"><id value="160.000.000.000.001.54"/><status value="draft"/><intent value="order"/></Task>';

test('JSON in, JSON out by default', async () => {
  const res = await app().inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/fhir+json' }, payload: JSON.stringify(task) });
  assert.equal(res.statusCode, 201);
  assert.match(res.headers['content-type'] as string, /^application\/fhir\+json/);
  assert.deepEqual(res.json(), task);
});

test('XML in answers XML when nothing else is asked for', async () => {
  const res = await app().inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/fhir+xml; charset=utf-8' }, payload: taskXml });
  assert.equal(res.statusCode, 201);
  assert.match(res.headers['content-type'] as string, /^application\/fhir\+xml/);
  assert.match(res.body, /<Task xmlns="http:\/\/hl7.org\/fhir">/);
  assert.match(res.body, /<status value="draft"\/>/);
});

test('Accept chooses the response format, honouring q-values', async () => {
  const res = await app().inject({
    method: 'POST', url: '/echo',
    headers: { 'content-type': 'application/fhir+xml', accept: 'application/fhir+xml;q=0.5, application/fhir+json' },
    payload: taskXml,
  });
  assert.match(res.headers['content-type'] as string, /^application\/fhir\+json/);
  assert.equal(res.json().id, task.id);
});

test('_format wins over Accept', async () => {
  const res = await app().inject({
    method: 'POST', url: '/echo?_format=xml',
    headers: { 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
    payload: JSON.stringify(task),
  });
  assert.match(res.headers['content-type'] as string, /^application\/fhir\+xml/);
});

test('unsupported Accept is 406, unsupported Content-Type 415, wrong charset 415', async () => {
  const a = await app().inject({ method: 'GET', url: '/gone', headers: { accept: 'text/html' } });
  assert.equal(a.statusCode, 406);
  assert.equal(a.json().resourceType, 'OperationOutcome');
  const b = await app().inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
  assert.equal(b.statusCode, 415);
  assert.equal(b.json().issue[0].code, 'not-supported');
  const c = await app().inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/fhir+xml; charset=iso-8859-1' }, payload: taskXml });
  assert.equal(c.statusCode, 415);
});

test('FhirError becomes an OperationOutcome with its status and headers', async () => {
  const res = await app().inject({ method: 'GET', url: '/gone', headers: { accept: 'application/fhir+xml' } });
  assert.equal(res.statusCode, 410);
  assert.match(res.body, /<OperationOutcome/);
  assert.match(res.body, /Task has already been deleted/);
  const busy = await app().inject({ method: 'GET', url: '/busy' });
  assert.equal(busy.statusCode, 503);
  assert.equal(busy.headers['retry-after'], '1');
});

test('an unexpected error is a 500 without any internal detail', async () => {
  const res = await app().inject({ method: 'GET', url: '/boom' });
  assert.equal(res.statusCode, 500);
  assert.equal(res.json().resourceType, 'OperationOutcome');
  assert.doesNotMatch(res.body, /secret internal detail|app\.ts|at /);
});

test('malformed bodies are 400 OperationOutcomes, oversize bodies 413', async () => {
  const bad = await app().inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/fhir+json' }, payload: '{"resourceType": "Task",' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().resourceType, 'OperationOutcome');
  const xxe = await app().inject({
    method: 'POST', url: '/echo', headers: { 'content-type': 'application/fhir+xml' },
    payload: '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><Task xmlns="http://hl7.org/fhir"><status value="&x;"/></Task>',
  });
  assert.equal(xxe.statusCode, 400);
  assert.doesNotMatch(xxe.body, /root:/);
  const big = await app().inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/fhir+json' }, payload: JSON.stringify({ ...task, note: [{ text: 'x'.repeat(5000) }] }) });
  assert.equal(big.statusCode, 413);
  assert.equal(big.json().issue[0].code, 'too-long');
});

test('unknown paths are 404 OperationOutcomes; /health answers 200', async () => {
  const res = await app().inject({ method: 'GET', url: '/Nope?ac=abc' });
  assert.equal(res.statusCode, 404);
  assert.equal(res.json().resourceType, 'OperationOutcome');
  assert.doesNotMatch(res.body, /abc/);
  const health = await app().inject({ method: 'GET', url: '/health' });
  assert.equal(health.statusCode, 200);
});

test('redactUrl hides AccessCodes and Secrets in logged URLs', () => {
  assert.equal(redactUrl('/Task/160.000.000.000.001.54/$accept?ac=deadbeef'), '/Task/160.000.000.000.001.54/$accept?ac=…');
  assert.equal(redactUrl('/Task/x/$close?secret=s3&_format=xml'), '/Task/x/$close?secret=…&_format=…');
  assert.equal(redactUrl('/Task'), '/Task');
});
