// End to end on the real service: nodemailer (SMTP) -> PGlite on disk -> our POP3 client, with CMS signing by the
// seeded cards, both E-Rezept Dienstkennungen, and a restart of service and database in between.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../storage/database.ts';
import { createSeededPki, type LoadedPki } from '../crypto/pki.ts';
import { startKimService, sendKimMail, type KimService } from './service.ts';
import { Pop3Client, fetchNewMail } from './pop3-client.ts';
import { buildKommunikation, buildZuweisung, parseErezeptMessage } from './erezept-messages.ts';
import type { KimAccount } from './accounts.ts';

const config = { host: '127.0.0.1', ports: { kim_smtp: 0, kim_pop3: 0 } } as Parameters<typeof startKimService>[0]['config'];
const taskId = '169.000.004.839.514.95';
const accessCode = '777bea0e13cc9c42ceec14aec3ddee2263325dc2c6c699db115f58fe423607ea';

let dataDir: string;
let database: Database;
let pki: LoadedPki;
let service: KimService;
let practice: KimAccount;
let pharmacy: KimAccount;

const smtpOf = (a: KimAccount) => ({ port: service.smtpPort, user: a.smtpUser, password: a.password });
const pop3Of = (a: KimAccount) => ({ port: service.pop3Port, user: a.pop3User, password: a.password });

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'erx-kim-'));
  database = await openDatabase({ dataDir });
  pki = createSeededPki();
  service = await startKimService({ config, database, pki });
  practice = service.accounts.find((a) => a.identityId === 'practice-demopraxis')!;
  pharmacy = service.accounts.find((a) => a.identityId === 'pharmacy-gendarmenmarkt')!;
});
after(async () => {
  await service.stop();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
});

test('accounts carry user names for the bound ports', () => {
  assert.ok(practice.smtpUser.startsWith(`${practice.address}#127.0.0.1:${service.smtpPort}#`));
  assert.ok(pharmacy.pop3User.startsWith(`${pharmacy.address}#127.0.0.1:${service.pop3Port}#`));
  const physician = service.accounts.find((a) => a.identityId === 'physician-berger')!;
  assert.match(physician.pop3User, /#physician-berger$/, 'an HBA mailbox names its UserId');
});

test('Zuweisung round trip: build -> send -> UIDL/TOP/RETR -> parse gives the same token, text and headers, signed', async () => {
  const built = await buildZuweisung({
    from: practice.address, to: pharmacy.address, taskId, accessCode, text: 'Sehr geehrte Apotheke\nbitte liefern.', senderSystem: 'erx-practice;0.1.0',
  });
  const sent = await sendKimMail(smtpOf(practice), { from: practice.address, to: pharmacy.address, raw: built.raw });
  assert.deepEqual(sent.accepted, [pharmacy.address]);

  const client = await Pop3Client.login(pop3Of(pharmacy));
  const uids = await client.uidl();
  assert.equal(uids.length, 1);
  const top = (await client.top(1, 0)).toString();
  assert.match(top, /^X-KIM-DecryptionResult: 00\r\nX-KIM-IntegrityCheckResult: 00\r\n/);
  assert.match(top, /^X-KIM-Dienstkennung: eRezept;Zuweisung;V1\.0\r$/m);
  assert.ok(top.endsWith('\r\n\r\n'), 'TOP n 0 ends after the header');
  const parsed = await parseErezeptMessage(await client.retr(1));
  await client.quit();
  assert.equal(parsed.kind, 'zuweisung');
  if (parsed.kind !== 'zuweisung') return;
  assert.deepEqual(parsed.token, { taskId, accessCode });
  assert.equal(parsed.text, 'Sehr geehrte Apotheke\nbitte liefern.');
  assert.equal(parsed.messageId, built.messageId);
  assert.equal(parsed.from, practice.address);
  assert.equal(parsed.senderSystem, 'erx-practice;0.1.0');
  assert.equal(parsed.integrityCheckResult, '00');
});

test('Kommunikation round trip with a reply (In-Reply-To) and a body line starting with a dot', async () => {
  const question = await buildKommunikation({ from: pharmacy.address, to: practice.address, subject: 'E-Rezept Kommunikation', text: 'Rückfrage\n.\n.Dosis?' });
  await sendKimMail(smtpOf(pharmacy), { from: pharmacy.address, to: practice.address, raw: question.raw });
  const [received] = await fetchNewMail(pop3Of(practice));
  const parsed = await parseErezeptMessage(received.raw);
  assert.equal(parsed.kind, 'kommunikation');
  assert.equal(parsed.text, 'Rückfrage\n.\n.Dosis?');
  assert.equal(parsed.integrityCheckResult, '00');

  const answer = await buildKommunikation({ from: practice.address, to: pharmacy.address, subject: 'E-Rezept Kommunikation', text: 'Antwort', inReplyTo: parsed.messageId });
  await sendKimMail(smtpOf(practice), { from: practice.address, to: pharmacy.address, raw: answer.raw });
  const known = (await fetchNewMail(pop3Of(pharmacy))).map((m) => m.uid);
  const all = await fetchNewMail({ ...pop3Of(pharmacy), knownUids: [] });
  assert.equal(all.length, 2, 'messages stay on the server until deleted');
  const reply = await parseErezeptMessage(all[1].raw);
  assert.equal(reply.inReplyTo, question.messageId);
  assert.equal(known.length, 2);
});

test('a stored message survives a restart of the service and the database; DELE+QUIT then removes it', async () => {
  const built = await buildKommunikation({ from: practice.address, to: pharmacy.address, subject: 'bleibt', text: 'nach Neustart' });
  await sendKimMail(smtpOf(practice), { from: practice.address, to: pharmacy.address, raw: built.raw });
  await service.stop();
  await database.close();

  database = await openDatabase({ dataDir });
  service = await startKimService({ config, database, pki });
  practice = service.accounts.find((a) => a.identityId === 'practice-demopraxis')!;
  pharmacy = service.accounts.find((a) => a.identityId === 'pharmacy-gendarmenmarkt')!;

  let client = await Pop3Client.login(pop3Of(pharmacy));
  const list = await client.uidl();
  const last = list[list.length - 1];
  const parsed = await parseErezeptMessage(await client.retr(last.n));
  assert.equal(parsed.subject, 'bleibt');
  assert.equal(parsed.text, 'nach Neustart');
  await client.dele(last.n);
  await client.quit();

  client = await Pop3Client.login(pop3Of(pharmacy));
  const after = await client.uidl();
  await client.quit();
  assert.equal(after.length, list.length - 1);
  assert.ok(!after.some((u) => u.uid === last.uid));
});

test('a message signed by one sender but claiming another sender is not reported as valid', async () => {
  const { cadesIntegrity } = await import('./integrity.ts');
  const integrity = cadesIntegrity(pki);
  const raw = Buffer.from(`From: ${practice.address}\r\n\r\nx\r\n`);
  const signature = await integrity.sign(raw, practice);
  assert.equal(await integrity.verify(raw, signature, practice.address), '00');
  assert.equal(await integrity.verify(raw, signature, pharmacy.address), 'X01');
  assert.equal(await integrity.verify(Buffer.from('tampered'), signature, practice.address), 'X01');
  assert.equal(await integrity.verify(raw, undefined, practice.address), 'X02');
});
