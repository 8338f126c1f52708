// Operations view of the Fachdienst: structured JSON logs that never carry personal data or secrets, and /metrics
// in the Prometheus text format with requests, latency and errors per operation.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { openDatabase, type Database } from '../src/storage/database.ts';
import { physician, pharmacies, insured, practice } from '../src/seed/identities.ts';
import {
  activateParameters, call, createWorld, dispenseParameters, identifierValue, signedPrescription, type World,
} from '../src/fachdienst/testing.ts';
import { NS } from '../src/fachdienst/task-resource.ts';
import { createParameters } from '../src/fachdienst/testing.ts';

let database: Database;
let world: World;
const lines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  },
});

before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createWorld(database, { logger: { level: 'info', stream: sink } });
});
after(async () => {
  await world.close();
  await database.close();
});

test('a full lifecycle logs one JSON line per request and no KVNR, name, AccessCode or Secret', async () => {
  const created = await call(world, 'practice', 'POST', '/Task/$create', { body: createParameters('160'), format: 'xml' });
  assert.equal(created.status, 201);
  const id = created.body.id as string;
  const accessCode = identifierValue(created.body, NS.accessCode)!;
  const activated = await call(world, 'practice', 'POST', `/Task/${id}/$activate`, {
    format: 'xml', body: activateParameters(signedPrescription(world, id, '160')), headers: { 'x-accesscode': accessCode },
  });
  assert.equal(activated.status, 200);
  const kvnr = activated.body.for.identifier.value as string;
  assert.equal(kvnr, insured[0].kvnr);
  assert.equal((await call(world, 'insured', 'GET', '/Task')).status, 200);
  assert.equal((await call(world, 'insured', 'GET', `/Task/${id}`)).status, 200);
  assert.equal((await call(world, 'pharmacy', 'POST', `/Task/${id}/$accept?ac=wrong${accessCode.slice(5)}`)).status, 403);
  const accepted = await call(world, 'pharmacy', 'POST', `/Task/${id}/$accept?ac=${accessCode}`);
  assert.equal(accepted.status, 200);
  const secret = identifierValue(accepted.body.entry[0].resource, NS.secret)!;
  const closed = await call(world, 'pharmacy', 'POST', `/Task/${id}/$close?secret=${secret}`, {
    body: dispenseParameters(world, { id, flowType: '160', accessCode, kvnr }),
  });
  assert.equal(closed.status, 200);
  assert.equal((await call(world, 'insured', 'GET', '/MedicationDispense')).status, 200);
  assert.equal((await call(world, 'insured', 'GET', '/AuditEvent')).status, 200);
  assert.equal((await call(world, 'pharmacy', 'GET', `/Task/${id}?ac=${accessCode}`)).status, 200);

  const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
  assert.equal(requests.length, 10, 'one line per request');
  assert.ok(requests.some((r) => r.route === '/Task/:id/$close' && r.status === 200 && typeof r.ms === 'number'));
  assert.ok(requests.some((r) => r.url === `/Task/${id}/$accept?ac=…` && r.status === 403));
  const log = lines.join('\n');
  const forbidden = [
    kvnr, accessCode, secret, insured[0].name, insured[0].family!, insured[0].given!, physician.family!, physician.given!,
    pharmacies[0].name, practice.name, 'Sumatriptan',
  ];
  for (const value of forbidden) assert.ok(!log.includes(value), `log contains ${JSON.stringify(value)}`);
});

test('/metrics: Prometheus text with requests, latency and errors per operation, no ids', async () => {
  const res = await world.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const text = res.body;
  assert.match(text, /^# TYPE erx_fachdienst_requests_total counter$/m);
  assert.match(text, /^erx_fachdienst_requests_total\{operation="\/Task\/:id\/\$close",method="POST",status="200"\} 1$/m);
  assert.match(text, /^erx_fachdienst_requests_total\{operation="\/Task\/:id\/\$accept",method="POST",status="403"\} 1$/m);
  assert.match(text, /^erx_fachdienst_request_duration_seconds_count\{operation="\/Task\/\$create",method="POST"\} 1$/m);
  assert.match(text, /^erx_fachdienst_request_duration_seconds_bucket\{operation="\/Task\/\$create",method="POST",le="\+Inf"\} 1$/m);
  assert.doesNotMatch(text, /\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}/, 'no PrescriptionID in a label');
  // every sample line is `name{labels} value` or `name value`
  for (const line of text.trim().split('\n')) {
    if (!line.startsWith('#')) assert.match(line, /^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$/, line);
  }
  // an unknown path counts under one label, and a 5xx shows as an error
  await world.app.inject({ method: 'GET', url: '/no/such/path/X110614233' });
  const after = (await world.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(after, /operation="\(unmatched\)",method="GET",status="401"/);
  assert.ok(!after.includes('X110614233'));
});

test('/metrics counts 5xx answers as errors', async () => {
  await database.db.schema.alterTable('fachdienst_task').renameTo('fachdienst_task_gone').execute();
  try {
    const r = await call(world, 'practice', 'POST', '/Task/$create', { body: createParameters('160') });
    assert.equal(r.status, 500);
  } finally {
    await database.db.schema.alterTable('fachdienst_task_gone').renameTo('fachdienst_task').execute();
  }
  const text = (await world.app.inject({ method: 'GET', url: '/metrics' })).body;
  assert.match(text, /^erx_fachdienst_errors_total\{operation="\/Task\/\$create",method="POST"\} 1$/m);
});
