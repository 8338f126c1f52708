import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPrescriptionId } from '../fhir/identifiers.ts';
import { dispenseParameters, DispenseInputError, readAcceptBundle } from './dispense.ts';

const input = { taskId: formatPrescriptionId('160', 7), kvnr: 'X110614233', telematikId: '3-11.2.1000001.16.101', whenHandedOver: '2026-11-23', medicationText: 'Sumatriptan', pzn: '06313728' };

test('rxDispensation with MedicationDispense and Medication', () => {
  const p = dispenseParameters(input);
  const parts = p.parameter![0].part!;
  assert.equal(p.parameter![0].name, 'rxDispensation');
  const md = parts[0].resource as any;
  assert.equal(md.identifier[0].value, input.taskId);
  assert.equal(md.subject.identifier.value, 'X110614233');
  assert.equal(md.performer[0].actor.identifier.value, input.telematikId);
  assert.equal((parts[1].resource as any).code.coding[0].code, '06313728');
});

test('bad input is refused with a German message', () => {
  for (const change of [{ taskId: '1' }, { kvnr: 'X1' }, { whenHandedOver: '23.11.2026' }, { medicationText: ' ' }, { pzn: '123' }, { telematikId: 'abc' }]) {
    assert.throws(() => dispenseParameters({ ...input, ...change }), DispenseInputError);
  }
});

test('accept answer: Secret and Binary', () => {
  const r = readAcceptBundle({
    resourceType: 'Bundle', type: 'collection',
    entry: [
      { resource: { resourceType: 'Task', intent: 'order', status: 'in-progress', identifier: [{ system: 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_Secret', value: 's'.repeat(64) }] } },
      { resource: { resourceType: 'Binary', contentType: 'application/pkcs7-mime', data: 'AAAA' } },
    ],
  });
  assert.equal(r.secret, 's'.repeat(64));
  assert.equal(r.prescriptionCms, 'AAAA');
  assert.throws(() => readAcceptBundle({ resourceType: 'Bundle', type: 'collection', entry: [] }));
});
