// parseCommon, the own parser for common documents, gives exactly fast-xml-parser's output, and leaves the documents
// it does not handle to fast-xml-parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listFixtures, readFixture } from '../../test/fixtures.ts';
import { parseJson, toXml } from './codec.ts';
import { parseChecked, parseCommon, parseWithLibrary, scanXml } from './xml.ts';
import { ParseError } from './parse-error.ts';

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

/** What parseChecked relies on: parseCommon answers only for documents scanXml passes, and then as fast-xml-parser. */
function agreesWithScan(text: string, maxDepth: number, label: string): 'refused' | 'own' | 'library' {
  let scanError: unknown;
  try {
    scanXml(text, maxDepth);
  } catch (err) {
    scanError = err;
  }
  let own: ReturnType<typeof parseCommon>;
  let ownError: unknown;
  try {
    own = parseCommon(text, maxDepth);
  } catch (err) {
    ownError = err; // a character reference to a forbidden character: refused while decoding, as fast-xml-parser does
  }
  if (scanError) {
    assert.equal(own, undefined, `${label}: parseCommon took a document scanXml refuses (${(scanError as Error).message})`);
    assert.throws(() => parseChecked(text, maxDepth), (err: unknown) => err instanceof ParseError, label);
    return 'refused';
  }
  if (ownError) {
    assert.ok(ownError instanceof ParseError, `${label}: ${String(ownError)}`);
    assert.throws(() => parseWithLibrary(text, maxDepth), (err: unknown) => (err as Error).message === (ownError as Error).message, label);
    return 'refused';
  }
  if (!own) return 'library';
  assert.deepStrictEqual(own, parseWithLibrary(text, maxDepth), label);
  return 'own';
}

test('parseCommon vouches for scanXml\'s rules: each broken one is refused', () => {
  const ok = '<Patient xmlns="http://hl7.org/fhir"><id value="a"/><name><family value="b"/></name></Patient>';
  assert.equal(agreesWithScan(ok, 64, 'valid'), 'own');
  const broken: [string, number][] = [
    ['<Patient xmlns="http://hl7.org/fhir"><id value="a"/></Patient><Patient/>', 64], // second root
    ['<Patient xmlns="http://hl7.org/fhir"><id value="a"/></Patient>text', 64], // text after the root
    ['text<Patient xmlns="http://hl7.org/fhir"/>', 64], // text before the root
    ['<Patient xmlns="http://hl7.org/fhir"><name><family value="b"/></given></Patient>', 64], // end tag mismatch
    ['<Patient xmlns="http://hl7.org/fhir"><id value="a" value="b"/></Patient>', 64], // repeated attribute
    ['<Patient xmlns="http://hl7.org/fhir"><id value="a<b"/></Patient>', 64], // < in a value
    ["<Patient xmlns='http://hl7.org/fhir'><id value='a<b'/></Patient>", 64],
    ['<Patient xmlns="http://hl7.org/fhir"><id value="&foo;"/></Patient>', 64], // undeclared entity
    ['<Patient xmlns="http://hl7.org/fhir"><id value="a\u0001"/></Patient>', 64], // forbidden character
    ['<Patient xmlns="http://hl7.org/fhir"><?pi x?><id value="a"/></Patient>', 64], // processing instruction
    ['\n<?xml version="1.0"?><Patient xmlns="http://hl7.org/fhir"/>', 64], // declaration not first
    ['<?xml version=1.0" encoding="UTF-8"?><Patient xmlns="http://hl7.org/fhir"/>', 64], // malformed declaration
    ['<Patient xmlns="http://hl7.org/fhir"><name><family value="b"/></name></Patient>', 2], // too deep
    ['<Patient xmlns="http://hl7.org/fhir"><id value="a"/>', 64], // not closed
    ['   ', 64], // no root
    ['<Patient xmlns="http://hl7.org/fhir"><text><div xmlns="http://www.w3.org/1999/xhtml"><p>a</b></div></text></Patient>', 64], // narrative
  ];
  for (const [text, depth] of broken) assert.equal(agreesWithScan(text, depth, JSON.stringify(text)), 'refused', JSON.stringify(text));
});

test('mutated documents: parseCommon never takes one scanXml refuses, and otherwise parses as fast-xml-parser', () => {
  // A small deterministic generator (mulberry32): the same mutations on every run.
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pieces = ['<', '>', '/', '"', "'", '=', '&', '&amp;', '&#1;', '!', '?', 'a', ':', '\u0001', '\t', ' ', '\n', ';', '#',
    '<x>', '</x>', '<x/>', ' v="1"', '<?xml version="1.0"?>', '<div>', '</div>'];
  const bases = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<Patient xmlns="http://hl7.org/fhir"><id value="a"/><name><family value="O&apos;Neil"/><given value="b"/></name></Patient>',
    '<Bundle xmlns="http://hl7.org/fhir"><entry><resource><Patient><id value="p"/><text><div xmlns="http://www.w3.org/1999/xhtml"><p>x</p></div></text></Patient></resource></entry></Bundle>',
    toXml(parseJson(readFixture(listFixtures('.json').find((f) => /Bundle/i.test(f))!))).slice(0, 4000),
  ];
  const counts = { refused: 0, own: 0, library: 0 };
  for (let i = 0; i < 3000; i++) {
    let text = bases[i % bases.length]!;
    for (let k = 1 + Math.floor(random() * 3); k > 0; k--) {
      const at = Math.floor(random() * (text.length + 1));
      const kind = random();
      if (kind < 0.4) text = text.slice(0, at) + pieces[Math.floor(random() * pieces.length)] + text.slice(at);
      else if (kind < 0.7) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(random() * 4));
      else text = text.slice(0, at) + pieces[Math.floor(random() * pieces.length)] + text.slice(at + 1);
    }
    counts[agreesWithScan(text, random() < 0.2 ? 4 : 64, `mutation ${i}: ${JSON.stringify(text.slice(0, 200))}`)]++;
  }
  // the mutations reach both sides of the rules
  assert.ok(counts.refused > 300 && counts.own > 300, JSON.stringify(counts));
});
