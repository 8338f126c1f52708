// The gematik/KBV example bundles (shared/fixtures/erp-examples/kbv-bundle) through the real XML codec.
// Example identifiers that fail their check digits (see the fixtures README) are replaced where a test is about another rule.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatPrescriptionId, kvnrWithCheckDigit } from '../identifiers.ts';
import type { Bundle, Patient, Resource } from '../types.ts';
import { computeTaskDates } from './dates.ts';
import { validatePrescriptionBundle, type ValidationContext } from './prescription-bundle.ts';
import { checkReferences, EntryResolver, indexEntries } from './references.ts';
import { assertRefused, resourceOf } from './test-support.ts';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/erp-examples/kbv-bundle/', import.meta.url));
const CODEC = fileURLToPath(new URL('../codec.ts', import.meta.url));
// The codec is written in parallel; until it lands these tests report as skipped instead of failing to import.
const codec: { parseXml(text: string): Resource } | undefined = existsSync(CODEC) ? await import(CODEC) : undefined;
const skip = codec ? false : 'src/fhir/codec.ts not there yet';

const load = <R extends Resource = Bundle>(path: string) => codec!.parseXml(readFileSync(FIXTURES + path, 'utf8')) as R;
const noon = (day: string) => new Date(`${day}T11:00:00Z`);

function setKvnr(bundle: Bundle, kvnr: string): void {
  resourceOf<Patient>(bundle, 'Patient').identifier!.find((i) => i.system === 'http://fhir.de/sid/gkv/kvid-10')!.value = kvnr;
}

interface ValidCase {
  file: string;
  flowType: string;
  now: string;
  fix?: (b: Bundle) => void;
  expect: { kvnr: string; authoredOn: string; kind: string; pzn?: string; lanr?: string; display?: RegExp };
}

const valid: ValidCase[] = [
  { file: 'valid/kbv-1.3.2_Beispiel_1_PZN.xml', flowType: '160', now: '2025-10-01', expect: { kvnr: 'K220635158', authoredOn: '2024-05-20', kind: 'PZN', pzn: '00814665', lanr: '123456628', display: /Januvia/ } },
  { file: 'valid/kbv-1.3.2_Beispiel_16_Wirkstoffverordnung.xml', flowType: '160', now: '2026-11-23', expect: { kvnr: 'K220645122', authoredOn: '2024-05-20', kind: 'Ingredient', lanr: '987654423', display: /Ibuprofen 600 mg/ } },
  { file: 'valid/kbv-1.3.2_Beispiel_21_1_MVO.xml', flowType: '160', now: '2026-11-23', expect: { kvnr: 'K220635158', authoredOn: '2024-04-01', kind: 'Ingredient', lanr: '754236701', display: /Simvastatin/ } },
  { file: 'valid/kbv-1.3.2_Beispiel_22_Freitext.xml', flowType: '160', now: '2026-11-23', expect: { kvnr: 'S040464113', authoredOn: '2024-05-20', kind: 'FreeText', lanr: '987654423', display: /^Metformin 850mg Tabletten N3$/ } },
  { file: 'valid/kbv-1.3.2_Beispiel_23_Rezeptur.xml', flowType: '160', now: '2026-11-23', expect: { kvnr: 'K220645122', authoredOn: '2024-05-20', kind: 'Compounding', lanr: '123412821', display: /Salicylsäure/ } },
  {
    // PrescriptionID check digits and KVNR check digit are wrong in the example, and a PKV coverage needs flowtype 200.
    file: 'valid/kbv-1.3.2_Beispiel_3_PKV.xml', flowType: '200', now: '2026-11-23',
    fix: (b) => { b.identifier!.value = formatPrescriptionId('200', 7); setKvnr(b, kvnrWithCheckDigit('P12346411')); },
    expect: { kvnr: kvnrWithCheckDigit('P12346411'), authoredOn: '2024-05-20', kind: 'PZN', display: /./ },
  },
  { file: 'valid/e2e-2025-10-01_GKV_PZN_Nr1_VerordnungArzt.xml', flowType: '160', now: '2025-10-30', expect: { kvnr: 'X234567891', authoredOn: '2025-10-30', kind: 'PZN', lanr: '838382202' } },
  { file: 'valid/e2e-2025-10-01_PKV_PZN_Nr1_VerordnungArzt.xml', flowType: '200', now: '2025-11-03', expect: { kvnr: 'P123464117', authoredOn: '2025-11-03', kind: 'PZN', lanr: '987654423' } },
  {
    // KBV 1.1.0 as accepted in January 2025; doc placeholder PrescriptionID and KVNR fail their check digits.
    file: 'valid/api-2025-01-15_02_Prescription_Bundle.xml', flowType: '160', now: '2025-01-15',
    fix: (b) => { b.identifier!.value = formatPrescriptionId('160', 1); setKvnr(b, 'X234567891'); },
    expect: { kvnr: 'X234567891', authoredOn: '2025-01-15', kind: 'Ingredient', lanr: '838382210' },
  },
];

