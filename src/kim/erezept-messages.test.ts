import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildKommunikation, buildZuweisung, DIENSTKENNUNG, ErezeptMessageError, formatErezeptToken, parseErezeptMessage, parseErezeptToken,
} from './erezept-messages.ts';

const taskId = '169.774.328.939.869.74';
const accessCode = '777bea0e13cc9c42ceec14aec3ddee2263325dc2c6c699db115f58fe423607ea';
const from = 'praxis.berger@erx.kim.telematik-test';
const to = 'apotheke.gendarmenmarkt@erx.kim.telematik-test';

function headerBlock(raw: Buffer): string {
  return raw.toString('utf8').split('\r\n\r\n')[0];
}

test('Zuweisung has the seed headers in the seed order, a Message-ID without FQDN and multipart/mixed', async () => {
  const { raw, messageId } = await buildZuweisung({ from, to, taskId, accessCode, date: new Date('2021-06-20T10:12:13Z') });
  const head = headerBlock(raw);
  const names = head.split('\r\n').filter((l) => !/^\s/.test(l)).map((l) => l.split(':')[0]);
  assert.deepEqual(names, [
    'Date', 'From', 'To', 'Subject', 'X-KIM-Dienstkennung', 'Disposition-Notification-To', 'Return-Path', 'Message-ID', 'MIME-Version', 'Content-Type',
  ]);
  assert.match(head, /^Date: Sun, 20 Jun 2021 10:12:13 \+0000$/m);
  assert.match(head, /^X-KIM-Dienstkennung: eRezept;Zuweisung;V1\.0$/m);
  assert.match(head, new RegExp(`^Disposition-Notification-To: ${from}$`, 'm'));
  assert.match(head, new RegExp(`^Return-Path: <${from}>$`, 'm'));
  assert.match(head, /^Content-Type: multipart\/mixed; boundary=/m);
  assert.match(messageId, /^<[0-9a-f-]{36}@localhost>$/);
  assert.match(head, new RegExp(`^Message-ID: ${messageId}$`, 'm'));
});

test('the token part is text/plain;charset=UTF-8 with a CRLF after 45 characters (A_21874)', async () => {
  const { raw } = await buildZuweisung({ from, to, taskId, accessCode });
  const text = raw.toString('utf8');
  const token = formatErezeptToken({ taskId, accessCode });
  assert.equal(token, `Task/${taskId}/$accept?ac=${accessCode}`);
  assert.ok(text.includes(`Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${token.slice(0, 45)}\r\n${token.slice(45)}\r\n`), text);
  // default free text of the first part
  assert.ok(text.includes('\r\n\r\ndirekte Zuweisung E-Rezept\r\n'));
});

test('Zuweisung parses back to the same token, text, headers and therapy plan', async () => {
  const plan = Buffer.from('%PDF-1.4\n% Therapieplan\n');
  const { raw, messageId } = await buildZuweisung({
    from, to, taskId, accessCode, subject: 'E-Rezept direkte Zuweisung Zytostatikum',
    text: 'Sehr geehrte Apotheke\nbitte übernehmen.\nMit den besten Grüßen', senderSystem: 'erx-practice;0.1.0',
    therapyPlan: { filename: 'Therapieplan.pdf', content: plan },
  });
  const parsed = await parseErezeptMessage(raw);
  assert.equal(parsed.kind, 'zuweisung');
  if (parsed.kind !== 'zuweisung') return;
  assert.deepEqual(parsed.token, { taskId, accessCode });
  assert.equal(parsed.text, 'Sehr geehrte Apotheke\nbitte übernehmen.\nMit den besten Grüßen');
  assert.equal(parsed.subject, 'E-Rezept direkte Zuweisung Zytostatikum');
  assert.equal(parsed.dienstkennung, DIENSTKENNUNG.zuweisung);
  assert.equal(parsed.messageId, messageId);
  assert.equal(parsed.from, from);
  assert.deepEqual(parsed.to, [to]);
  assert.equal(parsed.dispositionNotificationTo, from);
  assert.equal(parsed.senderSystem, 'erx-practice;0.1.0');
  assert.deepEqual(parsed.therapyPlan?.content, plan);
  assert.equal(parsed.therapyPlan?.filename, 'Therapieplan.pdf');
});

