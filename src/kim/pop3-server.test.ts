import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { startPop3Server, type Pop3Server } from './pop3-server.ts';
import { fetchNewMail, Pop3Client, Pop3Error } from './pop3-client.ts';
import { KimAccountDirectory, kimAccounts } from './accounts.ts';
import { KyselyMailStore } from './store-kysely.ts';
import { openDatabase, type Database } from '../storage/database.ts';

const accounts = kimAccounts();
const pharmacy = accounts.find((a) => a.identityId === 'pharmacy-gendarmenmarkt')!;
const practice = accounts.find((a) => a.identityId === 'practice-demopraxis')!;
let database: Database;
let store: KyselyMailStore;
let server: Pop3Server;

const first = 'Subject: first\r\nX-KIM-Dienstkennung: eRezept;Kommunikation;V1.0\r\n\r\nline one\r\n.starts with a dot\r\n.\r\nlast\r\n';
const second = 'Subject: second\r\n\r\nbody two\r\n';

before(async () => {
  database = await openDatabase({ dataDir: ':memory:' });
  store = new KyselyMailStore(database);
  await store.ensureMailboxes(accounts.map((a) => a.address));
  await store.deliver(Buffer.from(first), [pharmacy.address]);
  await store.deliver(Buffer.from(second), [pharmacy.address]);
  server = await startPop3Server({ store, accounts: new KimAccountDirectory(accounts), maxLineLength: 600 });
});
after(async () => {
  await server.close();
  await database.close();
});

/** Speaks raw POP3: sends each line once the previous answer is complete, returns the whole transcript. */
async function rawSession(lines: string[], waitFor: RegExp[]): Promise<string> {
  const socket = connect({ port: server.port, host: '127.0.0.1' });
  let transcript = '';
  let step = -1;
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => resolve(transcript));
    socket.on('data', (chunk) => {
      transcript += chunk.toString('latin1');
      // greeting first, then one line per answer matched
      while (step < lines.length - 1 && (step === -1 ? /\r\n/.test(transcript) : waitFor[step].test(transcript))) {
        step += 1;
        socket.write(`${lines[step]}\r\n`);
      }
    });
  });
}

/** Logs in, retrying while the server still holds the lock of a session whose socket was just dropped. */
async function loginWhenFree(options: Parameters<typeof Pop3Client.login>[0]): Promise<Pop3Client> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await Pop3Client.login(options);
    } catch (e) {
      if (!(e instanceof Pop3Error && e.response.startsWith('[IN-USE]')) || attempt > 50) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

test('our client logs in with the KIM POP3 user name and reads STAT, LIST, UIDL and CAPA', async () => {
  const client = await Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: pharmacy.password });
  assert.match(client.greeting, /POP3/);
  const stat = await client.stat();
  assert.equal(stat.count, 2);
  assert.equal(stat.size, Buffer.byteLength(first) + Buffer.byteLength(second));
  assert.deepEqual(await client.list(), [{ n: 1, size: Buffer.byteLength(first) }, { n: 2, size: Buffer.byteLength(second) }]);
  const uids = await client.uidl();
  assert.equal(uids.length, 2);
  assert.notEqual(uids[0].uid, uids[1].uid);
  assert.match(uids[0].uid, /^[\x21-\x7e]{1,70}$/);
  assert.ok((await client.capa()).includes('UIDL'));
  await client.quit();
});

test('RETR undoes dot-stuffing in our client; the raw wire shows the stuffed lines and the terminator', async () => {
  const client = await Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: pharmacy.password });
  assert.equal((await client.retr(1)).toString(), first);
  const top = await client.top(1, 1);
  assert.equal(top.toString(), 'Subject: first\r\nX-KIM-Dienstkennung: eRezept;Kommunikation;V1.0\r\n\r\nline one\r\n');
  assert.equal((await client.top(2, 0)).toString(), 'Subject: second\r\n\r\n');
  await client.quit();

  const wire = await rawSession([`USER ${pharmacy.pop3User}`, `PASS ${pharmacy.password}`, 'RETR 1', 'QUIT'], [/send PASS/, /maildrop has/, /\r\n\.\r\n/]);
  assert.match(wire, /\+OK \d+ octets\r\nSubject: first\r\n/);
  assert.ok(wire.includes('line one\r\n..starts with a dot\r\n..\r\nlast\r\n.\r\n'), wire);
  assert.match(wire, /\+OK bye/);
});

