// KBV_PR_EVDGA_Bundle (DiGA, flowtype 162) through validatePrescriptionBundle: the gematik example, repaired where it
// is wrong (test-support EVDGA_EXAMPLE_REPAIRS), and variants of it that break one rule each.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFixture } from '../../../test/fixtures.ts';
import { parseFhir } from '../codec.ts';
import { formatPrescriptionId } from '../identifiers.ts';
import type { Bundle, Composition, Coverage, DeviceRequest, Patient } from '../types.ts';
import { computeTaskDates } from './dates.ts';
import { extractPrescriptionFacts, validatePrescriptionBundle, type ValidationContext } from './prescription-bundle.ts';
import { EXT, SYSTEM } from './profiles.ts';
import { assertRefused, EVDGA_EXAMPLE, EVDGA_EXAMPLE_REPAIRS, NOW, resourceOf, validBundle } from './test-support.ts';

const ISSUED = '2025-01-15';
const noon = (day: string) => new Date(`${day}T11:00:00Z`);
const TASK_ID = formatPrescriptionId('162', 4711);
const ctx: ValidationContext = { flowType: '162', taskPrescriptionId: TASK_ID, now: noon(ISSUED), signingTime: noon(ISSUED) };

const rawExample = () => {
  const bundle = parseFhir(readFixture(`kbv-bundle/${EVDGA_EXAMPLE}`), 'xml') as Bundle;
  bundle.identifier!.value = TASK_ID;
  return bundle;
};
/** The example with its defects repaired and the Task's PrescriptionID. */
function example(edit?: (b: Bundle) => void): Bundle {
  const bundle = rawExample();
  for (const repair of EVDGA_EXAMPLE_REPAIRS) repair.edit(bundle);
  edit?.(bundle);
  return bundle;
}
const validate = (b: Bundle, c: Partial<ValidationContext> = {}) => validatePrescriptionBundle(b, { ...ctx, ...c });
const deviceRequest = (b: Bundle) => resourceOf<DeviceRequest>(b, 'DeviceRequest');
const pznCoding = (b: Bundle) => deviceRequest(b).codeCodeableConcept!.coding![0];

describe('the gematik eVDGA example', () => {
  it('each defect of the example is refused as such, in the order listed', () => {
    const bundle = rawExample();
    for (const repair of EVDGA_EXAMPLE_REPAIRS) {
      assertRefused(() => validate(bundle), repair.without);
      repair.edit(bundle);
    }
    validate(bundle);
  });

  it('repaired, it is valid on its issue day and its facts read as a DiGA prescription', () => {
    const { facts, warnings } = validate(example());
    assert.deepEqual(warnings, [], 'LANR 838382210 passes its check digit');
    assert.equal(facts.prescriptionId, TASK_ID);
    assert.equal(facts.profile, 'https://fhir.kbv.de/StructureDefinition/KBV_PR_EVDGA_Bundle|1.1');
    assert.equal(facts.kbvVersion, '1.1');
    assert.equal(facts.authoredOn, ISSUED);
    assert.equal(facts.formularArt, 'e16D');
    assert.equal(facts.statusKennzeichen, '00');
    assert.deepEqual(facts.patient, {
      kvnr: 'X234567891', kvnrSystem: SYSTEM.kvid10, pkvId: undefined, given: 'Ludger', family: 'Ludger Königsstein', birthDate: '1935-06-22',
    });
    assert.deepEqual(facts.coverage, { type: 'GKV', payorIk: '104212059', payorName: 'AOK Rheinland/Hamburg' });
    assert.deepEqual(facts.medication, { kind: 'DiGA', display: 'Vantis KHK und Herzinfarkt 001', pzn: '19205615' });
    assert.deepEqual(facts.medicationRequest, { id: 'a1533e28-4631-4afa-b5e6-f233fad87f53' });
    assert.equal(facts.practitioner?.lanr, '838382210');
    assert.equal(facts.practitioner?.name, 'Jörgen Meier');
    assert.equal(facts.organization?.bsnr, '031234567');
    assert.equal(facts.organization?.name, 'Hausarztpraxis Dr. Topp-Glücklich');
    // what the rest of the platform reads without validating (insured app, pharmacy view)
    assert.deepEqual(extractPrescriptionFacts(example()), facts);
    // TAB_eRpDM_005 for 162: accept = expiry = signing day + 3 calendar months
    assert.deepEqual(computeTaskDates('162', noon(ISSUED), facts), { acceptDate: '2025-04-15', expiryDate: '2025-04-15' });
  });

  it('profile versions from the evdga column: 1.1 refused today, 1.2 accepted today', () => {
    assertRefused(() => validate(example(), { now: NOW, signingTime: undefined }),
      /KBV-Profilversion 1\.1 von KBV_PR_EVDGA_Bundle wird am 2026-11-23 nicht akzeptiert \(zulässig: 1\.2\)/, 'business-rule');
    const current = example((b) => { b.meta = { profile: ['https://fhir.kbv.de/StructureDefinition/KBV_PR_EVDGA_Bundle|1.2'] }; });
    assert.equal(validate(current, { now: NOW, signingTime: undefined }).facts.kbvVersion, '1.2');
  });
});

