// Our responses carry every element the gematik examples show (erp-examples fixtures): the element paths of each
// example must all appear in the corresponding response (values and example-only tags aside).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { call, acceptedTask, completedTask, dispenseParameters, readyTask, useWorld } from './testing.ts';

const FIXTURES = new URL('../../../shared/fixtures/erp-examples/', import.meta.url);
const fixture = (path: string) => JSON.parse(readFileSync(new URL(path, FIXTURES), 'utf8'));

function paths(value: unknown, prefix = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => paths(v, `${prefix}[]`, out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, `${prefix}.${k}`, out);
  else out.add(prefix);
  return out;
}

/** Fixture paths missing in ours, ignoring example decoration (meta.tag, text, use). */
function missing(ours: unknown, example: unknown): string[] {
  const have = paths(ours);
  return [...paths(example)].filter((p) => !/\.meta\.tag|\.text\b|\.use$/.test(p) && !have.has(p));
}

const env = useWorld();

test('$accept response has the shape of Bundle-AcceptOperation (1.5)', async () => {
  const t = await readyTask(env.world);
  const r = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
  assert.deepEqual(missing(r.body, fixture('operations/accept_response_Bundle_1.5.json')), []);
});

test('receipt has the shape of the 1.5 receipt example', async () => {
  const t = await acceptedTask(env.world);
  const r = await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret}`, { body: dispenseParameters(env.world, t) });
  assert.deepEqual(missing(r.body, fixture('receipt/receipt_Bundle_1.5.json')), []);
});

test('insured GET /Task/{id} and GET /Task have the shape of the API examples', async () => {
  const t = await readyTask(env.world);
  const single = await call(env.world, 'insured', 'GET', `/Task/${t.id}`);
  const example = fixture('task/get_task_insured_response.json');
  // compare the Task entry; the prescription bundle content depends on the prescription
  assert.deepEqual(missing(single.body.entry[0], example.entry[0]), []);
  assert.deepEqual(missing({ ...single.body, entry: undefined }, { ...example, entry: undefined }), []);
  const list = await call(env.world, 'insured', 'GET', '/Task');
  assert.deepEqual(missing(list.body.entry[0], fixture('task/get_tasks_insured_response.json').entry[0]), []);
});

test('GET /AuditEvent entries have the shape of the AuditEvent example', async () => {
  await completedTask(env.world);
  const r = await call(env.world, 'insured', 'GET', '/AuditEvent');
  assert.deepEqual(missing(r.body.entry[0].resource, fixture('auditevent/AuditEvent_1.5.json')), []);
});