describe('valid fixtures pass', { skip }, () => {
  for (const c of valid) {
    it(c.file, () => {
      const bundle = load(c.file);
      c.fix?.(bundle);
      const context: ValidationContext = { flowType: c.flowType, now: noon(c.now), taskPrescriptionId: bundle.identifier?.value, signingTime: noon(c.expect.authoredOn) };
      const { facts, warnings } = validatePrescriptionBundle(bundle, context);
      assert.deepEqual(warnings, []);
      assert.equal(facts.patient.kvnr, c.expect.kvnr);
      assert.equal(facts.authoredOn, c.expect.authoredOn);
      assert.equal(facts.medication.kind, c.expect.kind);
      assert.equal(facts.medication.category, '00');
      if (c.expect.pzn) assert.equal(facts.medication.pzn, c.expect.pzn);
      if (c.expect.lanr) assert.equal(facts.practitioner?.lanr, c.expect.lanr);
      if (c.expect.display) assert.match(facts.medication.display, c.expect.display);
      assert.equal(facts.prescriptionId.slice(0, 3), c.flowType);
    });
  }
  it('MVO example: facts and task dates', () => {
    const bundle = load('valid/kbv-1.3.2_Beispiel_21_1_MVO.xml');
    const { facts } = validatePrescriptionBundle(bundle, { flowType: '160', now: noon('2026-11-23') });
    assert.deepEqual(facts.medicationRequest.multiplePrescription, { numerator: 1, denominator: 2, start: '2024-04-01', end: undefined, id: 'urn:uuid:24e2e10d-e962-4d1c-be4f-8760e690a5f0' });
    assert.deepEqual(computeTaskDates('160', noon('2024-04-01'), facts), { acceptDate: '2025-04-01', expiryDate: '2025-04-01' });
  });
  it('PKV example as flowtype 160 is refused for its coverage', () => {
    const bundle = load('valid/kbv-1.3.2_Beispiel_3_PKV.xml');
    bundle.identifier!.value = formatPrescriptionId('160', 7);
    setKvnr(bundle, kvnrWithCheckDigit('P12346411'));
    assertRefused(() => validatePrescriptionBundle(bundle, { flowType: '160', now: noon('2026-11-23') }), /Coverage "PKV" not allowed for flowtype 160/);
  });
  it('example IDs with wrong check digits are refused as such', () => {
    assertRefused(() => validatePrescriptionBundle(load('valid/kbv-1.3.2_Beispiel_3_PKV.xml'), { flowType: '160', now: noon('2026-11-23') }), /PrescriptionID 160.100.000.000.007.22/);
  });
  // valid/api-2025-01-15_evdga_bundle_flowtype162.xml (DiGA, 162): evdga-bundle.test.ts
});

// Negative examples 2023-07-01 (KBV 1.1.0): validated on a day 1.1 was accepted, so the specific rule fires;
// today they are refused for the profile version first.
const negative: [string, RegExp][] = [
  ['neg-18_ucum_system_uppercase.xml', /quantity.system muss exakt http:\/\/unitsofmeasure.org sein, nicht HTTP:\/\/unitsofmeasure.org/],
  ['neg-22_iknr_wrong_system.xml', /IKNR: NamingSystem muss http:\/\/fhir.de\/sid\/arge-ik\/iknr sein/],
  ['neg-26_patient_identifier_wrong_system.xml', /Versichertennummer mit NamingSystem http:\/\/fhir.de\/sid\/gkv\/kvid-10 fehlt/],
  ['neg-28_kvnr_format_1X11043327.xml', /Ungültige Versichertennummer \(KVNR\) 1X11043327/],
  ['neg-30_kvnr_lowercase.xml', /Ungültige Versichertennummer \(KVNR\) x110433273/],
  ['neg-31_kvnr_too_short.xml', /Ungültige Versichertennummer \(KVNR\) X11043332/],
  ['neg-35_lanr_with_letter.xml', /Ungültige LANR 987G54423/],
  ['neg-41_missing_coverage_section.xml', /section\) 'Coverage' fehlt/],
  ['neg-42_formular_art_lowercase_e16a.xml', /Formular-Art .* nicht 'e16a'/],
];

