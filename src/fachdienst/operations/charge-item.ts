// ChargeItem: PKV billing information (erp-api §1.2, gematik erp_chargeItem). After $close of a PKV Task (200/209)
// the pharmacy posts the PKV dispense data it signed with its SMC-B; the Fachdienst stores it with its own copies of
// the QES-signed prescription and the receipt, so the insured can hand all three to their insurer. Allowed only
// while the insured's CHARGCONS consent exists; revoking the consent deletes the ChargeItems (consent.ts). Deleting
// one deletes the ChargChangeReq/Reply messages about it (charge-change.ts).
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { extractCadesContent } from '../../crypto/cades.ts';
import { parseFhir } from '../../fhir/codec.ts';
import { FhirError, badRequest, conflict, forbidden, notFound } from '../../fhir/errors.ts';
import { parsePrescriptionId, randomToken, secretsEqual } from '../../fhir/identifiers.ts';
import type { Binary, Bundle, BundleEntry, ChargeItem, Parameters, Resource, Signature } from '../../fhir/types.ts';
import { recordAudit } from '../audit.ts';
import { requireRole, type Caller } from '../auth.ts';
import { accessCodeOf, assertSecret, queryParam, secretOf, taskIdOf, type FachdienstContext } from '../context.ts';
import { pagingOf, parseDateFilter, queryValues, searchsetBundle } from '../search.ts';
import { NS, collectionBundle, entry, instant } from '../task-resource.ts';
import { CHRG_PROFILE, MARKING_FLAG } from '../../insured/billing.ts';
import { deleteChargeChangesOfChargeItem } from './charge-change.ts';

export const CHARGE_ITEM_PAGE_SIZE = 50;
const PKV_FLOWTYPES = ['200', '209'];
const PKV_KVNR_SYSTEM = 'http://fhir.de/sid/pkv/kvid-10';
const BRUTE_FORCE = { 'VAU-Error-Code': 'brute_force' };
/** What supportingInformation.display names: the three parts of the billing information. */
export const PART = {
  prescription: 'https://fhir.kbv.de/StructureDefinition/KBV_PR_ERP_Bundle',
  dispense: 'http://fhir.abda.de/eRezeptAbgabedaten/StructureDefinition/DAV-PKV-PR-ERP-AbgabedatenBundle',
  receipt: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Bundle',
} as const;

interface ChargeItemRow {
  id: string;
  kvnr: string;
  enterer: string;
  entered_date: Date;
  access_code: string;
  resource: ChargeItem;
  dispense_cms: Uint8Array;
  prescription_bundle: Bundle | null;
  receipt: Bundle | null;
}

function cadesSignature(der: Uint8Array, when: Date, who: Signature['who']): Signature {
  return {
    type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1' }],
    when: instant(when),
    who,
    sigFormat: 'application/pkcs7-mime',
    data: Buffer.from(der).toString('base64'),
  };
}

/**
 * The pharmacy's signed dispense data: the contained Binary that supportingInformation references. The CAdES must
 * verify and be made with the SMC-B of a pharmacy (dispense-signature.ts), and it must carry a FHIR Bundle. The
 * signer's Telematik-ID is not compared with the caller's: the gematik FD does not either (A_22141 asks for an
 * SMC-B signature, the enterer is checked against the token).
 */
async function dispenseDataOf(ctx: FachdienstContext, body: ChargeItem, operation: 'POST' | 'PUT', now: Date): Promise<Buffer> {
  const local = (body.supportingInformation ?? []).map((r) => r.reference).filter((r): r is string => r?.startsWith('#') === true);
  const binary = (body.contained ?? []).find((r) => r.resourceType === 'Binary' && local.includes(`#${r.id}`)) as Binary | undefined;
  if (!binary?.data) throw badRequest('ChargeItem braucht den signierten PKV-Abgabedatensatz als contained Binary (supportingInformation #id)');
  if (binary.contentType !== 'application/pkcs7-mime') throw badRequest('PKV-Abgabedatensatz: contentType muss application/pkcs7-mime sein');
  const der = Buffer.from(binary.data, 'base64');
  const signed = await ctx.verifyDispenseSignature(der, { operation, now });
  bundleOf(signed.content, () => badRequest('PKV-Abgabedatensatz: der signierte Inhalt ist kein FHIR-Bundle', { headers: { 'VAU-Error-Code': 'invalid_dispense' } }));
  return der;
}

