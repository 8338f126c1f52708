import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPrescriptionId } from '../identifiers.ts';
import { insured } from '../../seed/identities.ts';
import type { Composition, Coverage, Medication, MedicationRequest, Organization, Patient, Practitioner } from '../types.ts';
import { EXT, SYSTEM } from './profiles.ts';
import { extractPrescriptionFacts, validatePrescriptionBundle, type ValidationContext } from './prescription-bundle.ts';
import { assertRefused, NOW, PRESCRIPTION_ID, resourceOf, TODAY, validBundle } from './test-support.ts';

const ctx: ValidationContext = { flowType: '160', now: NOW, taskPrescriptionId: PRESCRIPTION_ID };
const validate = (b = validBundle(), c: Partial<ValidationContext> = {}) => validatePrescriptionBundle(b, { ...ctx, ...c });

describe('validatePrescriptionBundle: the valid case', () => {
  it('accepts a built bundle and extracts its facts', () => {
    const { facts, warnings } = validate();
    assert.deepEqual(warnings, []);
    assert.equal(facts.prescriptionId, PRESCRIPTION_ID);
    assert.equal(facts.kbvVersion, '1.3');
    assert.equal(facts.profile, 'https://fhir.kbv.de/StructureDefinition/KBV_PR_ERP_Bundle|1.3');
    assert.equal(facts.authoredOn, TODAY);
    assert.deepEqual(facts.patient, { kvnr: 'X110614233', kvnrSystem: SYSTEM.kvid10, pkvId: undefined, given: 'Lisa', family: 'Müller', birthDate: '1985-04-12' });
    assert.deepEqual(facts.coverage, { type: 'GKV', payorIk: '109519005', payorName: 'AOK Nordost' });
    assert.equal(facts.practitioner?.lanr, '838382202');
    assert.equal(facts.practitioner?.telematikId, '1-1017838382202');
    assert.equal(facts.practitioner?.name, 'Dr. med. Hanna Berger');
    assert.equal(facts.practitioner?.qualificationType, '00');
    assert.deepEqual(facts.organization, { bsnr: '031234567', kzva: undefined, telematikId: '1-2031234567', name: 'Hausarztpraxis Dr. Berger' });
    assert.deepEqual(facts.medication, { kind: 'PZN', display: 'Januvia® 50 mg 28 Filmtabletten N1', pzn: '00814665', category: '00' });
    assert.equal(facts.medicationRequest.dosageText, '1-0-0-0');
    assert.equal(facts.medicationRequest.quantity, 1);
    assert.equal(facts.medicationRequest.substitutionAllowed, true);
    assert.equal(facts.medicationRequest.emergencyFee, false);
    assert.equal(facts.medicationRequest.multiplePrescription, undefined);
    assert.equal(facts.statusKennzeichen, '00');
    assert.equal(facts.formularArt, 'e16A');
  });
  it('accepts a signing time on the same German day (late evening UTC of the previous day)', () => {
    validate(validBundle(), { signingTime: new Date('2026-11-22T23:30:00Z') });
  });
});

