import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachEngine } from '../../storage/test-postgres.ts';
import type { Bundle, Task } from '../../fhir/types.ts';
import { NS } from '../task-resource.ts';
import { call, createWorld, identifierValue, readyTask, type World } from '../testing.ts';
import { germanDate } from './accept.ts';

test('germanDate writes dd.mm.yyyy', () => {
  assert.equal(germanDate('2026-02-03'), '03.02.2026');
});

forEachEngine('$accept', (getDb) => {
  let world: World;
  before(async () => {
    world = await createWorld(getDb());
  });
  after(() => world.close());

  test('50 parallel $accept: exactly one 200, 49 × 409, one Secret', async () => {
    const t = await readyTask(world);
    const who = ['pharmacy', 'pharmacy2'] as const;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      call(world, who[i % 2], 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`)));
    const codes = results.map((r) => r.status).sort();
    assert.equal(codes.filter((c) => c === 200).length, 1, `codes: ${codes.join(',')}`);
    assert.equal(codes.filter((c) => c === 409).length, 49);
    const winner = results.find((r) => r.status === 200)!;
    const secret = identifierValue((winner.body as Bundle).entry![0].resource as Task, NS.secret);
    // the stored Secret is the one handed out
    const owner = (winner.body as Bundle).entry![0].resource as Task;
    const pharmacy = owner.owner?.identifier?.value === world.identity('pharmacy').telematikId ? 'pharmacy' : 'pharmacy2';
    const read = await call(world, pharmacy, 'GET', `/Task/${t.id}?secret=${secret}`);
    assert.equal(read.status, 200);
  });

  test('after the ExpiryDate: 403 "Verordnung bis dd.mm.yyyy einlösbar."', async () => {
    const t = await readyTask(world);
    const t2 = await readyTask(world);
    const task = (await call(world, 'insured', 'GET', `/Task/${t.id}`)).body.entry[0].resource as Task;
    const expiry = task.extension!.find((e) => e.url.endsWith('GEM_ERP_EX_ExpiryDate'))!.valueDate!;
    const saved = world.clock.now;
    try {
      world.clock.now = new Date(`${expiry}T12:00:00Z`);
      const onLastDay = await call(world, 'pharmacy', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
      assert.equal(onLastDay.status, 200, 'redeemable on the expiry day itself');
      world.clock.advanceDays(1);
      const late = await call(world, 'pharmacy', 'POST', `/Task/${t2.id}/$accept?ac=${t2.accessCode}`);
      assert.equal(late.status, 403);
      assert.equal(late.body.issue[0].details.text, `Verordnung bis ${germanDate(expiry)} einlösbar.`);
    } finally {
      world.clock.now = saved;
    }
  });

  test('DiGA-like role rule: the payer may not accept a pharmacy flowtype', async () => {
    const t = await readyTask(world);
    const r = await call(world, 'payer', 'POST', `/Task/${t.id}/$accept?ac=${t.accessCode}`);
    assert.equal(r.status, 403);
  });
});