test('the seed sample of a Zuweisung (token on one line) parses too', async () => {
  const sample = [
    'Date: Sun, 20 Jun 2021 11:12:13 +0100', `From: ${from}`, `To: ${to}`, 'Subject: E-Rezept direkte Zuweisung Zytostatikum',
    'X-KIM-Dienstkennung: eRezept;Zuweisung;V1.0', `Disposition-Notification-To: ${from}`, `Return-Path: <${from}>`,
    'Message-ID: <abc@localhost>', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed;boundary=boundarymultipartseparator42', '',
    'This is a multi-part message in MIME format.', '--boundarymultipartseparator42', 'Content-Type: text/plain;charset=UTF-8', '',
    'Sehr geehrte Apotheke', 'Mit den besten Gruessen', 'Aerztin Mueller', '--boundarymultipartseparator42',
    'Content-Type: text/plain;charset=UTF-8', '', `Task/${taskId}/$accept?ac=${accessCode}`, '--boundarymultipartseparator42--', '',
  ].join('\r\n');
  const parsed = await parseErezeptMessage(Buffer.from(sample));
  assert.equal(parsed.kind, 'zuweisung');
  if (parsed.kind !== 'zuweisung') return;
  assert.deepEqual(parsed.token, { taskId, accessCode });
  assert.equal(parsed.text, 'Sehr geehrte Apotheke\nMit den besten Gruessen\nAerztin Mueller');
  assert.equal(parsed.therapyPlan, undefined);
});

test('Kommunikation is one text/plain;charset=UTF-8 body; a reply carries In-Reply-To', async () => {
  const first = await buildKommunikation({ from: to, to: from, subject: 'E-Rezept Kommunikation', text: 'Sehr geehrte Praxis\n.Punkt am Anfang\nApotheke 123' });
  const reply = await buildKommunikation({ from, to, subject: 'E-Rezept Kommunikation', text: 'Sehr geehrte Apotheke\nArzt ABC', inReplyTo: first.messageId });
  const head = headerBlock(reply.raw);
  assert.match(head, /^X-KIM-Dienstkennung: eRezept;Kommunikation;V1\.0$/m);
  assert.match(head, /^Content-Type: text\/plain; charset=UTF-8$/m);
  assert.match(head, new RegExp(`^In-Reply-To: ${first.messageId}$`, 'm'));
  assert.doesNotMatch(headerBlock(first.raw), /^In-Reply-To:/m);
  const parsedFirst = await parseErezeptMessage(first.raw);
  assert.equal(parsedFirst.kind, 'kommunikation');
  assert.equal(parsedFirst.text, 'Sehr geehrte Praxis\n.Punkt am Anfang\nApotheke 123');
  const parsedReply = await parseErezeptMessage(reply.raw);
  assert.equal(parsedReply.inReplyTo, first.messageId);
  assert.equal(parsedReply.dispositionNotificationTo, from);
});

test('bad tokens and a Zuweisung without token part are clear errors', async () => {
  assert.throws(() => formatErezeptToken({ taskId: '169.1', accessCode }), /not a Task id/);
  assert.throws(() => formatErezeptToken({ taskId, accessCode: 'xyz' }), /64 hex/);
  assert.throws(() => parseErezeptToken('Task/169.774.328.939.869.74/$reject?ac=00'), ErezeptMessageError);
  assert.deepEqual(parseErezeptToken(`Task/${taskId}/$accept?ac=${accessCode.slice(0, 10)}\r\n${accessCode.slice(10)}`), { taskId, accessCode });
  const broken = [
    `From: ${from}`, `To: ${to}`, 'X-KIM-Dienstkennung: eRezept;Zuweisung;V1.0', 'Content-Type: multipart/mixed; boundary=b', '',
    '--b', 'Content-Type: text/plain;charset=UTF-8', '', 'nur Text', '--b--', '',
  ].join('\r\n');
  await assert.rejects(parseErezeptMessage(Buffer.from(broken)), /needs a text part and a token part/);
});
