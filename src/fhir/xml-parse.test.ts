// parseOrdered's own parser for common documents gives exactly fast-xml-parser's output, and leaves the documents
// it does not handle to fast-xml-parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listFixtures, readFixture } from '../../test/fixtures.ts';
import { parseJson, toXml } from './codec.ts';
import { parseCommon, parseWithLibrary, scanXml } from './xml.ts';

const MAX_DEPTH = 64;

function sameAsLibrary(text: string, label: string): void {
  scanXml(text, MAX_DEPTH);
  const own = parseCommon(text);
  assert.ok(own, `${label}: expected the own parser to take it`);
  assert.deepStrictEqual(own, parseWithLibrary(text, MAX_DEPTH), label);
}

test('every XML fixture without comments or CDATA parses as with fast-xml-parser', () => {
  let taken = 0;
  for (const file of listFixtures('.xml')) {
    const text = readFixture(file);
    scanXml(text, MAX_DEPTH);
    const own = parseCommon(text);
    if (!own) {
      assert.ok(/<!|\r/.test(text), `${file}: refused without a reason`);
      // the same document without its comments and carriage returns
      const plain = text.replace(/<!--[\s\S]*?-->/g, '').replace(/\r\n?/g, '\n');
      if (!plain.includes('<!')) sameAsLibrary(plain, `${file} without comments`);
      continue;
    }
    taken++;
    assert.deepStrictEqual(own, parseWithLibrary(text, MAX_DEPTH), file);
  }
  assert.ok(taken >= 10, `only ${taken} fixtures took the own parser`);
});

test('documents written by the codec (the JSON fixtures as XML) parse as with fast-xml-parser', () => {
  for (const file of listFixtures('.json')) {
    let resource;
    try {
      resource = parseJson(readFixture(file));
    } catch {
      continue; // the invalid examples
    }
    sameAsLibrary(toXml(resource), file);
  }
});

test('entities, whitespace, quotes, narrative and text nodes match fast-xml-parser', () => {
  const cases = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<Patient xmlns="http://hl7.org/fhir"><id value="a"/></Patient>',
    '\uFEFF<Patient xmlns="http://hl7.org/fhir"><id value="a"/></Patient>',
    '<Patient xmlns="http://hl7.org/fhir">\n  <id value=" &#32;x&amp;y&lt;&#x263A; "/>\n\t<name><family value=\'O&apos;Neil\'/></name>\n</Patient>',
    '<Patient xmlns="http://hl7.org/fhir"><id value="a\nb\tc"   /><active\tvalue = "true" /></Patient>',
    '<Patient xmlns="http://hl7.org/fhir"><text><status value="generated"/><div xmlns="http://www.w3.org/1999/xhtml"><p>a &amp; <b>b</b></p><div><div/>x</div></div></text></Patient>',
    '<Patient xmlns="http://hl7.org/fhir"><text><div xmlns="http://www.w3.org/1999/xhtml"/></text></Patient>',
    '<Patient xmlns="http://hl7.org/fhir"><text><div xmlns="http://www.w3.org/1999/xhtml" >  padded  </div ></text></Patient>',
    '<Patient xmlns="http://hl7.org/fhir">stray &amp; text<id value="a"/> more text <x:y xmlns:x="urn:x" x:a="1">t</x:y></Patient   >',
    '<Patient xmlns="http://hl7.org/fhir" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="a b"><id value=""/></Patient>',
    '<Bundle xmlns="http://hl7.org/fhir"><entry><resource><Patient><id value="p"/></Patient></resource></entry></Bundle>',
    '<Patient\n\txmlns = \'http://hl7.org/fhir\'\n><id\tvalue\n=\n"a"\t/><active value="a > b"\n/></Patient>',
  ];
  for (const text of cases) sameAsLibrary(text, JSON.stringify(text));
});

test('comments, CDATA, carriage returns and reserved names are left to fast-xml-parser', () => {
  for (const text of [
    '<Patient xmlns="http://hl7.org/fhir"><!-- c --><id value="a"/></Patient>',
    '<Patient xmlns="http://hl7.org/fhir"><id value="a"/><![CDATA[x]]></Patient>',
    '<Patient xmlns="http://hl7.org/fhir">\r\n<id value="a"/></Patient>',
    '<Patient xmlns="http://hl7.org/fhir"><constructor value="a"/></Patient>',
    '<Patient xmlns="http://hl7.org/fhir"><id toString="a"/></Patient>',
  ]) {
    scanXml(text, MAX_DEPTH);
    assert.equal(parseCommon(text), undefined, JSON.stringify(text));
  }
});

test('a document with thousands of distinct element names parses as with fast-xml-parser', () => {
  // More names than parseCommon keeps node factories for: the rest take the computed-key path.
  const names = Array.from({ length: 2500 }, (_, i) => `n${i}.x-y:z_${i}`);
  const xml = `<Root xmlns="urn:x">${names.map((n, i) => `<${n} value="${i}"/>`).join('')}</Root>`;
  sameAsLibrary(xml, 'many names');
});
