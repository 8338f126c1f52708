import { test } from 'node:test';
import assert from 'node:assert/strict';
import { distanceKm, foldText, parseNear, parseToken } from './fhir-search.ts';
import { FhirError } from '../fhir/errors.ts';

test('foldText ignores case, diacritics, ß and German transliteration', () => {
  assert.equal(foldText('Müller'), foldText('muller'));
  assert.equal(foldText('Müller'), foldText('Mueller'));
  assert.equal(foldText('Friedrichstraße'), foldText('friedrichstrasse'));
  assert.equal(foldText('Dom-Apotheke Köln'), 'dom apotheke koln');
  assert.notEqual(foldText('Linden'), foldText('Lindau'));
});

test('parseToken reads code, system|code and the urn:oid forms', () => {
  assert.deepEqual(parseToken('1.2.276.0.76.4.54'), { system: undefined, code: '1.2.276.0.76.4.54' });
  assert.deepEqual(parseToken('urn:oid:1.2.276.0.76.4.54'), { system: undefined, code: '1.2.276.0.76.4.54' });
  assert.deepEqual(parseToken('urn:oid|1.2.276.0.76.4.54'), { system: undefined, code: '1.2.276.0.76.4.54' });
  assert.deepEqual(parseToken('https://gematik.de/fhir/sid/telematik-id|3-1'), { system: 'https://gematik.de/fhir/sid/telematik-id', code: '3-1' });
  assert.deepEqual(parseToken('|x'), { system: '', code: 'x' });
});

test('near: lat|long|distance|unit, and a plausible distance', () => {
  assert.deepEqual(parseNear('52.5|13.4|2|km'), { latitude: 52.5, longitude: 13.4, km: 2 });
  assert.deepEqual(parseNear('52.5|13.4|500|m'), { latitude: 52.5, longitude: 13.4, km: 0.5 });
  assert.throws(() => parseNear('95|13'), FhirError);
  const berlinHamburg = distanceKm({ latitude: 52.52, longitude: 13.405 }, { latitude: 53.551, longitude: 9.993 });
  assert.ok(berlinHamburg > 250 && berlinHamburg < 260, String(berlinHamburg));
});
