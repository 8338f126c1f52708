// Hostile input: external entities, entity expansion, deep nesting, oversize bodies, processing instructions.
// Each is a FhirError 400 whose message and expression reveal no file content and no stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FhirError } from './errors.ts';
import { DEFAULT_MAX_BYTES, parseFhir, parseJson, parseXml } from './codec.ts';

const NS = 'xmlns="http://hl7.org/fhir"';

function refused(fn: () => unknown, message: RegExp): FhirError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof FhirError, `expected a FhirError, got ${String(caught)}`);
  assert.equal(caught.status, 400);
  assert.match(caught.message, message);
  const shown = caught.message + JSON.stringify(caught.expression ?? []) + (caught.diagnostics ?? '');
  assert.doesNotMatch(shown, /root:|\/bin\/|passwd|lol|\n\s+at /, 'no file content, payload or stack');
  const outcome = caught.toOperationOutcome();
  assert.equal(outcome.issue[0]!.severity, 'error');
  return caught;
}

test('external entity (XXE) is refused before anything is read', () => {
  const xxe = `<?xml version="1.0"?>\n<!DOCTYPE Patient [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<Patient ${NS}><name><text value="&e;"/></name></Patient>`;
  const e = refused(() => parseXml(xxe), /DOCTYPE and ENTITY declarations are not allowed/);
  assert.deepEqual(e.expression, ['line 2, column 1']);
});

test('billion laughs is refused', () => {
  const lol = `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">` +
    `<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><Patient ${NS}><name><text value="&lol3;"/></name></Patient>`;
  refused(() => parseXml(lol), /DOCTYPE and ENTITY declarations are not allowed/);
  // Without the declaration the reference is simply unknown.
  refused(() => parseXml(`<Patient ${NS}><name><text value="&lol3;"/></name></Patient>`), /Only the predefined XML entities/);
  refused(() => parseXml(`<Patient ${NS}><name><text value="&#0;"/></name></Patient>`), /Character reference to a character not allowed/);
});

test('1,000-deep XML is refused by the pre-scan (the parser never sees it)', () => {
  const deep = `<Patient ${NS}>` + '<extension url="x">'.repeat(1000) + '</extension>'.repeat(1000) + '</Patient>';
  const e = refused(() => parseXml(deep), /nested deeper than 100 levels/);
  assert.equal(e.code, 'invalid');
  assert.match(e.expression![0]!, /^line 1, column \d+$/);
  // Plain nesting of unknown tags too, and a tighter limit on request.
  refused(() => parseXml('<a>'.repeat(1000) + '</a>'.repeat(1000)), /nested deeper than 100 levels/);
  refused(() => parseXml(`<Patient ${NS}><name><text value="x"/></name></Patient>`, { maxDepth: 2 }), /nested deeper than 2 levels/);
  // Legitimate nesting within the limit is fine.
  const ok = `<Patient ${NS}>` + '<extension url="x">'.repeat(40) + '<valueString value="v"/>' + '</extension>'.repeat(40) + '</Patient>';
  assert.equal(parseXml(ok).resourceType, 'Patient');
});

test('1,000-deep JSON is refused', () => {
  const deep = '{"resourceType":"Patient",' + '"extension":[{"url":"x",'.repeat(1000) + '"valueString":"v"' + '}]'.repeat(1000) + '}';
  refused(() => parseJson(deep), /nested deeper than 100 levels/);
  refused(() => parseJson('{"resourceType":"Patient","name":[{"text":"x"}]}', { maxDepth: 1 }), /nested deeper than 1 levels/);
});

test('oversize bodies are refused before parsing, counting UTF-8 bytes', () => {
  const filler = 'x'.repeat(DEFAULT_MAX_BYTES);
  refused(() => parseXml(`<Patient ${NS}><name><text value="${filler}"/></name></Patient>`), /larger than \d+ bytes/);
  refused(() => parseJson(`{"resourceType":"Patient","name":[{"text":"${filler}"}]}`), /larger than \d+ bytes/);
  // 400 characters of 'ä' are 800 bytes.
  const umlauts = `{"resourceType":"Patient","name":[{"text":"${'ä'.repeat(400)}"}]}`;
  refused(() => parseJson(umlauts, { maxBytes: 500 }), /larger than 500 bytes/);
  assert.equal(parseJson(umlauts, { maxBytes: 1000 }).resourceType, 'Patient');
});

test('processing instructions other than the XML declaration are refused', () => {
  assert.equal(parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n<Patient ${NS}/>`).resourceType, 'Patient');
  refused(() => parseXml(`<?xml-stylesheet href="x.xsl"?><Patient ${NS}/>`), /Processing instructions are not allowed/);
  refused(() => parseXml(`<Patient ${NS}><?php echo 1 ?></Patient>`), /Processing instructions are not allowed/);
  refused(() => parseXml(`\n<?xml version="1.0"?><Patient ${NS}/>`), /Processing instructions are not allowed/);
});

test('only XML white space separates markup: NBSP or other Unicode spaces in a tag or around the root are 400', () => {
  assert.equal(parseXml(`<Patient\t${NS}\n><id\r\nvalue = "a" /></Patient >\n`).id, 'a');
  refused(() => parseXml(`<Patient ${NS}><id\u00a0value="a"/></Patient>`), /Malformed start tag/);
  refused(() => parseXml(`<Patient ${NS}><id value="a"\u2003/></Patient>`), /Malformed start tag/);
  refused(() => parseXml(`<Patient ${NS}><id value="a"/></Patient\u00a0>`), /Malformed end tag/);
  refused(() => parseXml(`<Patient ${NS}/>\u00a0`), /Text outside the root element/);
});

test('non-text bodies and unknown formats of junk are 400, never another exception', () => {
  refused(() => parseXml(undefined as unknown as string), /must be text/);
  refused(() => parseFhir('<<<>>>', 'xml'), /Malformed start tag/);
  refused(() => parseFhir('\u0000', 'json'), /Invalid JSON/);
  assert.equal(parseFhir('\ufeff{"resourceType":"Patient"}', 'json').resourceType, 'Patient', 'a byte order mark is fine');
  refused(() => parseFhir('{"resourceType":"Patient","name":[{"text":"\\u0000"}],"multipleBirthInteger":1.0}', 'json'), /U\+0000/);
});