/** The Bundle inside the signed dispense data. */
function dispenseBundleOf(der: Uint8Array, fail: () => FhirError): Bundle {
  let content: Buffer;
  try {
    content = extractCadesContent(Buffer.from(der));
  } catch {
    throw fail();
  }
  return bundleOf(content, fail);
}

function bundleOf(content: Buffer, fail: () => FhirError): Bundle {
  let bundle: Resource;
  try {
    const text = content.toString('utf8');
    bundle = parseFhir(text, text.trimStart().startsWith('<') ? 'xml' : 'json');
  } catch {
    throw fail();
  }
  if (bundle.resourceType !== 'Bundle') throw fail();
  return bundle;
}

const MARKS = ['insuranceProvider', 'subsidy', 'taxOffice'] as const;
type Mark = (typeof MARKS)[number];
const MARK_PATH = /^ChargeItem\.extension\('([^']+)'\)\.extension\('([A-Za-z]+)'\)$/;

/** The flags a PATCH sets: Parameters with `operation` add/replace of MarkingFlag sub-extensions, nothing else. */
function markingFlagPatch(body: Parameters | undefined): Partial<Record<Mark, boolean>> {
  if (body?.resourceType !== 'Parameters' || !body.parameter?.length) throw badRequest('PATCH erwartet Parameters mit operation');
  const flags: Partial<Record<Mark, boolean>> = {};
  for (const op of body.parameter) {
    const part = (name: string) => op.part?.find((p) => p.name === name);
    const type = part('type')?.valueCode;
    const m = MARK_PATH.exec(part('path')?.valueString ?? '');
    const mark = m?.[2] as Mark | undefined;
    const value = part('value')?.valueBoolean;
    if (op.name !== 'operation' || (type !== 'add' && type !== 'replace')) throw badRequest('Nur operation add/replace ist erlaubt');
    if (!m || m[1] !== MARKING_FLAG || !MARKS.includes(mark!)) throw badRequest('Nur die Markierungen (MarkingFlag) dürfen geändert werden');
    if (part('name')?.valueString !== 'valueBoolean' || typeof value !== 'boolean') throw badRequest('Markierungen sind valueBoolean');
    flags[mark!] = value;
  }
  return flags;
}

function withMarkingFlags(item: ChargeItem, flags: Partial<Record<Mark, boolean>>): ChargeItem {
  const current = new Map(item.extension?.find((e) => e.url === MARKING_FLAG)?.extension?.map((e) => [e.url, e.valueBoolean]));
  const marking = { url: MARKING_FLAG, extension: MARKS.map((url) => ({ url, valueBoolean: flags[url] ?? current.get(url) ?? false })) };
  return { ...item, extension: [...(item.extension ?? []).filter((e) => e.url !== MARKING_FLAG), marking] };
}

/** The ChargeItem as the insured (with AccessCode) or a pharmacy (without) sees it. */
function view(item: ChargeItem, withAccessCode: boolean): ChargeItem {
  const c = structuredClone(item);
  if (!withAccessCode) c.identifier = c.identifier?.filter((i) => i.system !== NS.accessCode);
  return c;
}

