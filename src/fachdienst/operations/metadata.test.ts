// GET /metadata (erp-api §1.2): the CapabilityStatement for every authenticated caller, in XML and JSON, listing what
// the gematik RU CapabilityStatement (misc/CapabilityStatement_RU.xml) lists for the resources we serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFhir } from '../../fhir/codec.ts';
import type { CapabilityStatement } from '../../fhir/types.ts';
import { readFixture } from '../../../test/fixtures.ts';
import { FACHDIENST_VERSION } from '../app.ts';
import { PROFILE } from '../task-resource.ts';
import { BASE_URL, call, type Format, type Who, useWorld } from '../testing.ts';

const env = useWorld();

type RestResource = NonNullable<NonNullable<CapabilityStatement['rest']>[number]['resource']>[number];
const resourcesOf = (cs: CapabilityStatement) => new Map((cs.rest?.[0].resource ?? []).map((r) => [r.type, r] as [string, RestResource]));
const gematik = parseFhir(readFixture('misc/CapabilityStatement_RU.xml'), 'xml') as CapabilityStatement;
/** Resources of the gematik FD that this Fachdienst does not serve. */
const NOT_SERVED: string[] = [];

test('every role gets it, in JSON and XML', async () => {
  for (const who of ['practice', 'physician', 'pharmacy', 'payer', 'insured'] as Who[]) {
    for (const format of ['json', 'xml'] as Format[]) {
      const r = await call(env.world, who, 'GET', '/metadata', { format });
      assert.equal(r.status, 200, `${who} ${format}`);
      assert.match(String(r.res.headers['content-type']), format === 'xml' ? /^application\/fhir\+xml/ : /^application\/fhir\+json/);
      assert.equal(r.body.resourceType, 'CapabilityStatement');
    }
  }
});

test('without a token: 401 (the token is required, as on every FD endpoint)', async () => {
  const r = await env.world.app.inject({ method: 'GET', url: '/metadata', headers: { accept: 'application/fhir+json' } });
  assert.equal(r.statusCode, 401);
  assert.match(String(r.headers['www-authenticate']), /^Bearer realm="prescriptionserver.telematik"/);
});

test('header: FHIR 4.0.1, xml+json, instance, this Fachdienst\'s version and URL', async () => {
  const cs = (await call(env.world, 'insured', 'GET', '/metadata')).body as CapabilityStatement;
  assert.equal(cs.fhirVersion, '4.0.1');
  assert.deepEqual(cs.format, ['xml', 'json']);
  assert.equal(cs.kind, 'instance');
  assert.equal(cs.name, gematik.name);
  assert.equal(cs.title, gematik.title);
  assert.equal(cs.software?.version, FACHDIENST_VERSION);
  assert.equal(cs.implementation?.url, BASE_URL);
  assert.equal(cs.implementation?.description, gematik.implementation?.description);
  assert.equal(cs.rest?.[0].mode, 'server');
});

test('resources, operations and search parameters cover the gematik RU CapabilityStatement', async () => {
  const ours = resourcesOf((await call(env.world, 'pharmacy', 'GET', '/metadata', { format: 'xml' })).body as CapabilityStatement);
  const theirs = resourcesOf(gematik);
  assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].filter((t) => !NOT_SERVED.includes(t)).sort());
  for (const [type, resource] of theirs) {
    if (NOT_SERVED.includes(type)) continue;
    const mine = ours.get(type)!;
    for (const op of resource.operation ?? []) {
      assert.deepEqual(mine.operation?.find((o) => o.name === op.name), { name: op.name, definition: op.definition }, `${type} $${op.name}`);
    }
    const params = new Set(mine.searchParam?.map((p) => p.name));
    for (const p of resource.searchParam ?? []) assert.ok(params.has(p.name), `${type} ?${p.name}`);
  }
  // and $dispense, which came after the RU snapshot
  const task = ours.get('Task')!;
  assert.deepEqual(task.operation?.map((o) => o.name), ['create', 'activate', 'accept', 'reject', 'dispense', 'close', 'abort']);
  assert.equal(task.operation?.find((o) => o.name === 'dispense')?.definition, 'https://gematik.de/fhir/erp/OperationDefinition/DispenseOperationDefinition');
  assert.equal(task.profile, PROFILE('GEM_ERP_PR_Task'));
  assert.equal(ours.get('Device')?.profile, PROFILE('GEM_ERP_PR_Device'));
  // PKV billing, with the profiles of the gematik examples
  assert.equal(ours.get('ChargeItem')?.profile, theirs.get('ChargeItem')?.profile);
  assert.equal(ours.get('Consent')?.profile, theirs.get('Consent')?.profile);
  // PKV change requests: the ChargChangeReq/Reply Communication profiles as the gematik CapabilityStatement lists them
  const supported = ours.get('Communication')?.supportedProfile ?? [];
  const erpchrg = (theirs.get('Communication')?.supportedProfile ?? []).filter((p) => p.includes('/erpchrg/'));
  assert.equal(erpchrg.length, 2);
  for (const p of erpchrg) assert.ok(supported.includes(p), p);
});
