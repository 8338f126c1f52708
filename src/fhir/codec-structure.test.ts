// Structure: nested resources, narrative xhtml, element order, the RED interchange form, namespaces,
// unknown elements and properties, format dispatch, and an XML/JSON pair of the same resource.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FhirError } from './errors.ts';
import { parseFhir, parseJson, parseXml, serializeFhir, toJson, toXml } from './codec.ts';
import type { Bundle, Parameters, Patient, Task } from './types.ts';

const NS = 'xmlns="http://hl7.org/fhir"';
const DIV = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Rezept für <b>Anna</b> &amp; Co &lt;3</p><div>innen</div></div>';

function rejects(fn: () => unknown, message: RegExp, expression?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FhirError, `a FhirError, got ${String(e)}`);
    assert.equal(e.status, 400);
    assert.match(e.message, message);
    assert.ok(e.code === 'structure' || e.code === 'invalid', e.code);
    if (expression) assert.ok(e.expression?.some((x) => expression.test(x)), `expression ${JSON.stringify(e.expression)}`);
    return true;
  });
}

test('xhtml narrative is kept as markup string in text.div, entities and nested divs included', () => {
  const xml = `<Patient ${NS}><text><status value="generated"/>${DIV}</text><active value="true"/></Patient>`;
  const patient = parseXml(xml) as Patient;
  assert.deepEqual(patient.text, { status: 'generated', div: DIV });
  assert.equal(toXml(patient), xml);
  assert.equal(toXml(parseJson(toJson(patient))), xml);
});

test('xhtml div must be in the xhtml namespace and well-formed', () => {
  rejects(() => parseXml(`<Patient ${NS}><text><status value="generated"/><div><p>x</p></div></text></Patient>`), /namespace http:\/\/www.w3.org\/1999\/xhtml/);
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: '<div><p>x</p></div>' } })), /must declare xmlns/);
  rejects(
    () => parseJson(JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>x</div>' } })),
    /'div' is not well-formed xhtml/,
  );
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: 'plain text' } })), /must be xhtml markup/);
});

test('contained resources keep their resourceType and are written with their own element', () => {
  const xml = `<MedicationRequest ${NS}><id value="mr"/><contained><Medication ${NS}><id value="med1"/><code><text value="Ibu"/></code></Medication></contained>` +
    `<status value="active"/><intent value="order"/><medicationReference><reference value="#med1"/></medicationReference><subject><reference value="Patient/p"/></subject></MedicationRequest>`;
  const request = parseXml(xml);
  assert.deepEqual((request as { contained: unknown[] }).contained, [{ resourceType: 'Medication', id: 'med1', code: { text: 'Ibu' } }]);
  assert.equal(toXml(request), xml);
  assert.deepEqual(parseJson(toJson(request)), request);
});

test('Bundle.entry.resource and Parameters.parameter.resource / part nest resources', () => {
  const parameters = parseXml(`<Parameters ${NS}><parameter><name value="rxDispensation"/><part><name value="medicationDispense"/><resource><MedicationDispense ${NS}><status value="completed"/></MedicationDispense></resource></part></parameter></Parameters>`) as Parameters;
  assert.deepEqual(parameters.parameter?.[0]?.part?.[0]?.resource, { resourceType: 'MedicationDispense', status: 'completed' });
  const bundle = parseXml(`<Bundle ${NS}><type value="collection"/><entry><fullUrl value="urn:uuid:1"/><resource><Task ${NS}><status value="ready"/><intent value="order"/></Task></resource></entry></Bundle>`) as Bundle;
  assert.deepEqual(bundle.entry?.[0], { fullUrl: 'urn:uuid:1', resource: { resourceType: 'Task', status: 'ready', intent: 'order' } });
  rejects(() => parseXml(`<Bundle ${NS}><entry><resource><Task ${NS}/><Task ${NS}/></resource></entry></Bundle>`), /exactly one resource/);
  rejects(() => parseXml(`<Bundle ${NS}><entry><resource/></entry></Bundle>`), /exactly one resource/);
});

