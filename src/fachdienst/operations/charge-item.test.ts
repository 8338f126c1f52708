import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { signCades } from '../../crypto/cades.ts';
import { parseCertificate } from '../../crypto/certificate.ts';
import { createTestPki, type KeyAndCert } from '../../crypto/pki.ts';
import { parseFhir, toXml } from '../../fhir/codec.ts';
import type { AuditEvent, Bundle, ChargeItem, OperationOutcome } from '../../fhir/types.ts';
import { forEachEngine } from '../../storage/test-postgres.ts';
import { readFixture } from '../../../test/fixtures.ts';
import { runRetention } from '../retention.ts';
import { NS } from '../task-resource.ts';
import { acceptedTask, call, completedTask, createWorld, type TaskHandle, type World } from '../testing.ts';
import { CHARGCONS, MARKING_FLAG, chargconsConsent } from '../../insured/billing.ts';
import { PART } from './charge-item.ts';

const DAV_BUNDLE = 'http://fhir.abda.de/eRezeptAbgabedaten/StructureDefinition/DAV-PKV-PR-ERP-AbgabedatenBundle|1.3';

forEachEngine('ChargeItem (PKV billing information)', (getDb) => {
  let world: World;
  let smcb: KeyAndCert;
  let kvnr: string;
  before(async () => {
    world = await createWorld(getDb());
    const pharmacy = world.identity('pharmacy');
    smcb = world.pki.issue({ kind: 'smcb-osig', name: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: '1.2.276.0.76.4.54' });
    kvnr = world.identity('pkv').kvnr!;
  });
  after(() => world.close());

  /** The PKV dispense data for the Task, signed with the pharmacy's SMC-B (what the Konnektor returns). */
  function signedDispenseData(t: TaskHandle, signer = smcb): string {
    return signedDispenseCms(t, signer).toString('base64');
  }

  function signedDispenseCms(t: TaskHandle, signer = smcb, content?: string): Buffer {
    const bundle: Bundle = {
      resourceType: 'Bundle', id: crypto.randomUUID(), meta: { profile: [DAV_BUNDLE] }, type: 'document',
      identifier: { system: NS.prescriptionId, value: t.id }, timestamp: world.clock.now.toISOString(),
    };
    return signCades(Buffer.from(content ?? toXml(bundle), 'utf8'), signer, { signingTime: world.clock.now });
  }

  function chargeItemFor(t: TaskHandle, data = signedDispenseData(t)): ChargeItem {
    return {
      resourceType: 'ChargeItem',
      contained: [{ resourceType: 'Binary', id: 'abgabedaten', contentType: 'application/pkcs7-mime', data }],
      identifier: [{ system: NS.prescriptionId, value: t.id }],
      status: 'billable',
      code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable' }] },
      subject: { identifier: { system: 'http://fhir.de/sid/pkv/kvid-10', value: kvnr } },
      enterer: { identifier: { system: NS.telematikId, value: world.identity('pharmacy').telematikId } },
      supportingInformation: [{ reference: '#abgabedaten', display: 'Binary' }],
    };
  }

  const post = (t: TaskHandle, body: ChargeItem = chargeItemFor(t), secret = t.secret) =>
    call(world, 'pharmacy', 'POST', `/ChargeItem?task=${t.id}&secret=${secret}`, { body });

  async function giveConsent(): Promise<void> {
    const r = await call(world, 'pkv', 'POST', '/Consent', { body: chargconsConsent(kvnr) });
    assert.ok(r.status === 201 || r.status === 409, JSON.stringify(r.body));
  }

  test('pharmacy stores it after $close; the insured lists, reads all parts and deletes it', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    const posted = await post(t);
    assert.equal(posted.status, 201, JSON.stringify(posted.body));
    const item = posted.body as ChargeItem;
    assert.equal(item.id, t.id);
    assert.equal(posted.res.headers.location, `http://fd.test/ChargeItem/${t.id}`);
    assert.deepEqual(item.identifier, [{ system: NS.prescriptionId, value: t.id }], 'no AccessCode for the pharmacy');
    assert.equal(item.contained, undefined, 'the dispense data is stored apart');
    assert.equal(item.enterer?.identifier?.value, world.identity('pharmacy').telematikId);
    assert.deepEqual(item.supportingInformation?.map((s) => s.display), [PART.prescription, PART.dispense, PART.receipt]);

    const list = (await call(world, 'pkv', 'GET', '/ChargeItem')).body as Bundle;
    assert.equal(list.type, 'searchset');
    const listed = list.entry!.map((e) => e.resource as ChargeItem).find((c) => c.id === t.id)!;
    const accessCode = listed.identifier!.find((i) => i.system === NS.accessCode)?.value;
    assert.match(accessCode ?? '', /^[0-9a-f]{64}$/, 'the insured gets the AccessCode');
    assert.equal(listed.enterer, undefined);
    assert.ok(listed.supportingInformation!.every((s) => s.reference === undefined));
    assert.equal(((await call(world, 'insured', 'GET', '/ChargeItem')).body as Bundle).entry, undefined, 'nobody else’s');

    const read = await call(world, 'pkv', 'GET', `/ChargeItem/${t.id}`);
    assert.equal(read.status, 200, JSON.stringify(read.body));
    const bundle = read.body as Bundle;
    assert.equal(bundle.type, 'collection');
    const full = bundle.entry![0].resource as ChargeItem;
    const byUrl = new Map(bundle.entry!.map((e) => [e.fullUrl, e.resource as Bundle]));
    const part = (display: string) => byUrl.get(full.supportingInformation!.find((s) => s.display === display)!.reference);
    assert.equal(part(PART.prescription)?.meta?.profile?.[0]?.split('|')[0], PART.prescription);
    assert.ok(part(PART.prescription)?.signature?.data, 'the prescription with its QES');
    assert.equal(part(PART.dispense)?.meta?.profile?.[0], DAV_BUNDLE);
    assert.ok(part(PART.dispense)?.signature?.data, 'the dispense data with the pharmacy’s signature');
    assert.equal(part(PART.dispense)?.signature?.who?.identifier?.value, world.identity('pharmacy').telematikId);
    assert.equal(part(PART.receipt)?.meta?.profile?.[0]?.split('|')[0], PART.receipt);
    assert.ok(part(PART.receipt)?.signature?.data, 'the signed receipt');

    assert.equal((await call(world, 'insured', 'GET', `/ChargeItem/${t.id}`)).status, 403);
    assert.equal((await call(world, 'insured', 'DELETE', `/ChargeItem/${t.id}`)).status, 403);
    assert.equal((await call(world, 'pharmacy', 'DELETE', `/ChargeItem/${t.id}`)).status, 403);
    const noId = await call(world, 'pkv', 'DELETE', '/ChargeItem');
    assert.equal(noId.status, 405);
    assert.equal(noId.body.resourceType, 'OperationOutcome');
    assert.equal((await call(world, 'pkv', 'DELETE', `/ChargeItem/${t.id}`)).status, 204);
    assert.equal((await call(world, 'pkv', 'GET', `/ChargeItem/${t.id}`)).status, 404);
    assert.equal((await call(world, 'pkv', 'DELETE', `/ChargeItem/${t.id}`)).status, 404);
  });

  test('the signed dispense data comes back exactly as the pharmacy sent it', async () => {
    await giveConsent();
    const t = await completedTask(world, '209');
    const data = signedDispenseData(t);
    assert.equal((await post(t, chargeItemFor(t, data))).status, 201);
    const bundle = (await call(world, 'pkv', 'GET', `/ChargeItem/${t.id}`)).body as Bundle;
    const dispense = bundle.entry!.map((e) => e.resource as Bundle).find((r) => r.meta?.profile?.[0] === DAV_BUNDLE)!;
    assert.equal(dispense.signature?.data, data);
    assert.equal(dispense.identifier?.value, t.id);
  });

  test('the pharmacy reads it with the ChargeItem AccessCode only, and gets no receipt', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    assert.equal((await post(t)).status, 201);
    const listed = ((await call(world, 'pkv', 'GET', '/ChargeItem')).body as Bundle).entry!
      .map((e) => e.resource as ChargeItem).find((c) => c.id === t.id)!;
    const ac = listed.identifier!.find((i) => i.system === NS.accessCode)!.value!;
    const ok = await call(world, 'pharmacy2', 'GET', `/ChargeItem/${t.id}?ac=${ac}`);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const displays = (ok.body as Bundle).entry!.slice(1).map((e) => (e.resource as Bundle).meta?.profile?.[0]?.split('|')[0]);
    assert.deepEqual(displays.sort(), [PART.dispense, PART.prescription].sort());
    const item = (ok.body as Bundle).entry![0].resource as ChargeItem;
    assert.ok(!item.identifier!.some((i) => i.system === NS.accessCode));
    const wrong = await call(world, 'pharmacy', 'GET', `/ChargeItem/${t.id}?ac=${'0'.repeat(64)}`);
    assert.equal(wrong.status, 403);
    assert.equal(wrong.res.headers['vau-error-code'], 'brute_force');
    assert.equal((await call(world, 'pharmacy', 'GET', `/ChargeItem/${t.id}`)).status, 403);
    assert.equal((await call(world, 'payer', 'GET', `/ChargeItem/${t.id}?ac=${ac}`)).status, 403);
    assert.equal((await call(world, 'pharmacy', 'GET', '/ChargeItem')).status, 403, 'the list is the insured’s');
  });

  test('PUT with the AccessCode: the pharmacy that provided it replaces the signed dispense data', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    assert.equal((await post(t)).status, 201);
    const listed = ((await call(world, 'pkv', 'GET', '/ChargeItem')).body as Bundle).entry!
      .map((e) => e.resource as ChargeItem).find((c) => c.id === t.id)!;
    const ac = listed.identifier!.find((i) => i.system === NS.accessCode)!.value!;
    const corrected = signedDispenseData(t);
    const put = (who: 'pharmacy' | 'pharmacy2' | 'pkv', query: string, body = chargeItemFor(t, corrected)) =>
      call(world, who, 'PUT', `/ChargeItem/${t.id}${query}`, { body });
    assert.equal((await put('pharmacy', `?ac=${'0'.repeat(64)}`)).status, 403);
    assert.equal((await put('pharmacy', '')).status, 403);
    assert.equal((await put('pharmacy2', `?ac=${ac}`)).status, 403, 'only the pharmacy that entered it');
    assert.equal((await put('pkv', `?ac=${ac}`)).status, 403);
    assert.equal((await put('pharmacy', `?ac=${ac}`, chargeItemFor(t, Buffer.from('kaputt').toString('base64')))).status, 400);
    const ok = await put('pharmacy', `?ac=${ac}`);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal((ok.body as ChargeItem).id, t.id);
    assert.ok(!(ok.body as ChargeItem).identifier!.some((i) => i.system === NS.accessCode));
    const bundle = (await call(world, 'pkv', 'GET', `/ChargeItem/${t.id}`)).body as Bundle;
    const dispense = bundle.entry!.map((e) => e.resource as Bundle).find((r) => r.meta?.profile?.[0] === DAV_BUNDLE)!;
    assert.equal(dispense.signature?.data, corrected, 'the corrected data replaced the first');
    const events = ((await call(world, 'pkv', 'GET', '/AuditEvent')).body as Bundle).entry!.map((e) => e.resource as AuditEvent)
      .filter((e) => e.entity?.[0]?.what?.reference === `http://fd.test/ChargeItem/${t.id}`);
    assert.ok(events.some((e) => e.action === 'U' && /geändert/.test(e.text!.div)));
    assert.equal((await put('pharmacy', `?ac=${ac}`, { ...chargeItemFor(t), id: 'other' })).status, 400, 'id in the body is not the one in the URL');
  });

  test('PATCH: the insured marks where they handed it in; nothing else can be patched', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    assert.equal((await post(t)).status, 201);
    const mark = (flag: string, value: boolean, path = `ChargeItem.extension('${MARKING_FLAG}').extension('${flag}')`) => ({
      name: 'operation',
      part: [{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: path }, { name: 'name', valueString: 'valueBoolean' },
        { name: 'value', valueBoolean: value }],
    });
    const patch = (who: 'pkv' | 'insured' | 'pharmacy', ...parameter: object[]) =>
      call(world, who, 'PATCH', `/ChargeItem/${t.id}`, { body: { resourceType: 'Parameters', parameter } as never });
    const flagsOf = (c: ChargeItem) => Object.fromEntries(c.extension!.find((e) => e.url === MARKING_FLAG)!.extension!.map((e) => [e.url, e.valueBoolean]));

    const first = await patch('pkv', mark('taxOffice', true), mark('insuranceProvider', false));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(flagsOf(first.body), { insuranceProvider: false, subsidy: false, taxOffice: true });
    const second = await patch('pkv', mark('subsidy', true));
    assert.deepEqual(flagsOf(second.body), { insuranceProvider: false, subsidy: true, taxOffice: true }, 'earlier marks stay');
    const listed = ((await call(world, 'pkv', 'GET', '/ChargeItem')).body as Bundle).entry!
      .map((e) => e.resource as ChargeItem).find((c) => c.id === t.id)!;
    assert.deepEqual(flagsOf(listed), { insuranceProvider: false, subsidy: true, taxOffice: true });

    assert.equal((await patch('pkv', mark('x', true, 'ChargeItem.status'))).status, 400);
    assert.equal((await patch('pkv', mark('other', true))).status, 400);
    assert.equal((await patch('insured', mark('taxOffice', false))).status, 403);
    assert.equal((await patch('pharmacy', mark('taxOffice', false))).status, 403);
    const events = ((await call(world, 'pkv', 'GET', '/AuditEvent')).body as Bundle).entry!.map((e) => e.resource as AuditEvent)
      .filter((e) => e.entity?.[0]?.what?.reference === `http://fd.test/ChargeItem/${t.id}` && e.action === 'U');
    assert.equal(events.length, 2);
  });

  test('refused: no consent 403, not completed 409, GKV 400, wrong Secret 403, twice 409, bad data 400', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    assert.equal((await call(world, 'pharmacy', 'POST', `/ChargeItem?secret=${t.secret}`, { body: chargeItemFor(t) })).status, 400, 'task missing');
    assert.equal((await post(t, chargeItemFor(t), '0'.repeat(64))).status, 403);
    assert.equal((await post(t, chargeItemFor(t), '')).status, 403);
    assert.equal((await call(world, 'pkv', 'POST', `/ChargeItem?task=${t.id}&secret=${t.secret}`, { body: chargeItemFor(t) })).status, 403);
    assert.equal((await post(t, chargeItemFor(t, Buffer.from('Dies ist ein Beispiel').toString('base64')))).status, 400);
    const noBinary = chargeItemFor(t);
    delete noBinary.contained;
    assert.equal((await post(t, noBinary)).status, 400);
    const otherPatient = chargeItemFor(t);
    otherPatient.subject = { identifier: { system: 'http://fhir.de/sid/pkv/kvid-10', value: world.identity('insured').kvnr } };
    assert.equal((await post(t, otherPatient)).status, 400);
    assert.equal((await post(t)).status, 201);
    assert.equal((await post(t)).status, 409, 'one ChargeItem per prescription');

    const gkv = await completedTask(world, '160');
    assert.equal((await post(gkv)).status, 400, 'only PKV flowtypes');

    const inProgress = await acceptedTask(world, '200');
    assert.equal((await post(inProgress)).status, 409, 'Task not completed');
    const open = await completedTask(world, '200');

    assert.equal((await call(world, 'pkv', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 204);
    const withoutConsent = await post(open);
    assert.equal(withoutConsent.status, 403);
    assert.match(withoutConsent.body.issue[0].details.text, /Einwilligung/);
  });

  /** 400 (or `status`) with VAU-Error-Code invalid_dispense and the requirement named in the OperationOutcome. */
  function assertRefused(r: { status: number; body: OperationOutcome; res: { headers: Record<string, unknown> } }, requirement: string, rule: RegExp, status = 400): void {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.resourceType, 'OperationOutcome');
    assert.equal(r.res.headers['vau-error-code'], 'invalid_dispense');
    assert.ok(r.body.issue[0].details?.text?.startsWith(`${requirement}: `), r.body.issue[0].details?.text);
    assert.match(r.body.issue[0].diagnostics ?? '', rule);
  }

  test('the dispense data must be validly signed by a pharmacy\'s SMC-B (A_22139, A_22140-01, A_22141); nothing is stored otherwise', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    const pharmacy = world.identity('pharmacy');
    const withData = (der: Buffer) => chargeItemFor(t, der.toString('base64'));

    // tampered: one character of the signed content changed after signing
    const xml = toXml({ resourceType: 'Bundle', id: crypto.randomUUID(), meta: { profile: [DAV_BUNDLE] }, type: 'document', identifier: { system: NS.prescriptionId, value: t.id } } as Bundle);
    const tampered = signedDispenseCms(t, smcb, xml);
    const at = tampered.indexOf(Buffer.from(t.id));
    assert.ok(at > 0);
    tampered[at] = tampered[at] === 0x32 ? 0x33 : 0x32;
    assertRefused(await post(t, withData(tampered)), 'A_22139', /^digest-mismatch/);
    // a signature value that does not verify
    const forged = signedDispenseCms(t);
    forged[forged.length - 3] ^= 0x01;
    assertRefused(await post(t, withData(forged)), 'A_22139', /^bad-signature/);

    // a person's QES (HBA) instead of the SMC-B
    const hba = await post(t, withData(signedDispenseCms(t, world.qes)));
    assertRefused(hba, 'A_22141', /^not-smcb-osig: .* is a person/);
    assert.match(hba.body.issue[0].details.text, /Person \(HBA\)/);
    // the SMC-B's authentication certificate (keyUsage digitalSignature), not its signature certificate
    const aut = world.pki.issue({ kind: 'smcb-aut', name: pharmacy.name, organization: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: '1.2.276.0.76.4.54' });
    assertRefused(await post(t, withData(signedDispenseCms(t, aut))), 'A_22141', /^not-smcb-osig: .* keyUsage digitalSignature/);
    // the SMC-B of a practice
    const practice = world.identity('practice');
    const practiceOsig = world.pki.issue({ kind: 'smcb-osig', name: practice.name, organization: practice.name, telematikId: practice.telematikId, professionOID: '1.2.276.0.76.4.50' });
    assertRefused(await post(t, withData(signedDispenseCms(t, practiceOsig))), 'A_22141', /^not-pharmacy/);

    // certificates: another PKI, expired, revoked; OCSP not reachable -> 512
    const foreign = createTestPki().issue({ kind: 'smcb-osig', name: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: '1.2.276.0.76.4.54' });
    assertRefused(await post(t, withData(signedDispenseCms(t, foreign))), 'A_22140-01', /^untrusted-chain/);
    const expired = world.pki.issue({ kind: 'smcb-osig', name: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: '1.2.276.0.76.4.54', expired: true });
    assertRefused(await post(t, withData(signedDispenseCms(t, expired))), 'A_22140-01', /^expired/);
    const revoked = world.pki.issue({ kind: 'smcb-osig', name: pharmacy.name, telematikId: pharmacy.telematikId, professionOID: '1.2.276.0.76.4.54' });
    world.revocations.revoke(parseCertificate(revoked.cert).serial);
    assertRefused(await post(t, withData(signedDispenseCms(t, revoked))), 'A_22140-01', /^revoked/);
    world.ocspDown.value = true;
    try {
      assertRefused(await post(t, chargeItemFor(t)), 'A_22140-01', /^ocsp-unavailable/, 512);
    } finally {
      world.ocspDown.value = false;
    }
    // a valid SMC-B signature over something that is not a FHIR Bundle
    const notBundle = await post(t, withData(signedDispenseCms(t, smcb, 'Dies ist kein FHIR-Bundle')));
    assert.equal(notBundle.status, 400);
    assert.match(notBundle.body.issue[0].details.text, /kein FHIR-Bundle/);

    assert.equal((await call(world, 'pkv', 'GET', `/ChargeItem/${t.id}`)).status, 404, 'nothing was stored');
    assert.equal((await post(t)).status, 201, 'the Task is still open for valid dispense data');
  });

  test('the SMC-B of another pharmacy is accepted, as the gematik FD does (it does not compare the signer with the caller)', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    const other = world.identity('pharmacy2');
    const otherOsig = world.pki.issue({ kind: 'smcb-osig', name: other.name, organization: other.name, telematikId: other.telematikId, professionOID: '1.2.276.0.76.4.54' });
    const r = await post(t, chargeItemFor(t, signedDispenseData(t, otherOsig)));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal((r.body as ChargeItem).enterer?.identifier?.value, world.identity('pharmacy').telematikId, 'the enterer is the caller');
  });

  test('PUT checks the new signature too (A_22150, A_22151-01, A_22141) and keeps the stored data when it fails', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    const first = signedDispenseData(t);
    assert.equal((await post(t, chargeItemFor(t, first))).status, 201);
    const listed = ((await call(world, 'pkv', 'GET', '/ChargeItem')).body as Bundle).entry!
      .map((e) => e.resource as ChargeItem).find((c) => c.id === t.id)!;
    const ac = listed.identifier!.find((i) => i.system === NS.accessCode)!.value!;
    const put = (data: string) => call(world, 'pharmacy', 'PUT', `/ChargeItem/${t.id}?ac=${ac}`, { body: chargeItemFor(t, data) });

    const forged = signedDispenseCms(t);
    forged[forged.length - 3] ^= 0x01;
    assertRefused(await put(forged.toString('base64')), 'A_22150', /^bad-signature/);
    const foreign = createTestPki().issue({ kind: 'smcb-osig', name: 'Fremde Apotheke', telematikId: world.identity('pharmacy').telematikId, professionOID: '1.2.276.0.76.4.54' });
    assertRefused(await put(signedDispenseData(t, foreign)), 'A_22151-01', /^untrusted-chain/);
    assertRefused(await put(signedDispenseData(t, world.qes)), 'A_22141', /^not-smcb-osig/);

    const bundle = (await call(world, 'pkv', 'GET', `/ChargeItem/${t.id}`)).body as Bundle;
    const dispense = bundle.entry!.map((e) => e.resource as Bundle).find((r) => r.meta?.profile?.[0] === DAV_BUNDLE)!;
    assert.equal(dispense.signature?.data, first, 'the stored dispense data is unchanged');
  });

  test('revoking the consent deletes the ChargeItems; the Task retention does not', async () => {
    await giveConsent();
    const kept = await completedTask(world, '200');
    assert.equal((await post(kept)).status, 201);
    // the Tasks go after 100 days, the billing information stays
    await runRetention(getDb(), { now: new Date(world.clock.now.getTime() + 101 * 86_400_000) });
    assert.equal(await getDb().db.selectFrom('fachdienst_task').select('id').where('id', '=', kept.id).executeTakeFirst(), undefined);
    const read = await call(world, 'pkv', 'GET', `/ChargeItem/${kept.id}`);
    assert.equal(read.status, 200, 'outlives its Task');
    assert.equal((read.body as Bundle).entry!.length, 4, 'with its own copies of prescription and receipt');

    assert.equal((await call(world, 'pkv', 'DELETE', `/Consent?category=${CHARGCONS}`)).status, 204);
    assert.equal((await call(world, 'pkv', 'GET', `/ChargeItem/${kept.id}`)).status, 404);
    assert.equal(((await call(world, 'pkv', 'GET', '/ChargeItem')).body as Bundle).entry, undefined);
  });

  test('AuditEvents for providing, reading and deleting, about the ChargeItem', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    assert.equal((await post(t)).status, 201);
    assert.equal((await call(world, 'pkv', 'GET', `/ChargeItem/${t.id}`)).status, 200);
    assert.equal((await call(world, 'pkv', 'DELETE', `/ChargeItem/${t.id}`)).status, 204);
    const events = ((await call(world, 'pkv', 'GET', '/AuditEvent')).body as Bundle).entry!.map((e) => e.resource as AuditEvent)
      .filter((e) => e.entity?.[0]?.what?.reference === `http://fd.test/ChargeItem/${t.id}`);
    assert.deepEqual(events.map((e) => e.action).sort(), ['C', 'D', 'R']);
    const created = events.find((e) => e.action === 'C')!;
    assert.equal(created.agent?.[0]?.who?.identifier?.value, world.identity('pharmacy').telematikId);
    assert.match(created.text!.div, new RegExp(`Abrechnungsinformationen zum E-Rezept ${t.id.replace(/\./g, '\\.')} bereitgestellt`));
  });

  test('GET /ChargeItem?entered-date filters; the gematik example request is accepted in XML', async () => {
    await giveConsent();
    const t = await completedTask(world, '200');
    const example = parseFhir(readFixture('misc/chargeitem_post_request.xml'), 'xml') as ChargeItem;
    example.id = t.id;
    example.identifier = [{ system: NS.prescriptionId, value: t.id }];
    example.subject!.identifier!.value = kvnr;
    example.enterer!.identifier!.value = world.identity('pharmacy').telematikId;
    (example.contained![0] as { data: string }).data = signedDispenseData(t);
    const r = await call(world, 'pharmacy', 'POST', `/ChargeItem?task=${t.id}&secret=${t.secret}`, { body: example, format: 'xml' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const day = world.clock.now.toISOString().slice(0, 10);
    const ids = async (q: string) => (((await call(world, 'pkv', 'GET', `/ChargeItem?${q}`)).body as Bundle).entry ?? []).map((e) => e.resource!.id);
    assert.ok((await ids(`entered-date=ge${day}`)).includes(t.id));
    assert.deepEqual(await ids('entered-date=gt2999-01-01'), []);
    assert.deepEqual(await ids('_lastUpdated=lt2000-01-01'), []);
    assert.equal((await call(world, 'pkv', 'GET', '/ChargeItem?entered-date=yesterday')).status, 400);
  });
});