describe('validatePrescriptionBundle: rules', () => {
  it('refuses what is not a Bundle and unsupported flowtypes', () => {
    assertRefused(() => validate({ resourceType: 'Patient' } as never), /Bundle-Ressource/);
    assertRefused(() => validate(validBundle(), { flowType: '165' }), /Flowtype 165 wird nicht unterstützt/, 'not-supported');
    // flowtype 162 is supported, but only for the DiGA bundle (A_25991)
    assertRefused(() => validate(validBundle(), { flowType: '162' }), /^Für diesen Workflowtypen sind nur Verordnungen für Digitale Gesundheitsanwendungen zulässig \(Flowtype 162 erfordert KBV_PR_EVDGA_Bundle, nicht KBV_PR_ERP_Bundle\)$/, 'business-rule');
  });
  it('Bundle.type document', () => {
    const b = validBundle();
    b.type = 'collection';
    assertRefused(() => validate(b), /Bundle.type muss 'document'/);
  });
  it('meta.profile: KBV_PR_ERP_Bundle with a version accepted on the day', () => {
    const none = validBundle();
    none.meta = { profile: ['https://example.org/Bundle'] };
    assertRefused(() => validate(none), /meta.profile muss .*KBV_PR_ERP_Bundle/);
    const old = validBundle();
    old.meta = { profile: ['https://fhir.kbv.de/StructureDefinition/KBV_PR_ERP_Bundle|1.1.0'] };
    assertRefused(() => validate(old), /Profilversion 1.1.0 .* 2026-11-23 nicht akzeptiert/, 'business-rule');
    validate(old, { now: new Date('2025-08-01T10:00:00Z') });
    assertRefused(() => validate(validBundle(), { now: new Date('2025-09-01T10:00:00Z') }), /Profilversion 1.3 .* nicht akzeptiert/);
    const evdga = validBundle();
    evdga.meta = { profile: ['https://fhir.kbv.de/StructureDefinition/KBV_PR_EVDGA_Bundle|1.2'] };
    assertRefused(() => validate(evdga), /KBV_PR_EVDGA_Bundle \(DiGA\) ist nur mit Flowtype 162 zulässig, nicht mit 160/, 'business-rule');
  });
  it('PrescriptionID: system, check digits, equality with the Task, flowtype prefix', () => {
    const system = validBundle();
    system.identifier!.system = 'https://gematik.de/fhir/NamingSystem/PrescriptionID';
    assertRefused(() => validate(system), /identifier.system muss .*GEM_ERP_NS_PrescriptionId/);
    assertRefused(() => validate(validBundle({ prescriptionId: '160.000.000.000.000.01' }), { taskPrescriptionId: undefined }), /Prüfziffer/);
    assertRefused(() => validate(validBundle({ prescriptionId: formatPrescriptionId('160', 4712) })), /PrescriptionId mismatch between Task and QES-Bundle/, 'business-rule');
    assertRefused(() => validate(validBundle(), { flowType: '169', taskPrescriptionId: undefined }), /Flowtype mismatch between Task and QES-Bundle/);
    const missing = validBundle();
    delete missing.identifier;
    assertRefused(() => validate(missing), /PrescriptionID\) fehlt/);
  });
  it('fullUrl/id: 253 and 254 are warnings; urn:oid and resources without id are refused', () => {
    const b = validBundle();
    const patientEntry = b.entry!.find((e) => e.resource?.resourceType === 'Patient')!;
    patientEntry.resource!.id = 'other-id';
    const { warnings } = validate(b);
    assert.deepEqual(warnings.map((w) => w.code), [253]);
    const oid = validBundle();
    oid.entry![3].fullUrl = 'urn:oid:1.2.276.0.76.4.8';
    assertRefused(() => validate(oid), /urn:oid/);
    const noId = validBundle();
    delete noId.entry![3].resource!.id;
    assertRefused(() => validate(noId), /ohne id/);
  });
  it('references must resolve inside the bundle', () => {
    const b = validBundle();
    resourceOf<MedicationRequest>(b, 'MedicationRequest').subject = { reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' };
    assertRefused(() => validate(b), /nicht auflösen/);
  });
  it('exactly one Composition/MedicationRequest/Medication/Patient/Coverage, Composition first', () => {
    const two = validBundle();
    two.entry!.push({ fullUrl: 'urn:uuid:0d1e3f58-6a46-4b86-a0a5-2b6f6a1cbf21', resource: { ...resourceOf<Patient>(two, 'Patient'), id: '0d1e3f58-6a46-4b86-a0a5-2b6f6a1cbf21' } });
    assertRefused(() => validate(two), /genau eine Patient-Ressource enthalten \(gefunden: 2\)/);
    const noCoverage = validBundle();
    noCoverage.entry = noCoverage.entry!.filter((e) => e.resource?.resourceType !== 'Coverage');
    assertRefused(() => validate(noCoverage), /nicht auflösen|genau eine Coverage/);
    const order = validBundle();
    order.entry!.push(order.entry!.shift()!);
    assertRefused(() => validate(order), /erste Eintrag/);
  });
  it('Composition: sections Prescription and Coverage, type e16A in exact case, legal basis', () => {
    const noCov = validBundle();
    const comp = resourceOf<Composition>(noCov, 'Composition');
    comp.section = comp.section!.filter((s) => s.code?.coding?.[0].code !== 'Coverage');
    assertRefused(() => validate(noCov), /section\) 'Coverage' fehlt/, 'required');
    const lower = validBundle();
    resourceOf<Composition>(lower, 'Composition').type!.coding![0].code = 'e16a';
    assertRefused(() => validate(lower), /Formular-Art .* 'e16A' .* nicht 'e16a'/);
    const noLegal = validBundle();
    resourceOf<Composition>(noLegal, 'Composition').extension = [];
    assertRefused(() => validate(noLegal), /Rechtsgrundlage/);
  });
  it('Patient: kvid-10 with a valid KVNR (format and check digit)', () => {
    const check = (value: string, message: RegExp) => {
      const b = validBundle();
      resourceOf<Patient>(b, 'Patient').identifier![0].value = value;
      assertRefused(() => validate(b), message, 'value');
    };
    check('1X11043327', /KVNR\) 1X11043327: Format/);
    check('x110433273', /KVNR\) x110433273: Format/);
    check('X11043332', /Format/);
    check('X123456789', /Prüfziffer/);
    const acme = validBundle();
    resourceOf<Patient>(acme, 'Patient').identifier = [{ system: 'http://www.acme.com/identifiers/patient', value: '123456' }];
    assertRefused(() => validate(acme), /NamingSystem http:\/\/fhir.de\/sid\/gkv\/kvid-10 fehlt/);
  });
  it('Patient: a PKV identifier is enough for PKV coverage only', () => {
    const weber = insured.find((i) => i.coverage?.type === 'PKV')!;
    const pkv = validBundle({ prescriptionId: formatPrescriptionId('200', 9), patient: { ...weber, kvnr: undefined, pkvId: 'PKV-4711' }, coverage: weber.coverage! });
    const { facts } = validate(pkv, { flowType: '200', taskPrescriptionId: undefined });
    assert.equal(facts.patient.pkvId, 'PKV-4711');
    assert.equal(facts.patient.kvnr, undefined);
    const gkv = validBundle({ patient: { ...insured[0], kvnr: undefined, pkvId: 'PKV-4711' } });
    assertRefused(() => validate(gkv), /kvid-10 fehlt/);
  });
  it('Coverage: IKNR system and 9 digits; coverage type fits the flowtype', () => {
    const system = validBundle();
    resourceOf<Coverage>(system, 'Coverage').payor![0].identifier = { system: 'http://fhir.de/NamingSystem/arge-ik/iknr', value: '109519005' };
    assertRefused(() => validate(system), /IKNR: NamingSystem muss http:\/\/fhir.de\/sid\/arge-ik\/iknr/);
    const digits = validBundle();
    resourceOf<Coverage>(digits, 'Coverage').payor![0].identifier!.value = '7421111100';
    assertRefused(() => validate(digits), /IKNR 7421111100 muss aus 9 Ziffern/);
    const weber = insured.find((i) => i.coverage?.type === 'PKV')!;
    for (const flow of ['160', '169']) {
      const b = validBundle({ prescriptionId: formatPrescriptionId(flow, 1), patient: weber, coverage: weber.coverage! });
      assertRefused(() => validate(b, { flowType: flow, taskPrescriptionId: undefined }), new RegExp(`Coverage "PKV" not allowed for flowtype ${flow}`), 'business-rule');
    }
    for (const flow of ['200', '209']) {
      const b = validBundle({ prescriptionId: formatPrescriptionId(flow, 1) });
      assertRefused(() => validate(b, { flowType: flow, taskPrescriptionId: undefined }), new RegExp(`Coverage "GKV" not allowed for flowtype ${flow}`));
      validate(validBundle({ prescriptionId: formatPrescriptionId(flow, 1), patient: weber, coverage: weber.coverage! }), { flowType: flow, taskPrescriptionId: undefined });
    }
  });
  it('Organization: an IK with the old NamingSystem or a malformed BSNR is refused', () => {
    const b = validBundle();
    resourceOf<Organization>(b, 'Organization').identifier![0] = { type: { coding: [{ system: SYSTEM.v2_0203, code: 'BSNR' }] }, system: 'http://fhir.de/NamingSystem/arge-ik/iknr', value: '7421111100' };
    assertRefused(() => validate(b), /IKNR: NamingSystem/);
    const bsnr = validBundle();
    resourceOf<Organization>(bsnr, 'Organization').identifier![0].value = '12345';
    assertRefused(() => validate(bsnr), /BSNR/);
  });
  it('Practitioner: LANR format is an error, a wrong check digit only warning 252, pseudo-LANR 555555 passes', () => {
    const letter = validBundle({ physician: { given: 'Anna', family: 'Test', lanr: '987G54423' } });
    assertRefused(() => validate(letter), /Ungültige LANR 987G54423: muss aus 9 Ziffern/);
    const checksum = validate(validBundle({ physician: { given: 'Anna', family: 'Test', lanr: '123456789' } }));
    assert.deepEqual(checksum.warnings.map((w) => w.code), [252]);
    assert.match(checksum.warnings[0].text, /Prüfziffer der LANR 123456789/);
    assert.deepEqual(validate(validBundle({ physician: { given: 'Anna', family: 'Test', lanr: '555555123' } })).warnings, []);
    const zanr = validate(validBundle({ physician: { given: 'Zoe', family: 'Zahn', zanr: '123456789' } }));
    assert.equal(zanr.facts.practitioner?.zanr, '123456789');
    assert.deepEqual(zanr.warnings.map((w) => w.code), [252]);
  });
  it('Practitioner required unless requirePractitioner === false', () => {
    const b = validBundle({ physician: undefined });
    assertRefused(() => validate(b), /Practitioner/, 'required');
    const { facts } = validate(b, { requirePractitioner: false });
    assert.equal(facts.practitioner, undefined);
    const dangling = validBundle();
    dangling.entry = dangling.entry!.filter((e) => e.resource?.resourceType !== 'Practitioner');
    assertRefused(() => validate(dangling, { requirePractitioner: false }), /nicht auflösen/);
  });
  it('quantity system exactly http://unitsofmeasure.org', () => {
    const b = validBundle();
    const q = resourceOf<MedicationRequest>(b, 'MedicationRequest').dispenseRequest!.quantity!;
    q.system = 'HTTP://unitsofmeasure.org';
    q.code = '{Package}';
    assertRefused(() => validate(b), /quantity.system muss exakt http:\/\/unitsofmeasure.org sein, nicht HTTP/);
    q.system = 'http://unitsofmeasure.org';
    validate(b);
    q.value = 0;
    assertRefused(() => validate(b), /größer als 0/);
  });
  it('medication category: 00 for 160/169/200/209, BtM (01) never, T-Rezept (02) only 166 from KBV 1.4', () => {
    const withCategory = (category: string | undefined, id = PRESCRIPTION_ID) => {
      const b = validBundle({ prescriptionId: id });
      const ext = resourceOf<Medication>(b, 'Medication').extension!;
      const cat = ext.find((e) => e.url === EXT.medicationCategory)!;
      if (category === undefined) ext.splice(ext.indexOf(cat), 1);
      else cat.valueCoding!.code = category;
      return b;
    };
    assertRefused(() => validate(withCategory('01')), /^BTM nicht zulässig$/, 'business-rule');
    assertRefused(() => validate(withCategory('02')), /T-Rezept \(Kategorie 02\) ist nur mit Flowtype 166/);
    assertRefused(() => validate(withCategory(undefined)), /Kategorie .* fehlt/);
    const t166 = withCategory('02', formatPrescriptionId('166', 1));
    assertRefused(() => validate(t166, { flowType: '166', taskPrescriptionId: undefined }), /erst ab KBV-Version 1.4/);
    t166.meta = { profile: ['https://fhir.kbv.de/StructureDefinition/KBV_PR_ERP_Bundle|1.4'] };
    validate(t166, { flowType: '166', taskPrescriptionId: undefined });
    const t00 = withCategory('00', formatPrescriptionId('166', 1));
    t00.meta = { profile: ['https://fhir.kbv.de/StructureDefinition/KBV_PR_ERP_Bundle|1.4'] };
    assertRefused(() => validate(t00, { flowType: '166', taskPrescriptionId: undefined }), /Flowtype 166 erfordert/);
  });
  it('medication variants are recognised by their KBV profiles and must carry their content', () => {
    const b = validBundle();
    resourceOf<Medication>(b, 'Medication').meta = { profile: ['https://example.org/Medication'] };
    assertRefused(() => validate(b), /kein KBV-Profil/);
    const pzn = validBundle();
    resourceOf<Medication>(pzn, 'Medication').code!.coding![0].code = '123';
    assertRefused(() => validate(pzn), /^Länge PZN unzulässig \(muss 8-stellig sein\)$/);
    // A_24033: 06313728 with its last digit changed; the check comes after the other rules, as at the gematik FD
    resourceOf<Medication>(pzn, 'Medication').code!.coding![0].code = '06313727';
    assertRefused(() => validate(pzn), /^Ungültige PZN: Die übergebene Pharmazentralnummer entspricht nicht den vorgeschriebenen Prüfziffer-Validierungsregeln\.$/);
    delete resourceOf<Medication>(pzn, 'Medication').code!.coding;
    assertRefused(() => validate(pzn), /PZN-Verordnung: PZN .* fehlt/);
    // A_24034: the PZN of a compounding's ingredient
    const compounding = (ingredientPzn: string) => validBundle({ medication: { kind: 'Compounding', ingredients: [{ name: 'Salicylsäure', pzn: ingredientPzn, amount: { value: 5, unit: 'g' } }], form: 'Salbe', amount: { value: '100', unit: 'g' } } });
    validate(compounding('06313728'));
    assertRefused(() => validate(compounding('06313727')), /^Ungültige PZN/);
    assertRefused(() => validate(compounding('0631372')), /^Länge PZN unzulässig/);
    const ingredient = validBundle({ medication: { kind: 'Ingredient', ingredient: 'Ibuprofen', askCode: '5682', strength: { value: 600, unit: 'mg' }, form: 'Tabletten' } });
    resourceOf<Medication>(ingredient, 'Medication').code!.coding![0].code = 'freitext';
    assertRefused(() => validate(ingredient), /Wirkstoffverordnung: Medication.code muss 'wirkstoff'/);
  });
  it('authoredOn equals the signing day in Europe/Berlin', () => {
    assertRefused(() => validate(validBundle(), { signingTime: new Date('2026-11-23T23:30:00Z') }),
      /Ausstellungsdatum und Signaturzeitpunkt weichen voneinander ab, müssen aber taggleich sein/, 'business-rule');
    const bad = validBundle();
    resourceOf<MedicationRequest>(bad, 'MedicationRequest').authoredOn = '2026-11-23T10:00:00Z';
    assertRefused(() => validate(bad), /authoredOn .* kein Datum/);
  });
});