test('reads the RED interchange form <entry><Task>…</Task></entry> without namespace (seed 000)', () => {
  const seed = readFileSync(new URL('../../../shared/seeds/', import.meta.url).pathname + '000_162e874616f260d7.txt', 'utf8');
  const xml = seed.slice(seed.indexOf('<Bundle>'), seed.indexOf('</Bundle>') + '</Bundle>'.length);
  const bundle = parseXml(xml) as Bundle;
  assert.equal(bundle.type, 'searchset');
  assert.equal(bundle.entry?.length, 2);
  const task = bundle.entry![0]!.resource as Task;
  assert.equal(task.resourceType, 'Task');
  assert.equal(task.id, 'ooKRR2vOFy2nGKX2l_5qFejS0kAei6Gt');
  assert.deepEqual(task.identifier?.map((i) => i.value), ['160.000.248.525.571.70', '80d27ec4f6e1ab209312ee7e5aa0b087755da71b7f56e06457aa07ad1172b6e0']);
  assert.equal(task.status, 'in-progress');
  // Written back in standard FHIR form, which reads back the same.
  const standard = toXml(bundle);
  assert.match(standard, /<entry><resource><Task xmlns="http:\/\/hl7.org\/fhir"><id value="ooKRR2vOFy2nGKX2l_5qFejS0kAei6Gt"\/>/);
  assert.deepEqual(parseXml(standard), bundle);
  // Only Bundle.entry has that shortcut.
  rejects(() => parseXml(`<Parameters><parameter><Task/></parameter></Parameters>`), /Unknown element 'Task'/);
});

test('output follows definition order whatever the JSON property order', () => {
  const task = { intent: 'order', status: 'ready', extension: [{ valueString: 'v', url: 'http://x' }], meta: { profile: ['p'] }, id: 't1', resourceType: 'Task' } as unknown as Task;
  assert.equal(
    toXml(task),
    `<Task ${NS}><id value="t1"/><meta><profile value="p"/></meta><extension url="http://x"><valueString value="v"/></extension><status value="ready"/><intent value="order"/></Task>`,
  );
  assert.equal(toXml(task, { pretty: true, declaration: true }).split('\n').slice(0, 4).join('\n'),
    `<?xml version="1.0" encoding="UTF-8"?>\n<Task ${NS}>\n  <id value="t1"/>\n  <meta>`);
});

test('strings are escaped in XML and survive a round trip', () => {
  const patient = { resourceType: 'Patient', id: 'p', name: [{ text: 'A & B <c> "d" \'e\'\nzweite Zeile\tTab äöü €' }] } as const;
  const xml = toXml(patient as never);
  assert.match(xml, /value="A &amp; B &lt;c&gt; &quot;d&quot; 'e'&#10;zweite Zeile&#9;Tab äöü €"/);
  assert.deepEqual(parseXml(xml), patient);
  assert.deepEqual(parseXml(`<Patient ${NS}><name><text value="&#65;&#x42;&apos;"/></name></Patient>`), { resourceType: 'Patient', name: [{ text: "AB'" }] });
  // Whitespace at the ends is written as references: XML readers trim literal whitespace from values.
  const padded = { resourceType: 'Patient', name: [{ text: ' \u00a0two  spaces inside, one outside ', given: ['\tTab'] }] } as const;
  const paddedXml = toXml(padded as never);
  assert.match(paddedXml, /<text value="&#32;&#160;two  spaces inside, one outside&#32;"\/>/);
  assert.deepEqual(parseXml(paddedXml), padded);
  // Literal whitespace around an XML value is trimmed, as FHIR recommends for XML.
  assert.deepEqual(parseXml(`<Patient ${NS}><name><text value="  x "/></name></Patient>`), { resourceType: 'Patient', name: [{ text: 'x' }] });
});

