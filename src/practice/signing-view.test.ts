// The signing UI's view helpers: facts of a received bundle, signature mode line, progress, durations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insured } from '../seed/identities.ts';
import { bundleFacts, durationText, needsPin, progressPercent, signatureModeText } from './signing-view.ts';
import { requestBundle } from './testing.ts';

test('bundleFacts reads coverage, PZN, dosage and quantity of a request bundle without PrescriptionID', () => {
  const facts = bundleFacts(requestBundle({ patient: insured[0] }));
  assert.equal(facts.coverage, `${insured[0].coverage!.payer} (GKV, IK ${insured[0].coverage!.ik})`);
  assert.equal(facts.pzn, '06313728');
  assert.equal(facts.dosage, '1-0-1');
  assert.equal(facts.quantity, 1);
  assert.deepEqual(bundleFacts(undefined), { coverage: '–', pzn: undefined, dosage: 'keine Dosierungsangabe', quantity: undefined, substitutionAllowed: undefined });
});

test('progressPercent counts done and failed, rounds, an empty batch is complete', () => {
  assert.equal(progressPercent({ total: 3, done: 1, failed: 0 }), 33);
  assert.equal(progressPercent({ total: 4, done: 3, failed: 1 }), 100);
  assert.equal(progressPercent({ total: 0, done: 0, failed: 0 }), 100);
});

test('durationText and signatureModeText: comfort shows remaining count and time; PIN prompt needs the PIN', () => {
  assert.equal(durationText('PT23H59M10S'), '23 h 59 min');
  assert.equal(durationText('PT45S'), '45 s');
  assert.equal(durationText('P1D'), 'P1D');
  const comfort = { mode: 'comfort' as const, pinPrompt: true, comfort: { ComfortSignatureStatus: 'ENABLED', ComfortSignatureMax: 250, ComfortSignatureTimer: 'PT24H', SessionInfo: { CountRemaining: 247, TimeRemaining: 'PT5H3M' } } };
  assert.equal(signatureModeText(comfort), 'Komfortsignatur aktiv: noch 247 Signaturen, noch 5 h 3 min');
  assert.match(signatureModeText({ ...comfort, comfort: null }), /keine aktive Sitzung/);
  assert.match(signatureModeText({ mode: 'pin', pinPrompt: true }), /eine PIN-Eingabe/);
  assert.equal(needsPin({ mode: 'pin', pinPrompt: true }), true);
  assert.equal(needsPin(comfort), false);
  assert.equal(needsPin({ mode: 'pin', pinPrompt: false }), false);
});
