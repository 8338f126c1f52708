// Round trips over every gematik/KBV example in shared/fixtures/erp-examples, in both formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { listFixtures, readFixture } from '../../test/fixtures.ts';
import { parseJson, parseXml, toJson, toXml } from './codec.ts';

const xmlFiles = listFixtures('.xml');
const jsonFiles = listFixtures('.json');

// A neutral view of an XML document: element order, attribute texts (undecoded) and raw div markup.
// Comments and whitespace between elements do not count; a resource's repeated FHIR namespace does not either.
const neutral = new XMLParser({
  preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', parseTagValue: false,
  processEntities: false, stopNodes: ['..div'], ignoreDeclaration: true,
});
function xmlView(text: string): unknown {
  const strip = (nodes: Record<string, unknown>[], depth: number): void => {
    for (const node of nodes) {
      const attrs = node[':@'] as Record<string, string> | undefined;
      if (depth > 0 && attrs?.xmlns === 'http://hl7.org/fhir') {
        delete attrs.xmlns;
        if (Object.keys(attrs).length === 0) delete node[':@'];
      }
      for (const key of Object.keys(node)) {
        if (key !== ':@' && Array.isArray(node[key])) strip(node[key] as Record<string, unknown>[], depth + 1);
      }
    }
  };
  const nodes = neutral.parse(text) as Record<string, unknown>[];
  strip(nodes, 0);
  return nodes;
}

/** Number tokens outside strings, in order: what a JSON writer must keep exactly. */
function numberTokens(json: string): string[] {
  const tokens: string[] = [];
  for (const m of json.matchAll(/"[^"\\]*(?:\\.[^"\\]*)*"|(-?[0-9][0-9.eE+-]*)/g)) if (m[1]) tokens.push(m[1]);
  return tokens;
}

test('the fixture set is there and has both formats', () => {
  assert.ok(xmlFiles.length >= 40, `found ${xmlFiles.length} XML fixtures`);
  assert.ok(jsonFiles.length >= 30, `found ${jsonFiles.length} JSON fixtures`);
});

for (const file of xmlFiles) {
  test(`XML -> JSON -> XML keeps ${file}`, () => {
    const text = readFixture(file);
    const resource = parseXml(text);
    assert.equal(typeof resource.resourceType, 'string');
    const xml = toXml(resource);
    assert.deepEqual(parseXml(xml), resource);
    // Text level: every element, attribute value (decimals as written) and div markup is reproduced in order.
    assert.deepEqual(xmlView(xml), xmlView(text));
    assert.deepEqual(xmlView(toXml(resource, { pretty: true, declaration: true })), xmlView(text));
    // And through JSON text.
    const viaJson = parseJson(toJson(resource));
    assert.deepEqual(viaJson, resource);
    assert.equal(toXml(viaJson), xml);
  });
}

for (const file of jsonFiles) {
  test(`JSON -> XML -> JSON keeps ${file}`, () => {
    const text = readFixture(file);
    const resource = parseJson(text);
    assert.deepEqual(resource, JSON.parse(text), 'parseJson returns the document unchanged');
    const xml = toXml(resource);
    const back = parseXml(xml);
    assert.deepEqual(back, resource);
    assert.deepEqual(JSON.parse(toJson(back)), JSON.parse(text));
    assert.deepEqual(numberTokens(toJson(back)).sort(), numberTokens(text).sort());
  });
}