test('unknown element is 400 naming the element, its FHIRPath, line and column', () => {
  const xml = `<Bundle ${NS}>\n  <type value="collection"/>\n  <entry>\n    <resource>\n      <Task ${NS}>\n        <status value="ready"/>\n        <bogus value="x"/>\n      </Task>\n    </resource>\n  </entry>\n</Bundle>`;
  rejects(() => parseXml(xml), /Unknown element 'bogus' \(at Bundle.entry\[0\].resource.ofType\(Task\).bogus\)/, /^line 7, column 9$/);
  rejects(() => parseXml(`<Patient ${NS}><name><given value="a"/><nickname value="b"/></name></Patient>`), /Unknown element 'nickname'/, /^Patient.name\[0\].nickname$/);
  rejects(() => parseXml(`<Patient ${NS}><id value="a" foo="b"/></Patient>`), /Unknown attribute 'foo'/);
  rejects(() => parseXml(`<Patient ${NS}><active value="true">text</active></Patient>`), /Unexpected text content/);
  rejects(() => parseXml(`<Patient ${NS}><active value="true"/><active value="false"/></Patient>`), /'active' appears more than once/);
  rejects(() => parseXml(`<Patient ${NS}><name><id value="x"/></name></Patient>`), /'id' must be an XML attribute/);
  rejects(() => parseXml(`<Unicorn ${NS}/>`), /Unknown or unsupported resource type 'Unicorn'/);
});

test('unknown JSON property is 400 naming it and its FHIRPath; arrays vs single values are checked', () => {
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Task', status: 'ready', input: [{ type: { text: 'x' }, valueString: 'v', bogus: 1 }] })), /Unknown property 'bogus' \(at Task.input\[0\].bogus\)/, /^Task.input\[0\].bogus$/);
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Task', identifier: { value: 'x' } })), /'identifier' must be an array, not an object/);
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Task', status: ['ready'] })), /'status' must not be an array/);
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Task', for: 'Patient/1' })), /'for' must be an object, not a string/);
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Bundle', entry: [{ resource: { id: 'x' } }] })), /Missing 'resourceType' \(at Bundle.entry\[0\].resource\)/);
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Bundle', entry: [{ response: { status: '200', outcome: { resourceType: 'Task' } } }] })), /Expected a OperationOutcome, not a Task/);
  rejects(() => parseJson('[1]'), /must be a JSON object, not an array/);
  rejects(() => parseJson(JSON.stringify({ resourceType: 'Unicorn' })), /Unknown or unsupported resourceType 'Unicorn'/);
  rejects(() => parseJson('{"resourceType":"Task","__proto__":{"x":1}}'), /Unknown property '__proto__'/);
});

test('invalid JSON is 400 with line and column and without quoting the input', () => {
  rejects(() => parseJson('{\n  "resourceType": "Task",\n  "status": tru\n}'), /^Invalid JSON$/, /^line 3, column 13$/);
  rejects(() => parseJson('{"resourceType":"Task"'), /^Invalid JSON$/, /^line 1, column 23$/);
  rejects(() => parseJson(''), /^Invalid JSON$/);
});

test('namespace: FHIR namespace or none on the root; anything else is 400', () => {
  assert.deepEqual(parseXml('<Patient><active value="true"/></Patient>'), { resourceType: 'Patient', active: true });
  const withSchema = `<Patient ${NS} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://hl7.org/fhir ../../schema/patient.xsd"><active value="true"/></Patient>`;
  assert.deepEqual(parseXml(withSchema), { resourceType: 'Patient', active: true });
  rejects(() => parseXml('<Patient xmlns="urn:other"><active value="true"/></Patient>'), /must be in the namespace http:\/\/hl7.org\/fhir/);
  rejects(() => parseXml(`<Patient ${NS}><active xmlns="urn:other" value="true"/></Patient>`), /must be in the namespace/);
  rejects(() => parseXml(`<f:Patient xmlns:f="http://hl7.org/fhir"/>`), /Unknown or unsupported resource type 'f:Patient'/);
});

