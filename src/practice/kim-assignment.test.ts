// Flowtype 169: after activation the practice sends the KIM assignment (eRezept;Zuweisung;V1.0) to the pharmacy's
// KIM address from the VZD, through the durable outbox: KIM down -> the message waits -> KIM up -> delivered once.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { loadConfig } from '../config.ts';
import { kimAccounts } from '../kim/accounts.ts';
import { parseErezeptMessage } from '../kim/erezept-messages.ts';
import { sendKimMail, startKimService, type KimService } from '../kim/service.ts';
import { KyselyMailStore } from '../kim/store-kysely.ts';
import { kimAddress, pharmacies, practice } from '../seed/identities.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { lookupKimAddress } from '../vzd/client.ts';
import { startVzd, type RunningVzd } from '../vzd/service.ts';
import { deliverOutbox, type OutboxDeps } from './outbox.ts';
import { createPracticeWorld, postRequest, requestBundle, requestId, TENANT, testPki, type PracticeWorld } from './testing.ts';

let database: Database;
let world: PracticeWorld;
let vzd: RunningVzd;
let kim: KimService | undefined;
let smtpPort: number;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  world = await createPracticeWorld(database);
  vzd = await startVzd({ httpPort: 0, ldapPort: 0 });
  smtpPort = await freePort();
});
after(async () => {
  await kim?.stop();
  await vzd.stop();
  await world.close();
  await database.close();
});

function outboxDeps(): OutboxDeps {
  const account = kimAccounts({ host: '127.0.0.1', smtpPort }).find((a) => a.identityId === practice.id)!;
  return {
    store: world.store,
    lookupKimAddress: (telematikId) => lookupKimAddress({ ldapUrl: vzd.ldapUrl, telematikId }),
    kimAccount: () => ({ from: account.address, target: { host: '127.0.0.1', port: smtpPort, user: account.smtpUser, password: account.password } }),
    sendKimMail,
    backoff: () => 0,
  };
}

test('KIM down: the assignment stays in the outbox; KIM up: delivered once to the pharmacy, request done', async () => {
  const pharmacy = pharmacies[0];
  const bundle = requestBundle();
  assert.equal((await postRequest(world.app, bundle, `&pharmacy=${pharmacy.telematikId}`)).statusCode, 201);
  const run = await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
  assert.equal(run.statusCode, 200, run.body);
  assert.match(run.body, /Task\/169\./);
  let request = (await world.store.getRequest(TENANT, requestId(bundle)))!;
  assert.equal(request.status, 'activated');
  assert.equal(request.flowType, '169');

  // Nothing listens on the KIM port yet.
  assert.equal(await deliverOutbox(outboxDeps()), 0);
  let [message] = await world.store.outboxFor(TENANT, request.id);
  assert.equal(message.kind, 'kim');
  assert.equal(message.deliveredAt, null);
  assert.equal(message.attempts, 1);
  assert.ok(message.lastError);
  assert.equal((await world.store.getRequest(TENANT, request.id))!.status, 'activated');

  kim = await startKimService({ config: { host: '127.0.0.1', ports: { ...loadConfig({}).ports, kim_smtp: smtpPort, kim_pop3: 0 } }, database, pki: testPki() });
  assert.equal(await deliverOutbox(outboxDeps()), 1);
  assert.equal(await deliverOutbox(outboxDeps()), 0, 'nothing left to send');
  [message] = await world.store.outboxFor(TENANT, request.id);
  assert.ok(message.deliveredAt);
  request = (await world.store.getRequest(TENANT, request.id))!;
  assert.equal(request.status, 'done');

  const mails = new KyselyMailStore(database);
  const box = kimAddress(pharmacy)!.toLowerCase();
  const list = await mails.list(box);
  assert.equal(list.length, 1, 'delivered exactly once');
  const parsed = await parseErezeptMessage((await mails.get(box, list[0].uid))!);
  assert.equal(parsed.kind, 'zuweisung');
  assert.equal(parsed.dienstkennung, 'eRezept;Zuweisung;V1.0');
  assert.equal(parsed.from, kimAddress(practice)!.toLowerCase());
  assert.deepEqual(parsed.kind === 'zuweisung' && parsed.token, { taskId: request.prescriptionId, accessCode: request.accessCode });
});

test('an unknown pharmacy Telematik-ID stays in the outbox with the reason', async () => {
  const bundle = requestBundle();
  assert.equal((await postRequest(world.app, bundle, '&pharmacy=3-99.9.9999999.99.999')).statusCode, 201);
  await world.app.inject({ method: 'GET', url: `/${TENANT}/TI?action=$processerp` });
  await deliverOutbox(outboxDeps());
  const [message] = await world.store.outboxFor(TENANT, requestId(bundle));
  assert.equal(message.deliveredAt, null);
  assert.match(message.lastError ?? '', /Keine KIM-Adresse/);
});
