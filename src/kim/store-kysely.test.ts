import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openDatabase, type Database } from '../storage/database.ts';
import { KyselyMailStore } from './store-kysely.ts';
import { UnknownMailboxError } from './store.ts';

let database: Database;
let store: KyselyMailStore;

before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  store = new KyselyMailStore(database);
  await store.ensureMailboxes(['a@erx.kim.telematik-test', 'B@erx.kim.telematik-test']);
  await store.ensureMailboxes(['a@erx.kim.telematik-test']); // idempotent
});
after(() => database.close());

test('delivers one copy per recipient, keeps bytes exactly and lists oldest first', async () => {
  const raw = Buffer.concat([Buffer.from('Subject: x\r\n\r\n'), Buffer.from([0x00, 0xff, 0xe4, 0x0d, 0x0a])]);
  const uids = await store.deliver(raw, ['a@erx.kim.telematik-test', 'b@erx.kim.telematik-test']);
  assert.equal(uids.size, 2);
  await store.deliver(Buffer.from('Subject: y\r\n\r\n'), ['a@erx.kim.telematik-test']);
  const listA = await store.list('A@erx.kim.telematik-test');
  assert.deepEqual(listA.map((m) => m.size), [raw.length, 14]);
  assert.equal(listA[0].uid, uids.get('a@erx.kim.telematik-test'));
  assert.ok(listA[0].receivedAt instanceof Date);
  assert.deepEqual(await store.get('b@erx.kim.telematik-test', uids.get('b@erx.kim.telematik-test')!), raw);
  assert.equal(await store.get('a@erx.kim.telematik-test', 'nope'), undefined);
});

test('a delivery with one unknown recipient stores nothing at all', async () => {
  const before = (await store.list('a@erx.kim.telematik-test')).length;
  await assert.rejects(
    store.deliver(Buffer.from('Subject: z\r\n\r\n'), ['a@erx.kim.telematik-test', 'ghost@erx.kim.telematik-test']),
    (e: unknown) => e instanceof UnknownMailboxError && e.mailbox === 'ghost@erx.kim.telematik-test',
  );
  assert.equal((await store.list('a@erx.kim.telematik-test')).length, before);
  assert.equal(await store.hasMailbox('ghost@erx.kim.telematik-test'), false);
  await assert.rejects(store.list('ghost@erx.kim.telematik-test'), UnknownMailboxError);
});

test('delete removes only the given messages of that mailbox', async () => {
  const uids = await store.deliver(Buffer.from('Subject: d\r\n\r\n'), ['a@erx.kim.telematik-test', 'b@erx.kim.telematik-test']);
  const uidA = uids.get('a@erx.kim.telematik-test')!;
  assert.equal(await store.delete('b@erx.kim.telematik-test', [uidA]), 0);
  assert.equal(await store.delete('a@erx.kim.telematik-test', [uidA]), 1);
  assert.equal(await store.get('a@erx.kim.telematik-test', uidA), undefined);
  assert.ok(await store.get('b@erx.kim.telematik-test', uids.get('b@erx.kim.telematik-test')!));
});
