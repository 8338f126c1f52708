// The full life of a prescription over the Fachdienst API, in XML (PVS/AVS convention) and JSON (insured apps),
// on PGlite and PostgreSQL.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { verifyCades, extractCadesContent } from '../crypto/cades.ts';
import { verifyJws } from '../crypto/jws.ts';
import { TrustStore } from '../crypto/trust.ts';
import { parseFhir } from '../fhir/codec.ts';
import { canonicalJson } from './patient-copy.ts';
import type { Bundle, Task } from '../fhir/types.ts';
import { forEachEngine } from '../storage/test-postgres.ts';
import { NS, EXT } from './task-resource.ts';
import {
  BASE_URL, activateParameters, call, createParameters, createWorld, dispenseParameters, identifierValue, signedPrescription,
  type Format, type World,
} from './testing.ts';

forEachEngine('Fachdienst lifecycle', (getDb) => {
  let world: World;
  before(async () => {
    world = await createWorld(getDb());
  });
  after(() => world.close());

  for (const format of ['xml', 'json'] as Format[]) {
    test(`create, activate, read, accept, dispense, close, delete (${format})`, async () => {
      // $create
      const created = await call(world, 'practice', 'POST', '/Task/$create', { format, body: createParameters('160') });
      assert.equal(created.status, 201);
      assert.match(String(created.res.headers['content-type']), format === 'xml' ? /application\/fhir\+xml/ : /application\/fhir\+json/);
      const draft = created.body as Task;
      assert.match(draft.id!, /^160\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}$/);
      assert.equal(created.res.headers.location, `${BASE_URL}/Task/${draft.id}`);
      assert.equal(draft.status, 'draft');
      assert.equal(draft.intent, 'order');
      assert.equal(identifierValue(draft, NS.prescriptionId), draft.id);
      const accessCode = identifierValue(draft, NS.accessCode)!;
      assert.match(accessCode, /^[0-9a-f]{64}$/);
      assert.equal(draft.extension?.[0].valueCoding?.code, '160');
      assert.equal(draft.performerType?.[0].coding?.[0].code, 'urn:oid:1.2.276.0.76.4.54');

      // $activate with the QES-signed bundle
      const qes = signedPrescription(world, draft.id!, '160');
      const activated = await call(world, 'practice', 'POST', `/Task/${draft.id}/$activate`, {
        format, body: activateParameters(qes), headers: { 'x-accesscode': accessCode },
      });
      assert.equal(activated.status, 200, JSON.stringify(activated.body));
      const ready = activated.body as Task;
      assert.equal(ready.status, 'ready');
      assert.equal(ready.for?.identifier?.value, 'X110614233');
      assert.equal(ready.for?.identifier?.system, NS.kvnr);
      const ext = (url: string) => ready.extension?.find((e) => e.url === url)?.valueDate;
      assert.match(ext(EXT.acceptDate)!, /^\d{4}-\d{2}-\d{2}$/);
      assert.match(ext(EXT.expiryDate)!, /^\d{4}-\d{2}-\d{2}$/);
      assert.deepEqual(ready.input?.map((i) => i.type.coding?.[0].code), ['1', '2']);

      // the insured sees it in the list and reads it with the Fachdienst's signature (JWS) instead of the QES
      const list = await call(world, 'insured', 'GET', '/Task', { format });
      assert.equal(list.status, 200);
      assert.ok((list.body as Bundle).entry?.some((e) => e.resource?.id === draft.id));
      const read = await call(world, 'insured', 'GET', `/Task/${draft.id}`, { format });
      assert.equal(read.status, 200);
      const [taskEntry, copyEntry] = (read.body as Bundle).entry!;
      assert.equal(identifierValue(taskEntry.resource as Task, NS.accessCode), accessCode);
      assert.equal(identifierValue(taskEntry.resource as Task, NS.secret), undefined);
      const copy = copyEntry.resource as Bundle;
      assert.equal(copy.resourceType, 'Bundle');
      assert.equal(copy.identifier?.value, draft.id);
      assert.equal(copy.signature?.sigFormat, 'application/jose');
      const jws = Buffer.from(copy.signature!.data!, 'base64').toString();
      const unsigned = { ...copy };
      delete unsigned.signature;
      assert.equal(jws.split('.')[1], '', 'detached JWS');
      const verified = await verifyJws(jws, world.fd.key, { algorithms: ['BP256R1', 'ES256'], detachedPayload: canonicalJson(unsigned) });
      assert.equal(verified.header.cty, 'application/fhir+json;charset=utf-8');
      // signing the canonical JSON of something else fails
      await assert.rejects(verifyJws(jws, world.fd.key, { algorithms: ['BP256R1'], detachedPayload: canonicalJson({ ...unsigned, id: 'x' }) }));

      // $accept
      const accepted = await call(world, 'pharmacy', 'POST', `/Task/${draft.id}/$accept?ac=${accessCode}`, { format });
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
      const acceptBundle = accepted.body as Bundle;
      assert.equal(acceptBundle.type, 'collection');
      const acceptedTask = acceptBundle.entry![0].resource as Task;
      assert.equal(acceptedTask.status, 'in-progress');
      assert.equal(acceptedTask.owner?.identifier?.value, world.identity('pharmacy').telematikId);
      const secret = identifierValue(acceptedTask, NS.secret)!;
      assert.match(secret, /^[0-9a-f]{64}$/);
      const binary = acceptBundle.entry![1].resource as { resourceType: string; contentType: string; data: string };
      assert.equal(binary.resourceType, 'Binary');
      assert.equal(binary.contentType, 'application/pkcs7-mime');
      assert.equal(binary.data, qes, 'the QES is handed out byte for byte');

      // $dispense, then $close without body uses the stored dispense
      const dispensed = await call(world, 'pharmacy', 'POST', `/Task/${draft.id}/$dispense?secret=${secret}`, {
        format, body: dispenseParameters(world, { id: draft.id!, flowType: '160', accessCode, kvnr: 'X110614233' }),
      });
      assert.equal(dispensed.status, 204, JSON.stringify(dispensed.body));
      const closed = await call(world, 'pharmacy', 'POST', `/Task/${draft.id}/$close?secret=${secret}`, { format });
      assert.equal(closed.status, 200, JSON.stringify(closed.body));
      const receipt = closed.body as Bundle;
      assert.equal(receipt.type, 'document');
      assert.equal(receipt.identifier?.value, draft.id);
      assert.deepEqual(receipt.entry?.map((e) => e.resource?.resourceType), ['Composition', 'Device', 'Binary']);
      assert.ok(receipt.entry?.every((e) => e.fullUrl?.startsWith('urn:uuid:')));
      const composition = receipt.entry![0].resource as { title: string; extension: { valueIdentifier: { value: string } }[] };
      assert.equal(composition.title, 'Quittung');
      assert.equal(composition.extension[0].valueIdentifier.value, world.identity('pharmacy').telematikId);
      const digest = receipt.entry![2].resource as { data: string };
      const signedContent = extractCadesContent(Buffer.from(qes, 'base64'));
      assert.equal(digest.data, createHash('sha256').update(signedContent).digest('base64'));
      // The receipt signature is a CAdES by the Fachdienst over the receipt XML.
      const cms = Buffer.from(receipt.signature!.data!, 'base64');
      const checked = await verifyCades(cms, { trust: TrustStore.fromCertificates(world.pki.trustList()) });
      assert.ok(checked.signer.equals(world.fd.cert));
      const signedReceipt = parseFhir(checked.content.toString('utf8'), 'xml') as Bundle;
      assert.equal(signedReceipt.identifier?.value, draft.id);

      // the pharmacy gets Task + QES + receipt again with its secret
      const again = await call(world, 'pharmacy', 'GET', `/Task/${draft.id}?secret=${secret}`, { format });
      assert.equal(again.status, 200);
      assert.deepEqual((again.body as Bundle).entry?.map((e) => e.resource?.resourceType), ['Task', 'Binary', 'Bundle']);

      // the insured deletes the completed prescription; afterwards it is gone
      const aborted = await call(world, 'insured', 'POST', `/Task/${draft.id}/$abort`, { format });
      assert.equal(aborted.status, 204);
      const gone = await call(world, 'insured', 'GET', `/Task/${draft.id}`, { format });
      assert.equal(gone.status, 410);
      assert.equal(gone.body.resourceType, 'OperationOutcome');
      const secretRead = await call(world, 'pharmacy', 'GET', `/Task/${draft.id}?secret=${secret}`, { format });
      assert.equal(secretRead.status, 410);
    });
  }
});