describe('validatePrescriptionBundle: MVO rules (erp-api §3.1)', () => {
  const mvo = { numerator: 1, denominator: 2, start: TODAY, id: 'urn:uuid:24e2e10d-e962-4d1c-be4f-8760e690a5f0' };
  const withMvo = (m: Partial<typeof mvo> & { end?: string }, extra: object = {}) => validBundle({ multiplePrescription: { ...mvo, ...m }, ...extra });
  it('accepts a valid MVO and extracts it', () => {
    const { facts } = validate(withMvo({ end: '2027-03-01' }));
    assert.deepEqual(facts.medicationRequest.multiplePrescription, { ...mvo, end: '2027-03-01' });
  });
  it('refuses each broken MVO rule', () => {
    assertRefused(() => validate(withMvo({ numerator: 0 })), /MVO: Nummerierung: Zähler/);
    assertRefused(() => validate(withMvo({ numerator: 5, denominator: 4 })), /Zähler muss 1 bis 4/);
    assertRefused(() => validate(withMvo({ denominator: 1 })), /Nenner muss 2 bis 4/);
    assertRefused(() => validate(withMvo({ numerator: 3, denominator: 2 })), /nicht größer als Nenner/);
    assertRefused(() => validate(withMvo({ start: '2026-11-22' })), /nicht vor dem Ausstellungsdatum/);
    assertRefused(() => validate(withMvo({ end: '2026-11-22' })), /Ende .* nicht vor dem Beginn/);
    assertRefused(() => validate(withMvo({ id: 'mvo-1' })), /urn:uuid/);
    assertRefused(() => validate(withMvo({}, { statusKennzeichen: '04' })), /Entlassrezepte/);
    assertRefused(() => validate(withMvo({}, { statusKennzeichen: '10' })), /Ersatzverordnungen/);
    const noStart = withMvo({});
    const ext = resourceOf<MedicationRequest>(noStart, 'MedicationRequest').extension!.find((e) => e.url === EXT.multiplePrescription)!;
    ext.extension = ext.extension!.filter((e) => e.url !== 'Zeitraum');
    assertRefused(() => validate(noStart), /Zeitraum.start\) fehlt/);
    const flag = validBundle();
    const plain = resourceOf<MedicationRequest>(flag, 'MedicationRequest').extension!.find((e) => e.url === EXT.multiplePrescription)!;
    plain.extension!.push({ url: 'Nummerierung', valueRatio: { numerator: { value: 1 }, denominator: { value: 2 } } });
    assertRefused(() => validate(flag), /nur bei Kennzeichen true/);
  });
});

describe('extractPrescriptionFacts', () => {
  it('names the missing element', () => {
    const b = validBundle();
    delete resourceOf<MedicationRequest>(b, 'MedicationRequest').authoredOn;
    assertRefused(() => extractPrescriptionFacts(b), /authoredOn fehlt/);
    const c = validBundle();
    delete resourceOf<Coverage>(c, 'Coverage').type;
    assertRefused(() => extractPrescriptionFacts(c), /Coverage.type .* fehlt/);
    const p = validBundle();
    resourceOf<Practitioner>(p, 'Practitioner').identifier = [];
    assert.equal(extractPrescriptionFacts(p).practitioner?.lanr, undefined);
    assert.equal(extractPrescriptionFacts(p).practitioner?.name, 'Dr. med. Hanna Berger');
  });
});