/** ChargeItem and the parts it references, as GET /ChargeItem/{id} answers (the pharmacy gets no receipt). */
function chargeItemBundle(ctx: FachdienstContext, row: ChargeItemRow, caller: Caller, now: Date): Bundle {
  const item = view(row.resource, caller.role === 'insured');
  const urls = new Map((item.supportingInformation ?? []).map((s) => [s.display, s.reference ?? '']));
  const dispense = dispenseBundleOf(row.dispense_cms, () => new FhirError(500, 'Gespeicherter PKV-Abgabedatensatz ist nicht lesbar'));
  dispense.signature = cadesSignature(row.dispense_cms, new Date(row.entered_date), { identifier: { system: NS.telematikId, value: row.enterer } });
  const entries: BundleEntry[] = [entry(`${ctx.baseUrl}/ChargeItem/${row.id}`, item)];
  if (row.prescription_bundle) entries.push(entry(urls.get(PART.prescription)!, row.prescription_bundle));
  entries.push(entry(urls.get(PART.dispense)!, dispense));
  if (caller.role === 'insured' && row.receipt) entries.push(entry(urls.get(PART.receipt)!, row.receipt));
  return collectionBundle(randomUUID(), `${ctx.baseUrl}/ChargeItem/${row.id}`, entries, now);
}

