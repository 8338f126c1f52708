import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { CONTEXT, post, startTestKonnektor } from './testing.ts';

const docs = (n: number) => Array.from({ length: n }, (_, i) => ({ RequestID: `r${i}`, Document: { Base64Data: Buffer.from(`<Bundle n="${i}"/>`).toString('base64') } }));

test('comfort signature: activate with the PIN, then sign without PIN until the count is used up', async () => {
  // PIN prompt mode: any signature without comfort would need a typed PIN, so success proves comfort mode.
  const k = await startTestKonnektor({ autoPin: false, comfort: { max: 5 } });
  try {
    const ctx = { ...CONTEXT, UserId: randomUUID() };
    const idle = await post(k.app, '/SignatureService/GetSignatureMode', { Context: ctx, CardHandle: k.hba });
    assert.deepEqual(idle.body, { Status: { Result: 'OK' }, ComfortSignatureStatus: 'ENABLED', ComfortSignatureMax: 5, ComfortSignatureTimer: 'PT24H' });
    const noPin = await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: ctx, CardHandle: k.hba });
    assert.equal(noPin.body.error, 'PIN_REQUIRED');
    const activated = await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: ctx, CardHandle: k.hba, Pin: '123456' });
    assert.deepEqual([activated.status, activated.body.SignatureMode], [200, 'COMFORT']);

    const sign = (n: number, context = ctx) => post(k.app, '/SignatureService/SignDocument', { Context: context, CardHandle: k.hba, JobNumber: 'ABC-001', SignRequests: docs(n) });
    const batch = await sign(3);
    assert.deepEqual([batch.status, batch.body.SignatureMode, batch.body.SignResponses.length], [200, 'COMFORT', 3]);
    const mode = await post(k.app, '/SignatureService/GetSignatureMode', { Context: ctx, CardHandle: k.hba });
    assert.equal(mode.body.SessionInfo.SignatureMode, 'COMFORT');
    assert.equal(mode.body.SessionInfo.CountRemaining, 2);
    assert.match(mode.body.SessionInfo.TimeRemaining, /^PT2[34]H/);

    // 3 more than the 2 left: falls back to PIN mode and says so
    const tooMany = await sign(3);
    assert.equal(tooMany.body.error, 'PIN_REQUIRED');
    assert.equal((await sign(2)).body.SignatureMode, 'COMFORT');
    // count used up: session is over
    const over = await post(k.app, '/SignatureService/GetSignatureMode', { Context: ctx, CardHandle: k.hba });
    assert.equal(over.body.SessionInfo, undefined);
    assert.equal((await sign(1)).body.error, 'PIN_REQUIRED');
  } finally {
    await k.close();
  }
});

test('comfort signature is per card + client system + user; another user still needs the PIN', async () => {
  const k = await startTestKonnektor({ autoPin: false });
  try {
    const alice = { ...CONTEXT, UserId: randomUUID() };
    const bob = { ...CONTEXT, UserId: randomUUID() };
    await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: alice, CardHandle: k.hba, Pin: '123456' });
    const sign = (context: object) => post(k.app, '/SignatureService/SignDocument', { Context: context, CardHandle: k.hba, JobNumber: 'ABC-002', SignRequests: docs(1) });
    assert.equal((await sign(alice)).body.SignatureMode, 'COMFORT');
    assert.equal((await sign(bob)).body.error, 'PIN_REQUIRED');
    assert.equal((await sign({ ...alice, ClientSystemId: 'OTHER' })).body.error, 'PIN_REQUIRED');
    assert.equal((await sign(CONTEXT)).body.error, 'PIN_REQUIRED', 'no UserId, no comfort');
    const bobMode = await post(k.app, '/SignatureService/GetSignatureMode', { Context: bob, CardHandle: k.hba });
    assert.equal(bobMode.body.SessionInfo, undefined);
  } finally {
    await k.close();
  }
});

test('comfort signature ends when its timer runs out', async () => {
  let now = Date.parse('2026-03-01T08:00:00Z');
  const k = await startTestKonnektor({ autoPin: false, now: () => now, comfort: { timerSeconds: 3600 } });
  try {
    const ctx = { ...CONTEXT, UserId: randomUUID() };
    await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: ctx, CardHandle: k.hba, Pin: '123456' });
    const sign = () => post(k.app, '/SignatureService/SignDocument', { Context: ctx, CardHandle: k.hba, JobNumber: 'ABC-003', SignRequests: docs(1) });
    now += 3599_000;
    assert.equal((await sign()).body.SignatureMode, 'COMFORT');
    const mode = await post(k.app, '/SignatureService/GetSignatureMode', { Context: ctx, CardHandle: k.hba });
    assert.equal(mode.body.SessionInfo.TimeRemaining, 'PT1S');
    now += 1000;
    assert.equal((await sign()).body.error, 'PIN_REQUIRED');
  } finally {
    await k.close();
  }
});

test('deactivation ends the session of that user only', async () => {
  const k = await startTestKonnektor({ autoPin: false });
  try {
    const a = { ...CONTEXT, UserId: randomUUID() };
    const b = { ...CONTEXT, UserId: randomUUID() };
    for (const ctx of [a, b]) await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: ctx, CardHandle: k.hba, Pin: '123456' });
    const off = await post(k.app, '/SignatureService/DeactivateComfortSignature', { Context: a, CardHandle: [k.hba] });
    assert.deepEqual(off.body, { Status: { Result: 'OK' }, Deactivated: 1 });
    const sign = (context: object) => post(k.app, '/SignatureService/SignDocument', { Context: context, CardHandle: k.hba, JobNumber: 'ABC-004', SignRequests: docs(1) });
    assert.equal((await sign(a)).body.error, 'PIN_REQUIRED');
    assert.equal((await sign(b)).body.SignatureMode, 'COMFORT');
    // without a context: every session of the card ends
    const all = await post(k.app, '/SignatureService/DeactivateComfortSignature', { CardHandle: k.hba });
    assert.equal(all.body.Deactivated, 1);
    assert.equal((await sign(b)).body.error, 'PIN_REQUIRED');
  } finally {
    await k.close();
  }
});

test('error 4272 for a UserId that is not a UUID, 4270 for a UserId used before, only HBAs', async () => {
  const k = await startTestKonnektor({ autoPin: true });
  try {
    const notUuid = await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: { ...CONTEXT, UserId: 'dr-berger' }, CardHandle: k.hba });
    assert.deepEqual([notUuid.status, notUuid.body.error], [400, '4272']);
    assert.match(notUuid.body.message, /UserId nicht zulässig.*UUID/);
    const none = await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: CONTEXT, CardHandle: k.hba });
    assert.equal(none.body.error, '4272');
    const ctx = { ...CONTEXT, UserId: randomUUID() };
    assert.equal((await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: ctx, CardHandle: k.hba })).status, 200);
    const again = await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: ctx, CardHandle: k.hba });
    assert.deepEqual([again.status, again.body.error], [409, '4270']);
    assert.match(again.body.message, /bereits verwendet/);
    const smcb = k.cards.cards({ type: 'SMC-B' })[0].handle;
    const onSmcb = await post(k.app, '/SignatureService/ActivateComfortSignature', { Context: { ...CONTEXT, UserId: randomUUID() }, CardHandle: smcb });
    assert.deepEqual([onSmcb.status, onSmcb.body.error], [400, 'CARD_TYPE']);
  } finally {
    await k.close();
  }
});
