import { test } from 'node:test';
import assert from 'node:assert/strict';
import { insured } from '../seed/identities.ts';
import { CONTEXT, post, startTestKonnektor } from './testing.ts';

const doc = [{ RequestID: 'r1', Document: { Base64Data: Buffer.from('<Bundle/>').toString('base64') } }];

test('dev mode: the simulated terminal enters the PIN itself', async () => {
  const k = await startTestKonnektor({ autoPin: true });
  try {
    const job = (await post(k.app, '/SignatureService/GetJobNumber', { Context: CONTEXT })).body.JobNumber;
    const res = await post(k.app, '/SignatureService/SignDocument', { Context: CONTEXT, CardHandle: k.hba, JobNumber: job, SignRequests: doc });
    assert.equal(res.status, 200);
    const verify = await post(k.app, '/CardService/VerifyPin', { Context: CONTEXT, CardHandle: k.hba, PinTyp: 'PIN.CH' });
    assert.deepEqual([verify.status, verify.body.PinResult], [200, 'OK']);
    const status = await post(k.app, '/CardService/GetPinStatus', { Context: CONTEXT, CardHandle: k.hba, PinTyp: 'PIN.CH' });
    assert.deepEqual([status.body.PinStatus, status.body.LeftTries], ['VERIFIED', 3]);
  } finally {
    await k.close();
  }
});

test('PIN prompt mode: without a PIN the signature is refused; with the typed PIN it works', async () => {
  const k = await startTestKonnektor({ autoPin: false });
  try {
    const job = (await post(k.app, '/SignatureService/GetJobNumber', { Context: CONTEXT })).body.JobNumber;
    const missing = await post(k.app, '/SignatureService/SignDocument', { Context: CONTEXT, CardHandle: k.hba, JobNumber: job, SignRequests: doc });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'PIN_REQUIRED');
    assert.match(missing.body.message, /PIN-Eingabe erforderlich: PIN.QES/);
    const typed = await post(k.app, '/SignatureService/SignDocument', { Context: CONTEXT, CardHandle: k.hba, JobNumber: job, SignRequests: doc, Pin: '123456' });
    assert.equal(typed.status, 200);
  } finally {
    await k.close();
  }
});

test('wrong PINs count down with a clear message; the third blocks the card, which then refuses clearly', async () => {
  const k = await startTestKonnektor({ autoPin: true });
  try {
    const egk = k.cards.cardsForIdentity(insured[0].id)[0].handle;
    const first = await post(k.app, '/CardService/VerifyPin', { Context: CONTEXT, CardHandle: egk, PinTyp: 'PIN.CH', Pin: '000000' });
    assert.equal(first.status, 403);
    assert.equal(first.body.error, 'PIN_REJECTED');
    assert.equal(first.body.leftTries, 2);
    assert.match(first.body.message, /Falsche PIN für PIN.CH .*noch 2 Versuche bis zur Sperre/);
    const status = await post(k.app, '/CardService/GetPinStatus', { Context: CONTEXT, CardHandle: egk });
    assert.deepEqual([status.body.PinStatus, status.body.LeftTries], ['VERIFIABLE', 2]);
    const second = await post(k.app, '/CardService/VerifyPin', { Context: CONTEXT, CardHandle: egk, Pin: '000000' });
    assert.match(second.body.message, /noch 1 Versuch bis/);
    const third = await post(k.app, '/CardService/VerifyPin', { Context: CONTEXT, CardHandle: egk, Pin: '000000' });
    assert.equal(third.status, 423);
    assert.equal(third.body.error, 'PIN_BLOCKED');
    assert.match(third.body.message, /gesperrt.*PUK/);
    const blocked = await post(k.app, '/CardService/GetPinStatus', { Context: CONTEXT, CardHandle: egk });
    assert.deepEqual([blocked.body.PinStatus, blocked.body.LeftTries], ['BLOCKED', 0]);
    // even the terminal's right PIN is refused now
    const afterwards = await post(k.app, '/CardService/VerifyPin', { Context: CONTEXT, CardHandle: egk });
    assert.equal(afterwards.status, 423);
    const unblocked = await post(k.app, '/CardService/UnblockPin', { Context: CONTEXT, CardHandle: egk, Puk: '12345678' });
    assert.deepEqual([unblocked.status, unblocked.body.PinResult], [200, 'OK']);
    assert.equal((await post(k.app, '/CardService/VerifyPin', { Context: CONTEXT, CardHandle: egk })).status, 200);
  } finally {
    await k.close();
  }
});

test('a blocked HBA refuses SignDocument with PIN_BLOCKED', async () => {
  const k = await startTestKonnektor({ autoPin: true });
  try {
    for (let i = 0; i < 3; i++) await post(k.app, '/CardService/VerifyPin', { Context: CONTEXT, CardHandle: k.hba, PinTyp: 'PIN.QES', Pin: '111111' });
    const job = (await post(k.app, '/SignatureService/GetJobNumber', { Context: CONTEXT })).body.JobNumber;
    const res = await post(k.app, '/SignatureService/SignDocument', { Context: CONTEXT, CardHandle: k.hba, JobNumber: job, SignRequests: doc });
    assert.equal(res.status, 423);
    assert.equal(res.body.error, 'PIN_BLOCKED');
    assert.match(res.body.message, /PIN.QES der Karte HBA-\d+ \(Dr. med. Hanna Berger\) ist nach 3 Fehleingaben gesperrt/);
  } finally {
    await k.close();
  }
});
