import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPayload } from '../fachdienst/operations/communication.ts';
import { formatPrescriptionId } from '../fhir/identifiers.ts';
import { replyText } from '../insured/dispense-request.ts';
import { pharmacyReply, ReplyInputError } from './reply.ts';

const taskId = formatPrescriptionId('160', 7);
const kvnr = 'X110614233';

test('a reply names the Task without AccessCode, the insured as recipient, and passes the Fachdienst payload check', () => {
  const c = pharmacyReply({ taskId, kvnr, supplyOptionsType: 'onPremise', infoText: 'Liegt ab 14 Uhr bereit.', pickUpCode: 'A12' });
  assert.equal(c.basedOn?.[0]?.reference, `Task/${taskId}`);
  assert.deepEqual(c.recipient?.[0]?.identifier, { system: 'http://fhir.de/sid/gkv/kvid-10', value: kvnr });
  assert.match(c.meta!.profile![0], /GEM_ERP_PR_Communication_Reply\|/);
  const text = c.payload![0].contentString!;
  checkPayload('Reply', text);
  assert.deepEqual(JSON.parse(text), { version: 1, supplyOptionsType: 'onPremise', info_text: 'Liegt ab 14 Uhr bereit.', pickUpCodeHR: 'A12' });
  assert.equal(replyText(text), 'Liegt ab 14 Uhr bereit. · Abholcode: A12');
});

test('control characters are replaced, so the Fachdienst does not refuse a pasted text', () => {
  const c = pharmacyReply({ taskId, kvnr, supplyOptionsType: 'delivery', infoText: 'Bote\u0007 kommt\uFEFF heute' });
  checkPayload('Reply', c.payload![0].contentString);
  assert.equal(JSON.parse(c.payload![0].contentString!).info_text, 'Bote  kommt  heute');
});

test('refused before sending: empty or too long text, pick-up code for delivery or longer than 8, bad KVNR or ID', () => {
  const base = { taskId, kvnr, supplyOptionsType: 'onPremise' as const, infoText: 'ok' };
  for (const [input, message] of [
    [{ ...base, infoText: '  ' }, /Nachricht/],
    [{ ...base, infoText: 'x'.repeat(501) }, /500 Zeichen/],
    [{ ...base, supplyOptionsType: 'delivery' as const, pickUpCode: 'A1' }, /Abholung/],
    [{ ...base, pickUpCode: '123456789' }, /8 Zeichen/],
    [{ ...base, kvnr: 'X123456789' }, /KVNR/],
    [{ ...base, taskId: '160.000.000.000.000.01' }, /Rezept-ID/],
  ] as const) {
    assert.throws(() => pharmacyReply(input), (e: unknown) => e instanceof ReplyInputError && message.test(e.message));
  }
});
