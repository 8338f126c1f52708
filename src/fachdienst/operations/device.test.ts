// GET /Device (erp-api §1.2, §6.1): the Fachdienst itself as GEM_ERP_PR_Device, for every authenticated caller; the
// same Device that authors receipts and that Bundle.signature.who and AuditEvent.source.observer point to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle, Device } from '../../fhir/types.ts';
import { FACHDIENST_VERSION } from '../app.ts';
import { PROFILE } from '../task-resource.ts';
import { BASE_URL, acceptedTask, call, dispenseParameters, type Format, type Who, useWorld } from '../testing.ts';

const env = useWorld();

test('GET /Device and /Device/1: GEM_ERP_PR_Device of this Fachdienst, for every role, JSON and XML', async () => {
  for (const who of ['practice', 'pharmacy', 'payer', 'insured'] as Who[]) {
    for (const format of ['json', 'xml'] as Format[]) {
      for (const url of ['/Device', '/Device/1']) {
        const r = await call(env.world, who, 'GET', url, { format });
        assert.equal(r.status, 200, `${who} ${format} ${url}`);
        const device = r.body as Device;
        assert.equal(device.resourceType, 'Device');
        assert.equal(device.id, '1');
        assert.deepEqual(device.meta?.profile, [PROFILE('GEM_ERP_PR_Device')]);
        assert.equal(device.status, 'active');
        assert.equal(device.serialNumber, FACHDIENST_VERSION);
        assert.deepEqual(device.version, [{ value: FACHDIENST_VERSION }]);
        assert.deepEqual(device.deviceName, [{ name: 'E-Rezept-Fachdienst', type: 'user-friendly-name' }]);
        assert.deepEqual(device.contact, [{ system: 'email', value: 'betrieb@gematik.de' }]);
      }
    }
  }
});

test('401 without a token; 404 for another Device id', async () => {
  const anonymous = await env.world.app.inject({ method: 'GET', url: '/Device', headers: { accept: 'application/fhir+json' } });
  assert.equal(anonymous.statusCode, 401);
  const other = await call(env.world, 'insured', 'GET', '/Device/2');
  assert.equal(other.status, 404);
  assert.equal(other.body.resourceType, 'OperationOutcome');
});

test('the receipt\'s author and signer are this Device', async () => {
  const device = (await call(env.world, 'pharmacy', 'GET', '/Device')).body as Device;
  const t = await acceptedTask(env.world);
  const receipt = (await call(env.world, 'pharmacy', 'POST', `/Task/${t.id}/$close?secret=${t.secret}`, { body: dispenseParameters(env.world, t) })).body as Bundle;
  assert.deepEqual(receipt.entry![1].resource, device);
  assert.equal(receipt.signature?.who.reference, `${BASE_URL}/Device/${device.id}`);
});
