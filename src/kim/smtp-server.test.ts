import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import nodemailer from 'nodemailer';
import { simpleParser } from 'mailparser';
import { startKimSmtpServer, NO_RECIPIENT_TEXT, type KimSmtpServer } from './smtp-server.ts';
import { KimAccountDirectory, kimAccounts } from './accounts.ts';
import { KyselyMailStore } from './store-kysely.ts';
import { openDatabase, type Database } from '../storage/database.ts';

const accounts = kimAccounts();
const practice = accounts.find((a) => a.identityId === 'practice-demopraxis')!;
const pharmacy = accounts.find((a) => a.identityId === 'pharmacy-gendarmenmarkt')!;
const other = accounts.find((a) => a.identityId === 'pharmacy-mitte')!;
let database: Database;
let store: KyselyMailStore;
let server: KimSmtpServer;

before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  store = new KyselyMailStore(database);
  await store.ensureMailboxes(accounts.map((a) => a.address));
  server = await startKimSmtpServer({ store, accounts: new KimAccountDirectory(accounts), maxMessageSize: 64 * 1024 });
});
after(async () => {
  await server.close();
  await database.close();
});

function transport(user: string, pass: string, port = server.port) {
  return nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, auth: { user, pass } });
}

async function latest(address: string): Promise<Buffer> {
  const list = await store.list(address);
  assert.ok(list.length > 0, `mailbox ${address} is empty`);
  return (await store.get(address, list[list.length - 1].uid))!;
}

test('nodemailer sends with the KIM user name; the mail lands with the result headers and the default Dienstkennung', async () => {
  const info = await transport(practice.smtpUser, practice.password).sendMail({
    from: practice.address,
    to: pharmacy.address,
    subject: 'Grüße',
    text: 'Hallo\n.eine Zeile mit Punkt\n',
    headers: { 'X-KIM-Sendersystem': 'erx-practice;0.1.0' },
  });
  assert.deepEqual(info.accepted, [pharmacy.address]);
  assert.match(info.response, /^250 2\.0\.0 accepted for 1 recipient/);
  const raw = await latest(pharmacy.address);
  const head = raw.toString().split('\r\n\r\n')[0];
  assert.match(head, /^X-KIM-DecryptionResult: 00\r\nX-KIM-IntegrityCheckResult: X02\r\n/);
  const parsed = await simpleParser(raw);
  assert.equal(parsed.headers.get('x-kim-dienstkennung'), 'KIM-Mail;Default;V1.0');
  assert.equal(parsed.headers.get('x-kim-sendersystem'), 'erx-practice;0.1.0');
  assert.equal(parsed.subject, 'Grüße');
  assert.equal(parsed.text, 'Hallo\n.eine Zeile mit Punkt\n');
  assert.equal(parsed.messageId, info.messageId);
});

test('a Dienstkennung set by the sender is kept as it is', async () => {
  await transport(practice.smtpUser, practice.password).sendMail({
    from: practice.address, to: pharmacy.address, subject: 's', text: 't',
    headers: { 'X-KIM-Dienstkennung': 'eRezept;Kommunikation;V1.0' },
  });
  const parsed = await simpleParser(await latest(pharmacy.address));
  assert.equal(parsed.headers.get('x-kim-dienstkennung'), 'eRezept;Kommunikation;V1.0');
  assert.equal((await latest(pharmacy.address)).toString().match(/X-KIM-Dienstkennung/gi)!.length, 1);
});

test('a malformed user name and a wrong password are refused with 535 and a reason', async () => {
  await assert.rejects(transport(practice.address, practice.password).verify(), (e: any) => {
    assert.equal(e.responseCode, 535);
    assert.match(e.response, /invalid KIM SMTP user name: 1 field\(s\)/);
    return true;
  });
  await assert.rejects(transport(practice.smtpUser, 'wrong-password').verify(), (e: any) => {
    assert.equal(e.responseCode, 535);
    assert.match(e.response, /invalid KIM user name or password/);
    return true;
  });
  // another account's password does not authenticate this address
  await assert.rejects(transport(practice.smtpUser, pharmacy.password).verify(), (e: any) => e.responseCode === 535);
});

