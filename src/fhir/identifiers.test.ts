import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatPrescriptionId, isToken, isValidBsnr, isValidKvnr, isValidLanr, isValidPrescriptionId, isValidPzn,
  isValidTelematikId, kvnrWithCheckDigit, lanrWithCheckDigit, parsePrescriptionId, randomToken, secretsEqual,
} from './identifiers.ts';

test('PrescriptionID: ISO 7064 MOD 97-10 check digits per flowtype', () => {
  // Worked example of the gematik digest and the first id of flowtype 160.
  assert.equal(formatPrescriptionId(160, 6933680), '160.000.006.933.680.85');
  assert.equal(formatPrescriptionId('160', 1), '160.000.000.000.001.54');
  for (const valid of ['160.100.000.000.006.24', '160.100.000.000.023.70', '160.000.764.737.300.50', '200.424.187.927.272.20', '160.123.456.789.123.58', '169.000.004.839.514.95']) {
    assert.ok(isValidPrescriptionId(valid), valid);
  }
  // API placeholders and the KBV PKV sample fail their check digits (fixture README).
  for (const invalid of ['160.000.000.000.000.01', '162.000.000.000.000.01', '200.000.000.000.000.01', '160.100.000.000.007.22']) {
    assert.equal(isValidPrescriptionId(invalid), false, invalid);
  }
  for (const malformed of ['160.000.000.000.001.5', '160000000000000154', '160.000.000.000.001.54 ', 'abc.000.000.000.001.54', '']) {
    assert.equal(parsePrescriptionId(malformed), undefined, malformed);
  }
  assert.deepEqual(parsePrescriptionId('209.000.000.000.042.' + formatPrescriptionId(209, 42).slice(-2)), { flowType: '209', sequence: 42n });
  for (const flow of [160, 162, 166, 169, 200, 209]) {
    for (const seq of [0, 1, 99, 123456789, 999999999999]) assert.ok(isValidPrescriptionId(formatPrescriptionId(flow, seq)));
  }
  assert.throws(() => formatPrescriptionId(160, 10n ** 12n), RangeError);
  assert.throws(() => formatPrescriptionId(160, -1), RangeError);
});

test('KVNR: letter, 8 digits, mod-10 check digit with alternating weights', () => {
  for (const valid of ['X110614233', 'A123456780', 'X110498565', 'K220745670']) assert.ok(isValidKvnr(valid), valid);
  for (const invalid of ['X123456789', 'X110614234', 'x110614233', '1X11043327', 'X11061423', 'X1106142333', 'XX10614233', '']) {
    assert.equal(isValidKvnr(invalid), false, invalid);
  }
  assert.equal(kvnrWithCheckDigit('X11061423'), 'X110614233');
  assert.throws(() => kvnrWithCheckDigit('11061423'), RangeError);
});

test('LANR/ZANR: 9 digits, digit 7 checks digits 1-6 with weights 4,9; pseudo-LANR 555555 passes', () => {
  assert.ok(isValidLanr('864683589'));
  assert.ok(isValidLanr('838382202'));
  assert.ok(isValidLanr('555555001'));
  assert.equal(isValidLanr('864683489'), false);
  assert.equal(isValidLanr('987G54423'), false);
  assert.equal(isValidLanr('12345678'), false);
  assert.equal(lanrWithCheckDigit('864683', '89'), '864683589');
});

test('PZN: 8 digits, digit 8 = digits 1-7 weighted 1..7 modulo 11; remainder 10 never valid', () => {
  for (const pzn of ['19205615', '00814665', '06313728']) assert.ok(isValidPzn(pzn), pzn);
  assert.equal(isValidPzn('19205614'), false);
  assert.equal(isValidPzn('00002000'), false, 'remainder 10');
  assert.equal(isValidPzn('1920561'), false);
  assert.equal(isValidPzn('1920561A'), false);
});

test('BSNR: 9 digits', () => {
  assert.ok(isValidBsnr('031234567'));
  assert.equal(isValidBsnr('03123456'), false);
  assert.equal(isValidBsnr('03123456a'), false);
});

test('Telematik-ID: sector prefix, dash, at most 128 characters', () => {
  for (const valid of ['1-2031234567', '3-11.2.1000001.16.101', '3-SMC-B-Testkarte-883110000123456', '1-HBA-Testkarte-883110000163974', '10-67.23.1234']) {
    assert.ok(isValidTelematikId(valid), valid);
  }
  for (const invalid of ['', '3', '-abc', 'abc-def', '3-', '3-has space', `3-${'x'.repeat(127)}`]) {
    assert.equal(isValidTelematikId(invalid), false, invalid);
  }
});

test('AccessCode/Secret: 256 random bits as 64 lower-case hex, compared in constant time', () => {
  const a = randomToken();
  const b = randomToken();
  assert.ok(isToken(a) && isToken(b));
  assert.notEqual(a, b);
  assert.equal(isToken(a.toUpperCase()), false);
  assert.equal(isToken(a.slice(1)), false);
  assert.ok(secretsEqual(a, a.slice()));
  assert.equal(secretsEqual(a, b), false);
  assert.equal(secretsEqual(a, a.slice(1)), false);
  assert.equal(secretsEqual(undefined, a), false);
});