describe('eVDGA rules: one defect each', () => {
  it('wrong KVNR check digit', () => {
    const b = example((x) => { resourceOf<Patient>(x, 'Patient').identifier![0].value = 'X234567892'; });
    assertRefused(() => validate(b), /Ungültige Versichertennummer \(KVNR\) X234567892: .*Prüfziffer/);
  });
  it('PKV coverage is not allowed for flowtype 162 (A_23443-01)', () => {
    const b = example((x) => { resourceOf<Coverage>(x, 'Coverage').type!.coding![0].code = 'PKV'; });
    assertRefused(() => validate(b), /^Coverage "PKV" not allowed for flowtype 162$/, 'business-rule');
  });
  it('no DiGA at the expense of an accident insurer: alternative IK refused (A_26372)', () => {
    const b = example((x) => {
      resourceOf<Coverage>(x, 'Coverage').payor![0].identifier!.extension = [{ url: EXT.alternativeIk, valueIdentifier: { system: SYSTEM.iknr, value: '121191241' } }];
    });
    assertRefused(() => validate(b), /alternatives IK .* für Flowtype 162 nicht zulässig/, 'business-rule');
  });
  it('missing DeviceRequest (A_25991)', () => {
    const b = example((x) => {
      x.entry = x.entry!.filter((e) => e.resource?.resourceType !== 'DeviceRequest');
      const composition = resourceOf<Composition>(x, 'Composition');
      composition.section = composition.section!.filter((s) => s.code?.coding?.[0].code !== 'Prescription');
    });
    assertRefused(() => validate(b), /^Für diesen Workflowtypen sind nur Verordnungen für Digitale Gesundheitsanwendungen zulässig: .*genau eine DeviceRequest-Ressource .*gefunden: 0/);
  });
  it('Formular-Art e16D (A_25991) and the eVDGA Composition profile', () => {
    const e16a = example((x) => { resourceOf<Composition>(x, 'Composition').type!.coding![0].code = 'e16A'; });
    assertRefused(() => validate(e16a), /^Für diesen Workflowtypen sind nur .*: Formular-Art \(Composition\.type\) muss 'e16D' .* nicht 'e16A'/, 'value');
    const erpComposition = example((x) => {
      resourceOf<Composition>(x, 'Composition').meta = { profile: ['https://fhir.kbv.de/StructureDefinition/KBV_PR_ERP_Composition|1.1.0'] };
    });
    assertRefused(() => validate(erpComposition), /Composition\.meta\.profile muss https:\/\/fhir\.kbv\.de\/StructureDefinition\/KBV_PR_EVDGA_Composition sein/);
  });
  it("sections 'Prescription' -> DeviceRequest and 'HealthInsurance' -> Coverage", () => {
    const noInsurance = example((x) => {
      const composition = resourceOf<Composition>(x, 'Composition');
      composition.section = composition.section!.filter((s) => s.code?.coding?.[0].code !== 'HealthInsurance');
    });
    assertRefused(() => validate(noInsurance), /Composition: Abschnitt \(section\) 'HealthInsurance' fehlt/, 'required');
  });
  it('wrong PZN system', () => {
    const b = example((x) => { pznCoding(x).system = 'http://fhir.de/NamingSystem/ifa/pzn'; });
    assertRefused(() => validate(b), /DiGA-Verordnung: PZN \(http:\/\/fhir\.de\/CodeSystem\/ifa\/pzn\) fehlt in DeviceRequest\.codeCodeableConcept/, 'required');
  });
  it('PZN length and check digit (A_25992)', () => {
    assertRefused(() => validate(example((x) => { pznCoding(x).code = '1920561'; })), /Länge PZN unzulässig \(muss 8-stellig sein\)/);
    const wrongDigit = assertRefused(() => validate(example((x) => { pznCoding(x).code = '19205614'; })),
      /^Ungültige PZN: Die übergebene Pharmazentralnummer entspricht nicht den vorgeschriebenen Prüfziffer-Validierungsregeln\.$/);
    assert.match(wrongDigit.expression![0], /\.codeCodeableConcept\.coding\.code$/);
  });
  it('DeviceRequest: profile, status active, intent order, name of the DiGA', () => {
    assertRefused(() => validate(example((x) => { deviceRequest(x).meta = { profile: [] }; })), /DeviceRequest\.meta\.profile muss .*KBV_PR_EVDGA_HealthAppRequest/);
    assertRefused(() => validate(example((x) => { deviceRequest(x).status = 'draft'; })), /DeviceRequest\.status muss 'active' sein, nicht 'draft'/);
    assertRefused(() => validate(example((x) => { deviceRequest(x).intent = 'plan'; })), /DeviceRequest\.intent muss 'order' sein/);
    assertRefused(() => validate(example((x) => { delete deviceRequest(x).codeCodeableConcept!.text; })), /Name der DiGA/);
  });
  it('DeviceRequest: insurance -> the Coverage, requester -> a Practitioner, authoredOn a day', () => {
    assertRefused(() => validate(example((x) => { delete deviceRequest(x).insurance; })), /DeviceRequest\.insurance muss genau einmal auf die Coverage verweisen/);
    assertRefused(() => validate(example((x) => { delete deviceRequest(x).requester; })), /Verordnende Person \(Practitioner, DeviceRequest\.requester\) fehlt/, 'required');
    assertRefused(() => validate(example((x) => { deviceRequest(x).authoredOn = '2025-01-15T10:00:00Z'; })), /DeviceRequest\.authoredOn fehlt oder ist kein Datum/);
  });
  it('authoredOn is the German day of the QES', () => {
    assertRefused(() => validate(example(), { signingTime: new Date('2025-01-15T23:30:00Z') }), /taggleich/, 'business-rule');
    validate(example(), { signingTime: new Date('2025-01-14T23:30:00Z') }); // 00:30 on the 15th in Berlin
  });
  it('PrescriptionID mismatch with the Task, and a 160 PrescriptionID on the 162 Task', () => {
    assertRefused(() => validate(example(), { taskPrescriptionId: formatPrescriptionId('162', 4712) }), /PrescriptionId mismatch between Task and QES-Bundle/, 'business-rule');
    const as160 = example((x) => { x.identifier!.value = formatPrescriptionId('160', 4711); });
    assertRefused(() => validate(as160, { taskPrescriptionId: undefined }), /Flowtype mismatch between Task and QES-Bundle/, 'business-rule');
  });
});

describe('bundle and flowtype must fit each other', () => {
  it('eVDGA bundle on a 160 Task', () => {
    assertRefused(() => validate(example(), { flowType: '160' }), /^KBV_PR_EVDGA_Bundle \(DiGA\) ist nur mit Flowtype 162 zulässig, nicht mit 160$/, 'business-rule');
  });
  it('ERP bundle on a 162 Task', () => {
    const erp = validBundle({ flowType: '162', prescriptionId: TASK_ID });
    assertRefused(() => validate(erp, { now: NOW, signingTime: undefined }),
      /^Für diesen Workflowtypen sind nur Verordnungen für Digitale Gesundheitsanwendungen zulässig \(Flowtype 162 erfordert KBV_PR_EVDGA_Bundle, nicht KBV_PR_ERP_Bundle\)$/, 'business-rule');
  });
});