test('MAIL FROM other than the authenticated address, and a From header other than MAIL FROM, give 553', async () => {
  await assert.rejects(
    transport(practice.smtpUser, practice.password).sendMail({ from: pharmacy.address, to: other.address, subject: 'x', text: 'y' }),
    (e: any) => e.responseCode === 553 && /MAIL FROM .* is not the authenticated KIM address/.test(e.response),
  );
  await assert.rejects(
    transport(practice.smtpUser, practice.password).sendMail({
      envelope: { from: practice.address, to: [other.address] }, from: pharmacy.address, to: other.address, subject: 'x', text: 'y',
    }),
    (e: any) => e.responseCode === 553 && /From header .* must be the MAIL FROM address/.test(e.response),
  );
  await assert.rejects(
    transport(practice.smtpUser, practice.password).sendMail({
      from: practice.address, replyTo: 'someone@example.com', to: other.address, subject: 'x', text: 'y',
    }),
    (e: any) => e.responseCode === 553 && /Reply-To someone@example.com is not a KIM address/.test(e.response),
  );
  assert.equal((await store.list(other.address)).length, 0);
});

test('mail over the limit is refused with 451 and nothing is stored', async () => {
  const before = (await store.list(other.address)).length;
  await assert.rejects(
    transport(practice.smtpUser, practice.password).sendMail({ from: practice.address, to: other.address, subject: 'big', text: 'x'.repeat(70 * 1024) }),
    (e: any) => e.responseCode === 451 && /exceeds the KIM limit of 65536 octets/.test(e.response),
  );
  assert.equal((await store.list(other.address)).length, before);
});

test('the default limit is 15 MiB, advertised in EHLO', async () => {
  const srv = await startKimSmtpServer({ store, accounts: new KimAccountDirectory(accounts) });
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect({ port: srv.port, host: '127.0.0.1' });
      let text = '';
      socket.on('error', reject);
      socket.on('data', (d) => {
        text += d.toString();
        if (/^220 /m.test(text) && !/EHLO sent/.test(text)) {
          text += '\nEHLO sent\n';
          socket.write('EHLO client\r\n');
        }
        if (/^250 /m.test(text.split('EHLO sent')[1] ?? '')) {
          socket.end('QUIT\r\n');
          resolve(text);
        }
      });
    });
    assert.match(reply, /250[- ]SIZE 15728640\r\n/);
    assert.match(reply, /250[- ]AUTH PLAIN LOGIN\r\n/);
  } finally {
    await srv.close();
  }
});

test('no recipient with a mailbox gives 451 with the fixed text; a partly unknown list delivers and sends a DSN', async () => {
  await assert.rejects(
    transport(practice.smtpUser, practice.password).sendMail({ from: practice.address, to: 'nobody@erx.kim.telematik-test', subject: 'x', text: 'y' }),
    (e: any) => e.responseCode === 451 && e.response.includes(NO_RECIPIENT_TEXT) && e.response.includes('nobody@erx.kim.telematik-test'),
  );
  const info = await transport(practice.smtpUser, practice.password).sendMail({
    from: practice.address, to: [other.address, 'nobody@erx.kim.telematik-test'], subject: 'teilweise', text: 'y',
  });
  assert.match(info.response, /accepted for 1 of 2 recipients/);
  assert.equal((await simpleParser(await latest(other.address))).subject, 'teilweise');
  const dsn = await simpleParser(await latest(practice.address));
  assert.equal((dsn.headers.get('content-type') as { value: string }).value, 'multipart/report');
  assert.equal(dsn.inReplyTo, info.messageId);
  assert.match(dsn.text ?? '', /nobody@erx\.kim\.telematik-test/);
});