test('malformed XML is 400 with line and column', () => {
  rejects(() => parseXml(`<Patient ${NS}>\n<active value="true">\n</Patient>`), /End tag <\/Patient> does not match <active>/, /^line 3, column 1$/);
  rejects(() => parseXml(`<Patient ${NS}><active value=true/></Patient>`), /Malformed start tag/, /^line 1, column 38$/);
  rejects(() => parseXml(`<Patient ${NS}>`), /Element <Patient> is not closed/);
  rejects(() => parseXml(`<Patient ${NS}/><Patient ${NS}/>`), /More than one root element/);
  rejects(() => parseXml(`text<Patient ${NS}/>`), /Text outside the root element/);
  rejects(() => parseXml(''), /No root element/);
  rejects(() => parseXml(`<Patient ${NS}><active value="true" value="false"/></Patient>`), /Attribute 'value' appears more than once/);
  rejects(() => parseXml(`<Patient ${NS}><active value="a\u0001"/></Patient>`), /Character not allowed/);
});

test('the same Task in XML and JSON parses to the same object and serialises to each other', () => {
  const xml = `<Task ${NS}><id value="160.000.000.000.000.01"/><meta><profile value="https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Task|1.4"/></meta>` +
    `<extension url="https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_PrescriptionType"><valueCoding><system value="https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType"/><code value="160"/></valueCoding></extension>` +
    `<identifier><use value="official"/><system value="https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_PrescriptionId"/><value value="160.000.000.000.000.01"/></identifier>` +
    `<status value="ready"/><intent value="order"/><for><identifier><system value="http://fhir.de/sid/gkv/kvid-10"/><value value="X110614233"/></identifier></for>` +
    `<authoredOn value="2025-01-15T10:00:00.000+00:00"/><performerType><coding><system value="urn:ietf:rfc:3986"/><code value="urn:oid:1.2.276.0.76.4.54"/></coding></performerType>` +
    `<input><type><coding><system value="https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_DocumentType"/><code value="1"/></coding></type><valueReference><reference value="281a985c"/></valueReference></input></Task>`;
  const json = JSON.stringify({
    resourceType: 'Task', id: '160.000.000.000.000.01',
    meta: { profile: ['https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Task|1.4'] },
    extension: [{ url: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_PrescriptionType', valueCoding: { system: 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType', code: '160' } }],
    identifier: [{ use: 'official', system: 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_PrescriptionId', value: '160.000.000.000.000.01' }],
    status: 'ready', intent: 'order', for: { identifier: { system: 'http://fhir.de/sid/gkv/kvid-10', value: 'X110614233' } },
    authoredOn: '2025-01-15T10:00:00.000+00:00',
    performerType: [{ coding: [{ system: 'urn:ietf:rfc:3986', code: 'urn:oid:1.2.276.0.76.4.54' }] }],
    input: [{ type: { coding: [{ system: 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_DocumentType', code: '1' }] }, valueReference: { reference: '281a985c' } }],
  });
  assert.deepEqual(parseFhir(xml, 'xml'), parseFhir(json, 'json'));
  assert.equal(serializeFhir(parseFhir(json, 'json'), 'xml'), xml);
  assert.equal(serializeFhir(parseFhir(xml, 'xml'), 'json'), json);
});

test('serialising a resource that does not fit the definitions is a 500 naming the property', () => {
  assert.throws(() => toXml({ resourceType: 'Task', status: 'ready', bogus: 1 } as never), (e: unknown) =>
    e instanceof FhirError && e.status === 500 && /Unknown property 'bogus' \(at Task\)/.test(e.message));
  assert.throws(() => toXml({ resourceType: 'Task', status: 5 } as never), (e: unknown) =>
    e instanceof FhirError && e.status === 500 && /'status' must be a string/.test(e.message));
  assert.throws(() => toXml({ resourceType: 'Nope' } as never), (e: unknown) => e instanceof FhirError && e.status === 500);
});