export function registerChargeItem(app: FastifyInstance, ctx: FachdienstContext): void {
  const db = () => ctx.store.database.db;

  app.post('/ChargeItem', async (request, reply) => {
    const caller = requireRole(request, ['pharmacy']);
    const taskId = queryParam(request, 'task');
    if (!taskId) throw badRequest('URL-Parameter task fehlt');
    const parsed = parsePrescriptionId(taskId);
    if (!parsed) throw badRequest(`task=${taskId} ist keine gültige Rezept-ID`);
    if (!PKV_FLOWTYPES.includes(parsed.flowType)) throw badRequest('Abrechnungsinformationen gibt es nur für PKV-Rezepte (Flowtype 200, 209)');
    const body = request.body as ChargeItem | undefined;
    if (body?.resourceType !== 'ChargeItem') throw badRequest('ChargeItem erwartet');
    const now = ctx.now();
    const task = await ctx.store.getTask(taskId);
    if (!task) throw notFound(`Task ${taskId} nicht gefunden`);
    if (task.status !== 'completed') throw conflict(`Task ist nicht im Status completed, sondern ${task.status}`);
    assertSecret(task, secretOf(request));
    const kvnr = task.kvnr!;
    const bodyId = body.identifier?.find((i) => i.system === NS.prescriptionId)?.value;
    if (bodyId !== undefined && bodyId !== taskId) throw badRequest('ChargeItem.identifier passt nicht zum Task');
    const subject = body.subject?.identifier;
    if (subject?.value !== undefined && subject.value !== kvnr) throw badRequest('ChargeItem.subject passt nicht zum Task');
    const enterer = body.enterer?.identifier?.value;
    if (enterer !== undefined && enterer !== caller.id) throw badRequest('ChargeItem.enterer ist nicht die Telematik-ID der Apotheke');
    const dispenseCms = await dispenseDataOf(ctx, body, 'POST', now);
    const accessCode = randomToken();
    const item: ChargeItem = {
      resourceType: 'ChargeItem',
      id: taskId,
      meta: { profile: [CHRG_PROFILE('GEM_ERPCHRG_PR_ChargeItem')] },
      identifier: [{ system: NS.prescriptionId, value: taskId }, { system: NS.accessCode, value: accessCode }],
      status: 'billable',
      code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable' }] },
      subject: { identifier: { system: PKV_KVNR_SYSTEM, value: kvnr, ...(subject?.assigner ? { assigner: subject.assigner } : {}) } },
      enterer: { identifier: { system: NS.telematikId, value: caller.id } },
      enteredDate: instant(now),
      supportingInformation: (['prescription', 'dispense', 'receipt'] as const)
        .map((p) => ({ reference: `urn:uuid:${randomUUID()}`, display: PART[p] })),
    };
    // the prescription with its QES, as the insured's insurer needs it
    const qes = task.prescriptionCms ? cadesSignature(task.prescriptionCms, task.authoredOn, { reference: `${ctx.baseUrl}/Task/${taskId}` }) : undefined;
    const prescription = task.bundle ? { ...(task.bundle as Bundle), ...(qes ? { signature: qes } : {}) } : null;
    await ctx.store.database.transaction(async (tx) => {
      // locks the consent: a concurrent revocation waits and then deletes this ChargeItem too
      const consent = await tx.selectFrom('fachdienst_consent').select('kvnr').where('kvnr', '=', kvnr).forUpdate().executeTakeFirst();
      if (!consent) throw forbidden('Es liegt keine Einwilligung des Versicherten zum Speichern der Abrechnungsinformationen vor');
      const rows = await tx.insertInto('fachdienst_charge_item').values({
        id: taskId, kvnr, enterer: caller.id, entered_date: now, access_code: accessCode, resource: JSON.stringify(item),
        dispense_cms: dispenseCms, prescription_bundle: prescription ? JSON.stringify(prescription) : null,
        receipt: task.receipt ? JSON.stringify(task.receipt) : null,
      }).onConflict((oc) => oc.column('id').doNothing()).returning('id').execute();
      if (rows.length === 0) throw conflict(`Zum E-Rezept ${taskId} gibt es bereits Abrechnungsinformationen`);
      await recordAudit(tx, { kind: 'charge-item-create', kvnr, prescriptionId: taskId, caller, recorded: now, baseUrl: ctx.baseUrl });
    });
    reply.header('Location', `${ctx.baseUrl}/ChargeItem/${taskId}`);
    return reply.fhir(view(item, false), 201);
  });

  app.get('/ChargeItem', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const paging = pagingOf(request, CHARGE_ITEM_PAGE_SIZE);
    let q = db().selectFrom('fachdienst_charge_item').select(['id', 'resource']).where('kvnr', '=', caller.id);
    // _lastUpdated: no change time is kept (PUT replaces only the signed dispense data), so it filters on entered-date
    for (const name of ['entered-date', '_lastUpdated']) {
      for (const raw of queryValues(request, name)) {
        const f = parseDateFilter(name, raw);
        if (f.op === '>' || f.op === '>=') q = q.where('entered_date', '>=', f.op === '>' ? f.end : f.start);
        else if (f.op === '<' || f.op === '<=') q = q.where('entered_date', '<', f.op === '<' ? f.start : f.end);
        else if (f.op === '<>') q = q.where((eb) => eb.or([eb('entered_date', '<', f.start), eb('entered_date', '>=', f.end)]));
        else q = q.where('entered_date', '>=', f.start).where('entered_date', '<', f.end);
      }
    }
    const rows = await q.orderBy('entered_date', 'desc').orderBy('id').offset(paging.offset).limit(paging.count + 1).execute();
    const entries = rows.slice(0, paging.count).map((r) => {
      // the list carries neither enterer nor the referenced parts (GET /ChargeItem/{id} has them)
      const c = r.resource as ChargeItem;
      delete c.enterer;
      c.supportingInformation = c.supportingInformation?.map((s) => ({ display: s.display }));
      return { fullUrl: `${ctx.baseUrl}/ChargeItem/${r.id}`, resource: c };
    });
    return reply.fhir(searchsetBundle(request, ctx.baseUrl, '/ChargeItem', entries, paging, rows.length > paging.count, ctx.now()));
  });

  app.get('/ChargeItem/:id', async (request, reply) => {
    const caller = requireRole(request, ['insured', 'pharmacy']);
    const id = taskIdOf(request);
    const row = await db().selectFrom('fachdienst_charge_item').selectAll().where('id', '=', id).executeTakeFirst() as ChargeItemRow | undefined;
    if (!row) throw notFound(`ChargeItem ${id} nicht gefunden`);
    if (caller.role === 'insured' && row.kvnr !== caller.id) throw forbidden('Das ChargeItem gehört nicht zum Versicherten');
    if (caller.role === 'pharmacy' && !secretsEqual(row.access_code, accessCodeOf(request))) {
      throw forbidden('AccessCode mismatch', { headers: BRUTE_FORCE });
    }
    const now = ctx.now();
    const bundle = chargeItemBundle(ctx, row, caller, now);
    await recordAudit(db(), { kind: 'charge-item-read', kvnr: row.kvnr, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
    return reply.fhir(bundle);
  });

  // The insured asked the pharmacy to correct its dispense data and gave it the ChargeItem's AccessCode: the new
  // signed data replaces the old (no versions are kept).
  app.put('/ChargeItem/:id', async (request, reply) => {
    const caller = requireRole(request, ['pharmacy']);
    const id = taskIdOf(request);
    const body = request.body as ChargeItem | undefined;
    if (body?.resourceType !== 'ChargeItem') throw badRequest('ChargeItem erwartet');
    if (body.id !== undefined && body.id !== id) throw badRequest('ChargeItem.id passt nicht zur URL');
    const now = ctx.now();
    // verified before the row lock (OCSP may take a while); AccessCode and enterer are checked under it
    const dispenseCms = await dispenseDataOf(ctx, body, 'PUT', now);
    const item = await ctx.store.database.transaction(async (tx) => {
      const row = await tx.selectFrom('fachdienst_charge_item').select(['kvnr', 'enterer', 'access_code', 'resource'])
        .where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) throw notFound(`ChargeItem ${id} nicht gefunden`);
      if (!secretsEqual(row.access_code, accessCodeOf(request))) throw forbidden('AccessCode mismatch', { headers: BRUTE_FORCE });
      if (row.enterer !== caller.id) throw forbidden('Nur die Apotheke, die die Abrechnungsinformationen bereitgestellt hat, darf sie ändern');
      // (a ChargeItem exists only while the consent does: revoking deletes it)
      await tx.updateTable('fachdienst_charge_item').set({ dispense_cms: dispenseCms }).where('id', '=', id).execute();
      await recordAudit(tx, { kind: 'charge-item-update', kvnr: row.kvnr, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
      return row.resource as ChargeItem;
    });
    return reply.fhir(view(item, false));
  });

  // The insured marks where they have handed in the billing information (FHIRPath Patch on the MarkingFlag only).
  app.patch('/ChargeItem/:id', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const id = taskIdOf(request);
    const flags = markingFlagPatch(request.body as Parameters | undefined);
    const now = ctx.now();
    const item = await ctx.store.database.transaction(async (tx) => {
      const row = await tx.selectFrom('fachdienst_charge_item').select(['kvnr', 'resource']).where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) throw notFound(`ChargeItem ${id} nicht gefunden`);
      if (row.kvnr !== caller.id) throw forbidden('Das ChargeItem gehört nicht zum Versicherten');
      const updated = withMarkingFlags(row.resource as ChargeItem, flags);
      await tx.updateTable('fachdienst_charge_item').set({ resource: JSON.stringify(updated) }).where('id', '=', id).execute();
      await recordAudit(tx, { kind: 'charge-item-update', kvnr: caller.id, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
      return updated;
    });
    return reply.fhir(view(item, true));
  });

  app.delete('/ChargeItem/:id', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const id = taskIdOf(request);
    const now = ctx.now();
    await ctx.store.database.transaction(async (tx) => {
      const row = await tx.selectFrom('fachdienst_charge_item').select('kvnr').where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) throw notFound(`ChargeItem ${id} nicht gefunden`);
      if (row.kvnr !== caller.id) throw forbidden('Das ChargeItem gehört nicht zum Versicherten');
      await tx.deleteFrom('fachdienst_charge_item').where('id', '=', id).execute();
      await deleteChargeChangesOfChargeItem(tx, id);
      await recordAudit(tx, { kind: 'charge-item-delete', kvnr: caller.id, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
    });
    return reply.code(204).send();
  });

  app.delete('/ChargeItem', async () => {
    throw new FhirError(405, 'ChargeItems werden einzeln gelöscht: DELETE /ChargeItem/{id}', { headers: { Allow: 'GET, POST' } });
  });
}
