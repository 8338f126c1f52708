import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatPrescriptionId } from '../identifiers.ts';
import { insured, physician, practice } from '../../seed/identities.ts';
import type { Composition, MedicationRequest, Practitioner } from '../types.ts';
import { buildPrescriptionBundle, setAuthoredOn, setPractitioner, setPrescriptionId, type MedicationInput } from './build-bundle.ts';
import { validatePrescriptionBundle } from './prescription-bundle.ts';
import { assertRefused, NOW, PRESCRIPTION_ID, resourceOf, TODAY, validInput } from './test-support.ts';

const medications: MedicationInput[] = [
  { kind: 'PZN', pzn: '06313728', display: 'Ibuprofen AL 600 mg 20 Filmtabletten N1', normgroesse: 'N1', form: 'FTA' },
  { kind: 'Ingredient', ingredient: 'Simvastatin', askCode: '23816', strength: { value: 20, unit: 'mg' }, form: 'Tabletten', amount: { value: '30', unit: 'Stück' } },
  { kind: 'Compounding', form: 'Lösung', amount: { value: '100', unit: 'ml' }, ingredients: [{ name: 'Salicylsäure', amount: { value: 5, unit: 'g' } }, { name: '2-propanol 70 %', amountText: 'Ad 100 g' }] },
  { kind: 'FreeText', text: 'Metformin 850mg Tabletten N3' },
];

describe('buildPrescriptionBundle', () => {
  it('builds a valid KBV 1.3 bundle for each medication variant', () => {
    const displays = ['Ibuprofen AL 600 mg 20 Filmtabletten N1', 'Simvastatin 20 mg, Tabletten', 'Salicylsäure 5 g, 2-propanol 70 % Ad 100 g – Lösung', 'Metformin 850mg Tabletten N3'];
    medications.forEach((medication, i) => {
      const bundle = buildPrescriptionBundle(validInput({ medication }));
      const { facts, warnings } = validatePrescriptionBundle(bundle, { flowType: '160', now: NOW, taskPrescriptionId: PRESCRIPTION_ID, signingTime: new Date('2026-11-23T08:00:00Z') });
      assert.deepEqual(warnings, []);
      assert.equal(facts.medication.kind, medication.kind);
      assert.equal(facts.medication.display, displays[i]);
      assert.equal(facts.medication.category, '00');
      assert.match(bundle.meta!.profile![0], /KBV_PR_ERP_Bundle\|1\.3$/);
      assert.ok(bundle.entry!.every((e) => e.fullUrl === `urn:uuid:${e.resource!.id}`));
    });
  });
  it('builds PKV (200/209) and direct-assignment (169) bundles, MVO and emergency fee', () => {
    const weber = insured.find((i) => i.coverage?.type === 'PKV')!;
    for (const flow of ['200', '209']) {
      const id = formatPrescriptionId(flow, 42);
      const b = buildPrescriptionBundle(validInput({ flowType: flow, prescriptionId: id, patient: weber, coverage: weber.coverage! }));
      assert.equal(validatePrescriptionBundle(b, { flowType: flow, now: NOW, taskPrescriptionId: id }).facts.coverage.type, 'PKV');
    }
    const id169 = formatPrescriptionId('169', 42);
    const mvo = buildPrescriptionBundle(validInput({
      flowType: '169', prescriptionId: id169, emergencyFee: true,
      multiplePrescription: { numerator: 2, denominator: 4, start: '2026-12-01', end: '2027-02-01' },
    }));
    const { facts } = validatePrescriptionBundle(mvo, { flowType: '169', now: NOW, taskPrescriptionId: id169 });
    assert.equal(facts.medicationRequest.emergencyFee, true);
    assert.equal(facts.medicationRequest.multiplePrescription?.numerator, 2);
    assert.match(facts.medicationRequest.multiplePrescription?.id ?? '', /^urn:uuid:/);
  });
  it('is reproducible with an id generator', () => {
    let n = 0;
    const newId = () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
    const a = buildPrescriptionBundle(validInput({ newId }));
    n = 0;
    const b = buildPrescriptionBundle(validInput({ newId }));
    assert.deepEqual({ ...a, timestamp: '' }, { ...b, timestamp: '' });
  });
});

describe('signing-time helpers', () => {
  it('a draft without PrescriptionID, date and physician (RED $createerptask) becomes valid after the setters', () => {
    const draft = buildPrescriptionBundle(validInput({ prescriptionId: undefined, physician: undefined, authoredOn: '2026-11-20' }));
    assertRefused(() => validatePrescriptionBundle(draft, { flowType: '160', now: NOW, requirePractitioner: false }), /PrescriptionID\) fehlt/);
    setPrescriptionId(draft, PRESCRIPTION_ID);
    const red = validatePrescriptionBundle(draft, { flowType: '160', now: NOW, requirePractitioner: false });
    assert.equal(red.facts.practitioner, undefined);
    assertRefused(() => validatePrescriptionBundle(draft, { flowType: '160', now: NOW }), /Practitioner/);

    const signingTime = new Date('2026-11-23T07:15:00Z');
    assertRefused(() => validatePrescriptionBundle(draft, { flowType: '160', now: NOW, signingTime, requirePractitioner: false }), /taggleich/);
    setAuthoredOn(draft, TODAY);
    setPractitioner(draft, physician, practice);
    const { facts, warnings } = validatePrescriptionBundle(draft, { flowType: '160', now: NOW, signingTime, taskPrescriptionId: PRESCRIPTION_ID });
    assert.deepEqual(warnings, []);
    assert.equal(facts.authoredOn, TODAY);
    assert.equal(facts.practitioner?.lanr, physician.lanr);
    assert.equal(facts.organization?.bsnr, practice.bsnr);
    assert.equal(resourceOf<Composition>(draft, 'Composition').date?.slice(0, 10), TODAY);
  });
  it('setPractitioner replaces the physician and keeps one Practitioner', () => {
    const b = buildPrescriptionBundle(validInput());
    setPractitioner(b, { given: 'Max', family: 'Mustermann', lanr: '754236701', telematikId: '1-1017754236701' }, { ...practice, name: 'Praxis Mustermann', bsnr: '721111100' });
    assert.equal(b.entry!.filter((e) => e.resource?.resourceType === 'Practitioner').length, 1);
    const { facts } = validatePrescriptionBundle(b, { flowType: '160', now: NOW });
    assert.equal(facts.practitioner?.name, 'Max Mustermann');
    assert.equal(facts.practitioner?.lanr, '754236701');
    assert.equal(facts.organization?.name, 'Praxis Mustermann');
    const requester = resourceOf<MedicationRequest>(b, 'MedicationRequest').requester?.reference;
    assert.equal(requester, `urn:uuid:${resourceOf<Practitioner>(b, 'Practitioner').id}`);
  });
});