test('DELE only takes effect on QUIT; RSET undoes it and a dropped connection deletes nothing', async () => {
  await store.ensureMailboxes(['deltest@erx.kim.telematik-test']);
  const box = 'deltest@erx.kim.telematik-test';
  const local = new KimAccountDirectory([{ identityId: 'x', address: box, smtpUser: '', pop3User: '', password: 'secret-pass' }]);
  const srv = await startPop3Server({ store, accounts: local });
  const user = `${box}#localhost:${srv.port}#1#PVS#WP1`;
  try {
    await store.deliver(Buffer.from('Subject: a\r\n\r\na\r\n'), [box]);
    await store.deliver(Buffer.from('Subject: b\r\n\r\nb\r\n'), [box]);
    let client = await Pop3Client.login({ port: srv.port, user, password: 'secret-pass' });
    await client.dele(1);
    assert.equal((await client.stat()).count, 1);
    await assert.rejects(client.retr(1), (e: unknown) => e instanceof Pop3Error && /already deleted/.test(e.response));
    await assert.rejects(client.dele(1), /already deleted/);
    await client.rset();
    assert.equal((await client.stat()).count, 2);
    await client.dele(1);
    client.destroy(); // no QUIT: no UPDATE state
    client = await loginWhenFree({ port: srv.port, user, password: 'secret-pass' });
    assert.equal((await store.list(box)).length, 2);
    await client.dele(1);
    assert.match(await client.quit(), /1 messages deleted/);
    const left = await store.list(box);
    assert.equal(left.length, 1);
    assert.equal((await store.get(box, left[0].uid))!.toString(), 'Subject: b\r\n\r\nb\r\n');

    const fetched = await fetchNewMail({ port: srv.port, user, password: 'secret-pass', knownUids: [] });
    assert.equal(fetched.length, 1);
    assert.equal((await fetchNewMail({ port: srv.port, user, password: 'secret-pass', knownUids: [fetched[0].uid] })).length, 0);
  } finally {
    await srv.close();
  }
});

test('bad user name, wrong password and commands out of state give -ERR with a reason', async () => {
  await assert.rejects(
    Pop3Client.login({ port: server.port, user: pharmacy.address, password: pharmacy.password }),
    (e: unknown) => e instanceof Pop3Error && /^\[AUTH\] invalid KIM POP3 user name/.test(e.response),
  );
  await assert.rejects(
    Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: 'wrong' }),
    (e: unknown) => e instanceof Pop3Error && e.response === '[AUTH] invalid user name or password' && !e.message.includes('wrong'),
  );
  // the password of another account does not open this mailbox
  await assert.rejects(Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: practice.password }), /\[AUTH\]/);

  const wire = await rawSession(['STAT', 'XYZZY', 'RETR 1', 'QUIT'], [/not logged in/, /unknown command/, /not logged in[\s\S]*not logged in/]);
  assert.match(wire, /-ERR not logged in: USER and PASS first\r\n-ERR unknown command XYZZY\r\n-ERR not logged in/);

  const client = await Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: pharmacy.password });
  await assert.rejects(client.retr(99), /no such message 99/);
  await assert.rejects(client.command('TOP 1'), /TOP needs/);
  await assert.rejects(client.command('FOO'), /unknown command FOO/);
  await assert.rejects(client.command('LIST abc'), /message number required/);
  await client.quit();
});

test('a second session on the same mailbox gets [IN-USE] until the first one quits', async () => {
  const one = await Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: pharmacy.password });
  await assert.rejects(Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: pharmacy.password }), /\[IN-USE\]/);
  await one.quit();
  const two = await Pop3Client.login({ port: server.port, user: pharmacy.pop3User, password: pharmacy.password });
  await two.quit();
});

test('an over-long command line is refused and the connection closed', async () => {
  const wire = await rawSession([`USER ${'a'.repeat(700)}`], []);
  assert.match(wire, /-ERR line too long \(limit 600 octets\)\r\n$/);
});