describe('invalid fixtures are refused naming the rule', { skip }, () => {
  for (const [file, message] of negative) {
    it(file, () => {
      const bundle = load(`invalid/${file}`);
      assertRefused(() => validatePrescriptionBundle(bundle, { flowType: '160', now: noon('2025-08-01') }), message);
      assertRefused(() => validatePrescriptionBundle(bundle, { flowType: '160', now: noon('2026-11-23') }), /Profilversion 1.1.0 .* nicht akzeptiert/);
    });
  }
  it('the unmodified base of the negative set passes in 2025 (so each file fails for its one change)', () => {
    const bundle = load('invalid/neg-18_ucum_system_uppercase.xml');
    const quantity = bundle.entry!.flatMap((e) => (e.resource?.resourceType === 'MedicationRequest' ? [e.resource.dispenseRequest!.quantity!] : []))[0];
    quantity.system = 'http://unitsofmeasure.org';
    // The set's PZN 22370390 fails its check digit (A_24033; 22370393 would pass): refused for that, then repaired.
    const pzn = bundle.entry!.flatMap((e) => (e.resource?.resourceType === 'Medication' ? e.resource.code!.coding! : [])).find((c) => c.system === 'http://fhir.de/CodeSystem/ifa/pzn')!;
    assert.equal(pzn.code, '22370390');
    assertRefused(() => validatePrescriptionBundle(bundle, { flowType: '160', now: noon('2025-08-01'), signingTime: noon('2023-07-23') }), /^Ungültige PZN/);
    pzn.code = '22370393';
    const { facts } = validatePrescriptionBundle(bundle, { flowType: '160', now: noon('2025-08-01'), signingTime: noon('2023-07-23') });
    assert.equal(facts.patient.kvnr, 'T110397981');
    assert.equal(facts.practitioner?.lanr, '599697033');
  });

  const fhirInfo = <R extends Resource = Bundle>(file: string) => load<R>(`invalid/${file}`);
  it('fhirinfo-01: fullUrl id != resource id is warning 253; not a KBV bundle is 400', () => {
    const bundle = fhirInfo('fhirinfo-01_fullUrl_id_mismatch.xml');
    assert.deepEqual(indexEntries(bundle).warnings.map((w) => w.code), [253]);
    assertRefused(() => validatePrescriptionBundle(bundle, { flowType: '160' }), /meta.profile/);
  });
  it('fhirinfo-02: mixed absolute/relative references are refused', () => {
    const bundle = fhirInfo('fhirinfo-02_mixed_reference.xml');
    assertRefused(() => checkReferences(new EntryResolver(indexEntries(bundle).entries)), /Gemischte Referenzen/);
    assertRefused(() => validatePrescriptionBundle(bundle, { flowType: '160' }), /meta.profile/);
  });
  it('fhirinfo-03: fullUrl format is warning 254', () => {
    const bundle = fhirInfo('fhirinfo-03_fullUrl_format.xml');
    const codes = indexEntries(bundle).warnings.map((w) => w.code);
    assert.equal(codes.filter((c) => c === 254).length, 2);
  });
  it('fhirinfo-04: a resource without id is refused', () => {
    const patient = fhirInfo<Patient>('fhirinfo-04_patient_without_id.xml') as unknown as Patient;
    assertRefused(() => validatePrescriptionBundle(patient as never, { flowType: '160' }), /Bundle-Ressource/);
    const wrapped: Bundle = { resourceType: 'Bundle', type: 'document', entry: [{ fullUrl: 'urn:uuid:93866fdc-3e50-4902-a7e9-891b54737b5e', resource: patient }] };
    assertRefused(() => indexEntries(wrapped), /Ressource ohne id/);
  });
  it('fhirinfo-05: urn:oid fullUrls are refused', () => {
    assertRefused(() => indexEntries(fhirInfo('fhirinfo-05_urn_oid_fullUrl.xml')), /urn:oid/);
  });
  it('legacy KBV 1.0.1 bundles are refused for their profile version', () => {
    for (const file of ['legacy/kbv-1.0.1_0428d416.xml', 'legacy/kbv-1.0.1_4fe2013d_Wirkstoff.xml']) {
      assertRefused(() => validatePrescriptionBundle(load(file), { flowType: '160', now: noon('2026-11-23') }), /Profilversion 1.0.1 .* nicht akzeptiert/);
    }
  });
});
