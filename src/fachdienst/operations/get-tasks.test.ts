import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Task } from '../../fhir/types.ts';
import { call, readyTask, acceptedTask, useWorld } from '../testing.ts';

const env = useWorld();

test('own Tasks only, paged with _count/__offset and a next link, status filter, sort', async () => {
  const mine: string[] = [];
  for (let i = 0; i < 5; i++) {
    mine.push((await readyTask(env.world)).id);
    env.world.clock.now = new Date(env.world.clock.now.getTime() + 1000);
  }
  const inProgress = await acceptedTask(env.world);
  await readyTask(env.world, '160', 'json', { patient: env.world.identity('stranger') });

  const page1 = await call(env.world, 'insured', 'GET', '/Task?_count=2');
  assert.equal(page1.status, 200);
  const b1 = page1.body as Bundle;
  assert.equal(b1.type, 'searchset');
  assert.deepEqual(b1.entry!.map((e) => e.resource!.id), mine.slice(0, 2));
  const next = b1.link!.find((l) => l.relation === 'next')!.url;
  assert.match(next, /__offset=2/);
  const page2 = await call(env.world, 'insured', 'GET', next.replace(/^https?:\/\/[^/]+/, ''));
  assert.deepEqual((page2.body as Bundle).entry!.map((e) => e.resource!.id), mine.slice(2, 4));

  const all = await call(env.world, 'insured', 'GET', '/Task');
  const ids = (all.body as Bundle).entry!.map((e) => e.resource!.id);
  assert.equal(ids.length, 6, 'the stranger\'s Task is not listed');
  assert.ok(!(all.body as Bundle).link!.some((l) => l.relation === 'next'));

  const onlyInProgress = await call(env.world, 'insured', 'GET', '/Task?status=in-progress');
  assert.deepEqual((onlyInProgress.body as Bundle).entry!.map((e) => e.resource!.id), [inProgress.id]);
  const secretFree = (onlyInProgress.body as Bundle).entry![0].resource as Task;
  assert.ok(!secretFree.identifier!.some((i) => i.system!.endsWith('GEM_ERP_NS_Secret')));

  const desc = await call(env.world, 'insured', 'GET', '/Task?_sort=-authored-on&_count=1');
  assert.equal((desc.body as Bundle).entry![0].resource!.id, inProgress.id);

  const today = env.world.clock.now.toISOString().slice(0, 10);
  const future = await call(env.world, 'insured', 'GET', `/Task?authored-on=gt${today}T23:59:59Z`);
  assert.equal((future.body as Bundle).entry?.length ?? 0, 0);
  assert.equal((await call(env.world, 'insured', 'GET', '/Task?authored-on=garbage')).status, 400);
  assert.equal((await call(env.world, 'insured', 'GET', '/Task?_count=0')).status, 400);
});

test('no AccessCode in the list for 169/209', async () => {
  const t = await readyTask(env.world, '169');
  const list = await call(env.world, 'insured', 'GET', '/Task');
  const task = (list.body as Bundle).entry!.find((e) => e.resource!.id === t.id)!.resource as Task;
  assert.ok(!task.identifier!.some((i) => i.system!.endsWith('GEM_ERP_NS_AccessCode')));
});
