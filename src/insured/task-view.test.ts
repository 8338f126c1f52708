import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPrescriptionId } from '../fhir/identifiers.ts';
import { buildPrescriptionBundle } from '../fhir/kbv/build-bundle.ts';
import type { Task } from '../fhir/types.ts';
import { insured, physician, practice } from '../seed/identities.ts';
import { abortRule, assignRule, germanDate, SYSTEM, summarizeTask, tokenOf } from './task-view.ts';
import { dispenseRequest } from './dispense-request.ts';

const id = formatPrescriptionId('160', 42);
const ac = 'b'.repeat(64);
const task: Task = {
  resourceType: 'Task', id, status: 'ready', intent: 'order',
  extension: [
    { url: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_PrescriptionType', valueCoding: { code: '160' } },
    { url: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_ExpiryDate', valueDate: '2026-12-24' },
  ],
  identifier: [{ system: SYSTEM.prescriptionId, value: id }, { system: SYSTEM.accessCode, value: ac }],
  for: { identifier: { system: SYSTEM.kvnr, value: 'X110614233' } },
  authoredOn: '2026-11-23T09:00:00+00:00',
};

test('summary with medication and prescriber from the insured copy', () => {
  const patient = insured[0];
  const bundle = buildPrescriptionBundle({
    flowType: '160', prescriptionId: id, authoredOn: '2026-11-23',
    patient: { kvnr: patient.kvnr, given: patient.given, family: patient.family, birthDate: patient.birthDate, address: patient.address },
    coverage: { type: 'GKV', ik: patient.coverage!.ik, payer: patient.coverage!.payer },
    physician: { lanr: physician.lanr, given: physician.given, family: physician.family, telematikId: physician.telematikId },
    practice: { name: practice.name, bsnr: practice.bsnr, telematikId: practice.telematikId, address: practice.address, phone: practice.phone },
    medication: { kind: 'PZN', pzn: '06313728', display: 'Sumatriptan-1a Pharma 100 mg Tabletten', normgroesse: 'N1', form: 'TAB' },
    dosage: '1-0-1', quantity: 1,
  });
  const s = summarizeTask(task, bundle);
  assert.equal(s.statusText, 'Einlösbar');
  assert.equal(s.medication, 'Sumatriptan-1a Pharma 100 mg Tabletten');
  assert.match(s.prescriber ?? '', /Berger/);
  assert.equal(s.practice, practice.name);
  assert.equal(s.expiryDate, '2026-12-24');
  assert.deepEqual(tokenOf(s), { taskId: id, accessCode: ac });
  assert.equal(germanDate(s.expiryDate), '24.12.2026');
  assert.equal(germanDate('2026-11-23T23:30:00+00:00'), '24.11.2026', 'instants are shown as the Berlin day');
});

test('delete and assign rules per status and flowtype', () => {
  assert.equal(abortRule('ready', '160').allowed, true);
  assert.equal(abortRule('completed', '160').allowed, true);
  assert.equal(abortRule('in-progress', '160').allowed, false);
  assert.equal(abortRule('ready', '169').allowed, false);
  assert.equal(abortRule('completed', '169').allowed, true);
  assert.equal(assignRule('ready', '160', '2026-12-24', new Date('2026-11-23')).allowed, true);
  assert.equal(assignRule('ready', '160', '2026-11-01', new Date('2026-11-23')).allowed, false);
  const steered = assignRule('ready', '169');
  assert.equal(steered.allowed, false);
  assert.match(steered.reason, /Praxis/);
  assert.equal(assignRule('in-progress', '160').allowed, false);
});

test('DispReq: token in basedOn, pharmacy as recipient, payload v1 without control characters', () => {
  const c = dispenseRequest({ token: { taskId: id, accessCode: ac }, flowType: '160', pharmacyTelematikId: '3-11.2.1000001.16.101', supplyOptionsType: 'onPremise', name: 'Lisa\u0007 Müller', hint: ' ' });
  assert.equal(c.basedOn?.[0].reference, `Task/${id}/$accept?ac=${ac}`);
  assert.equal(c.recipient?.[0].identifier?.value, '3-11.2.1000001.16.101');
  assert.deepEqual(JSON.parse(c.payload![0].contentString!), { version: 1, supplyOptionsType: 'onPremise', name: 'Lisa  Müller' });
});
