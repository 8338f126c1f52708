// Primitives: `_name` companions (aligned for repeating elements), ids, extension-only values, JSON types,
// choice types, and decimals kept exactly as written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson, parseXml, toJson, toXml } from './codec.ts';
import { setDecimal } from './decimal.ts';
import type { Patient, Medication, Resource } from './types.ts';

const NS = 'xmlns="http://hl7.org/fhir"';
const EXT = 'http://example.org/ext';

function roundTripsBothWays(resource: Resource): void {
  assert.deepEqual(parseXml(toXml(resource)), resource);
  assert.deepEqual(parseJson(toJson(resource)), resource);
}

test('repeated primitive with an extension-only item gives aligned arrays with null', () => {
  const xml = `<Patient ${NS}><name>
      <given value="Anna"/>
      <given><extension url="${EXT}"><valueString value="only ext"/></extension></given>
      <given id="g3" value="Maria"/>
    </name></Patient>`;
  const patient = parseXml(xml) as Patient;
  assert.deepEqual(patient.name?.[0], {
    given: ['Anna', null, 'Maria'],
    _given: [null, { extension: [{ url: EXT, valueString: 'only ext' }] }, { id: 'g3' }],
  });
  assert.equal(
    toXml(patient),
    `<Patient ${NS}><name><given value="Anna"/><given><extension url="${EXT}"><valueString value="only ext"/></extension></given><given id="g3" value="Maria"/></name></Patient>`,
  );
  roundTripsBothWays(patient);
});

test('repeated primitive whose items all lack a value is written as _name alone', () => {
  const patient = parseXml(`<Patient ${NS}><name><given><extension url="${EXT}"><valueBoolean value="true"/></extension></given></name></Patient>`) as Patient;
  assert.deepEqual(patient.name?.[0], { _given: [{ extension: [{ url: EXT, valueBoolean: true }] }] });
  roundTripsBothWays(patient);
});

test('single primitive with only an extension has _name and no value', () => {
  const xml = `<Patient ${NS}><birthDate><extension url="http://hl7.org/fhir/StructureDefinition/data-absent-reason"><valueCode value="unknown"/></extension></birthDate></Patient>`;
  const patient = parseXml(xml) as Patient;
  assert.equal('birthDate' in patient, false);
  assert.deepEqual((patient as unknown as Record<string, unknown>)._birthDate, {
    extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }],
  });
  assert.equal(toXml(patient), xml);
  roundTripsBothWays(patient);
});

test('id and extension on a primitive with a value', () => {
  const xml = `<Patient ${NS}><gender id="sex" value="female"><extension url="${EXT}"><valueString value="x"/></extension></gender></Patient>`;
  const patient = parseXml(xml);
  assert.deepEqual(patient, { resourceType: 'Patient', gender: 'female', _gender: { id: 'sex', extension: [{ url: EXT, valueString: 'x' }] } });
  assert.equal(toXml(patient), xml);
});

test('integers and booleans become JSON numbers and booleans; base64Binary stays a string', () => {
  const xml = `<Bundle ${NS}><type value="searchset"/><total value="3"/><entry><resource><Binary><contentType value="application/pkcs7-mime"/><data value="RGllcyBpc3QgZWluIEJlaXNwaWVs"/></Binary></resource></entry></Bundle>`;
  const bundle = parseXml(xml);
  assert.equal((bundle as { total?: unknown }).total, 3);
  assert.equal((bundle as { entry: { resource: { data: unknown } }[] }).entry[0]!.resource.data, 'RGllcyBpc3QgZWluIEJlaXNwaWVs');
  const patient = parseXml(`<Patient ${NS}><active value="false"/><multipleBirthInteger value="-2"/></Patient>`);
  assert.deepEqual(patient, { resourceType: 'Patient', active: false, multipleBirthInteger: -2 });
  roundTripsBothWays(patient);
});

test('malformed primitive values are 400', () => {
  const cases: [string, RegExp][] = [
    [`<Patient ${NS}><active value="yes"/></Patient>`, /'active' must be true or false/],
    [`<Bundle ${NS}><total value="1.5"/></Bundle>`, /'total' must be a unsignedInt/],
    [`<Bundle ${NS}><total value="-1"/></Bundle>`, /'total' must be a unsignedInt/],
    [`<Patient ${NS}><gender value=""/></Patient>`, /Empty value of 'gender'/],
    [`<Patient ${NS}><gender/></Patient>`, /neither a value nor extensions/],
    [`<Medication ${NS}><amount><numerator><value value="1,5"/></numerator></amount></Medication>`, /'value' must be a decimal/],
    [`<Medication ${NS}><amount><numerator><value value="1e400"/></numerator></amount></Medication>`, /'value' is out of range/],
  ];
  for (const [xml, message] of cases) {
    assert.throws(() => parseXml(xml), (e: { status: number; message: string }) => e.status === 400 && message.test(e.message), xml);
  }
});

