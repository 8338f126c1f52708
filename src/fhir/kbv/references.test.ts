import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Bundle } from '../types.ts';
import { checkReferences, EntryResolver, indexEntries } from './references.ts';
import { assertRefused } from './test-support.ts';

const A = '8c1f0a36-6d59-4c4f-9d0a-2f6f2f1b8a01';
const B = '8c1f0a36-6d59-4c4f-9d0a-2f6f2f1b8a02';
const bundle = (entry: Bundle['entry']): Bundle => ({ resourceType: 'Bundle', type: 'document', entry });

describe('fullUrl and id rules (FD 253/254, erp_fhir_infos)', () => {
  it('accepts urn:uuid and RESTful fullUrls without warnings', () => {
    const { warnings } = indexEntries(bundle([
      { fullUrl: `urn:uuid:${A}`, resource: { resourceType: 'Patient', id: A } },
      { fullUrl: `http://pvs.praxis.local/fhir/Coverage/${B}`, resource: { resourceType: 'Coverage', id: B } as never },
    ]));
    assert.deepEqual(warnings, []);
  });
  it('warns 253 when the fullUrl id differs from the resource id', () => {
    const { warnings } = indexEntries(bundle([{ fullUrl: `http://pvs.praxis.local/fhir/Patient/${A}`, resource: { resourceType: 'Patient', id: B } }]));
    assert.deepEqual(warnings.map((w) => w.code), [253]);
    assert.match(warnings[0].text, /fullUrl/);
  });
  it('warns 254 for a fullUrl that is neither urn:uuid nor an absolute RESTful URL', () => {
    const { warnings } = indexEntries(bundle([
      { fullUrl: `www.pvs.praxis.local/fhir/Patient/${A}`, resource: { resourceType: 'Patient', id: A } },
      { fullUrl: `Patient/${B}`, resource: { resourceType: 'Patient', id: B } },
    ]));
    assert.deepEqual(warnings.map((w) => w.code), [254, 254]);
  });
  it('rejects urn:oid fullUrls, resources without id, missing fullUrl and duplicates', () => {
    assertRefused(() => indexEntries(bundle([{ fullUrl: 'urn:oid:1.3.6.1.4.1.12345.1.1.1', resource: { resourceType: 'Patient', id: A } }])), /urn:oid/);
    assertRefused(() => indexEntries(bundle([{ fullUrl: `urn:uuid:${A}`, resource: { resourceType: 'Patient' } }])), /ohne id/);
    assertRefused(() => indexEntries(bundle([{ resource: { resourceType: 'Patient', id: A } }])), /fullUrl fehlt/);
    assertRefused(() => indexEntries(bundle([
      { fullUrl: `urn:uuid:${A}`, resource: { resourceType: 'Patient', id: A } },
      { fullUrl: `urn:uuid:${A}`, resource: { resourceType: 'Patient', id: A } },
    ])), /mehrfach/);
  });
});

describe('reference resolution', () => {
  const check = (b: Bundle) => checkReferences(new EntryResolver(indexEntries(b).entries));
  it('resolves urn:uuid and relative references against a RESTful base', () => {
    check(bundle([
      { fullUrl: `urn:uuid:${A}`, resource: { resourceType: 'Coverage', id: A, beneficiary: { reference: `urn:uuid:${B}` } } as never },
      { fullUrl: `urn:uuid:${B}`, resource: { resourceType: 'Patient', id: B } },
    ]));
    check(bundle([
      { fullUrl: `http://pvs.praxis.local/fhir/Coverage/${A}`, resource: { resourceType: 'Coverage', id: A, beneficiary: { reference: `Patient/${B}` } } as never },
      { fullUrl: `http://pvs.praxis.local/fhir/Patient/${B}`, resource: { resourceType: 'Patient', id: B } },
    ]));
  });
  it('refuses dangling references with the path of the element', () => {
    const e = assertRefused(() => check(bundle([
      { fullUrl: `urn:uuid:${A}`, resource: { resourceType: 'Coverage', id: A, beneficiary: { reference: `urn:uuid:${B}` } } as never },
    ])), /nicht auflösen/);
    assert.deepEqual(e.expression, ['Bundle.entry[0].resource.beneficiary.reference']);
  });
  it('refuses relative references next to urn:uuid fullUrls (mixed references)', () => {
    assertRefused(() => check(bundle([
      { fullUrl: `urn:uuid:${A}`, resource: { resourceType: 'Coverage', id: A, beneficiary: { reference: `Patient/${B}` } } as never },
      { fullUrl: `urn:uuid:${B}`, resource: { resourceType: 'Patient', id: B } },
    ])), /Gemischte Referenzen/);
  });
});