test('choice types carry the type in the name and allow only one variant', () => {
  const xml = `<Patient ${NS}><extension url="${EXT}"><valueQuantity><value value="2"/><unit value="Stk"/></valueQuantity></extension><deceasedBoolean value="false"/></Patient>`;
  const patient = parseXml(xml) as Patient;
  assert.deepEqual(patient.extension?.[0], { url: EXT, valueQuantity: { value: 2, unit: 'Stk' } });
  assert.equal(patient.deceasedBoolean, false);
  assert.equal(toXml(patient), xml);
  assert.throws(
    () => parseXml(`<Patient ${NS}><deceasedBoolean value="false"/><deceasedDateTime value="2020"/></Patient>`),
    /Only one 'deceased\[x\]'/,
  );
  assert.throws(() => parseJson(JSON.stringify({ resourceType: 'Patient', deceasedBoolean: false, deceasedDateTime: '2020' })), /Only one 'deceased\[x\]'/);
});

const DECIMALS = ['1.50', '0.0', '1e2', '1E+2', '-0', '2.500e-3', '123456789012345678901234567890', '0.10000000000000000001', '47.5', '3'];

test('decimals keep their written form: XML -> JSON object -> XML and -> JSON text', () => {
  for (const d of DECIMALS) {
    const xml = `<Medication ${NS}><amount><numerator><value value="${d}"/></numerator><denominator><value value="1"/></denominator></amount></Medication>`;
    const medication = parseXml(xml) as Medication;
    assert.equal(medication.amount?.numerator?.value, Number(d), 'the value is a JS number');
    assert.equal(toXml(medication), xml, d);
    assert.equal(toJson(medication), `{"resourceType":"Medication","amount":{"numerator":{"value":${d}},"denominator":{"value":1}}}`, d);
  }
});

test('parseJson keeps decimal tokens as written, also in arrays and nested resources', () => {
  for (const d of DECIMALS) {
    const json = `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Medication","amount":{"numerator":{"value":${d},"unit":"1.50"}}},"search":{"score":${d}}}]}`;
    const bundle = parseJson(json);
    assert.equal(toJson(bundle), json, d);
    const xml = toXml(bundle);
    assert.ok(xml.includes(`<value value="${d}"/>`) && xml.includes(`<score value="${d}"/>`), xml);
    assert.equal(toJson(parseXml(xml)), json, d);
  }
});

test('a decimal that code changed is written as the new number; setDecimal writes an exact text', () => {
  const medication = parseXml(`<Medication ${NS}><amount><numerator><value value="1.50"/></numerator></amount></Medication>`) as Medication;
  medication.amount!.numerator!.value = 2;
  assert.match(toXml(medication), /<value value="2"\/>/);
  setDecimal(medication.amount!.numerator! as Record<string, unknown>, 'value', '2.000');
  assert.match(toXml(medication), /<value value="2.000"\/>/);
  assert.match(toJson(medication), /"value":2.000/);
});

test('numbers in strings are left alone by the decimal handling', () => {
  const json = '{"resourceType":"Patient","id":"p1","name":[{"text":"a: 1.50, b"}],"multipleBirthInteger":1}';
  assert.equal(toJson(parseJson(json)), json);
});

test('JSON with the wrong type for a primitive is 400 naming the path', () => {
  const cases: [unknown, RegExp][] = [
    [{ resourceType: 'Patient', active: 'true' }, /'active' must be a boolean, not a string \(at Patient.active\)/],
    [{ resourceType: 'Bundle', total: 1.5 }, /'total' must be an integer/],
    [{ resourceType: 'Bundle', total: -1 }, /out of range/],
    [{ resourceType: 'Patient', gender: 1 }, /'gender' must be a string, not a number/],
    [{ resourceType: 'Patient', name: [{ given: ['a', 2] }] }, /at Patient.name\[0\].given\[1\]/],
    [{ resourceType: 'Patient', name: [{ given: ['a', null] }] }, /'given' must be a string, not null/],
    [{ resourceType: 'Patient', name: [{ given: ['a'], _given: [null, {}] }] }, /as many items/],
    [{ resourceType: 'Patient', _gender: 'x' }, /'_gender' must be an object/],
    [{ resourceType: 'Medication', amount: { numerator: { value: '1.5' } } }, /'value' must be a number, not a string/],
    [{ resourceType: 'Bundle', total: 1.0e1, type: 'x', entry: [] }, /'entry' must not be an empty array/],
  ];
  for (const [body, message] of cases) {
    assert.throws(
      () => parseJson(JSON.stringify(body)),
      (e: { status: number; code: string; message: string; expression?: string[] }) =>
        e.status === 400 && message.test(e.message) && e.expression!.length > 0,
      JSON.stringify(body),
    );
  }
  // A decimal where an integer belongs, written with a fraction.
  assert.throws(() => parseJson('{"resourceType":"Bundle","total":1.0}'), /'total' must be an integer, not a number written as 1.0/);
});
