// The practice's RED-interchange-compatible API (XML FHIR, tenant first in the path) and the JSON API of the
// physician's signing UI. See README.md for the contract.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { extractCadesContent } from '../crypto/cades.ts';
import { parseXml } from '../fhir/codec.ts';
import { FhirError, badRequest, notFound } from '../fhir/errors.ts';
import { isValidTelematikId } from '../fhir/identifiers.ts';
import type { Bundle, Task } from '../fhir/types.ts';
import { contentTypeOf, createFhirServer } from '../http/fhir-server.ts';
import { newUserId, type KonnektorClient } from '../konnektor/client.ts';
import type { Database } from '../storage/database.ts';
import { BatchSigner, type BatchResult, type Tenant } from './batch-signing.ts';
import { FachdienstCallError } from './fachdienst-client.ts';
import { checkPrescriptionRequest, flowTypeOf } from './intake.ts';
import { renderPrintout } from './printout.ts';
import { parseRedMinute } from './red-dates.ts';
import { NS_ACCESS_CODE, NS_PRESCRIPTION_ID, cardsXml, prescriptionsXml, taskSearchsetXml } from './red-xml.ts';
import { PracticeStore, type PracticeRequest, type RequestStatus, type RequestSummary } from './store.ts';

export const PAGE_SIZE = 10;
const XML = 'application/xml;charset=utf-8';

export interface PracticeAppOptions {
  database: Database;
  konnektor: KonnektorClient;
  tenants: Tenant[];
  /** ERX_PIN_PROMPT=1: signing needs the PIN from the UI (or an active comfort signature). */
  pinPrompt: boolean;
  instanceId?: string;
  claimLeaseMs?: number;
  now?: () => Date;
  /** Called when activations queued outbox messages (wakes the sender). */
  onOutbox?: () => void;
  logger?: FastifyServerOptions['logger'];
}

export interface PracticeApp {
  app: FastifyInstance;
  store: PracticeStore;
  signer: BatchSigner;
}

declare module 'fastify' {
  interface FastifyRequest {
    practiceTenant?: Tenant;
  }
}

const queryOf = (request: FastifyRequest) => (request.query ?? {}) as Record<string, string | undefined>;
const flag = (v: string | undefined) => v !== undefined && !['0', 'false', 'no'].includes(v.toLowerCase());

/** The Task a third-party system sees for a finished request (RED Task list entry). */
export function redTask(r: RequestSummary): Task {
  const failed = r.status === 'failed';
  const task: Task = {
    resourceType: 'Task',
    id: r.id,
    identifier: [
      ...(r.prescriptionId ? [{ use: 'official' as const, system: NS_PRESCRIPTION_ID, value: r.prescriptionId }] : []),
      ...(r.accessCode && !failed ? [{ use: 'official' as const, system: NS_ACCESS_CODE, value: r.accessCode }] : []),
    ],
    basedOn: [{ reference: `MedicationRequest/${r.id}` }],
    status: failed ? 'failed' : r.status === 'pending' || r.status === 'signing' ? 'draft' : 'ready',
    ...(failed && r.error ? { statusReason: { text: r.error } } : {}),
    intent: 'order',
    ...(r.authoredOn ? { authoredOn: r.authoredOn } : {}),
  };
  if (task.identifier!.length === 0) delete task.identifier;
  return task;
}

function uiView(r: RequestSummary) {
  return {
    id: r.id, status: r.status, flowType: r.flowType, pharmacy: r.pharmacy, patient: r.patient, medication: r.medication,
    requestingSystem: r.requestingSystem, receivedAt: r.receivedAt.toISOString(), prescriptionId: r.prescriptionId,
    authoredOn: r.authoredOn, completedAt: r.completedAt?.toISOString() ?? null, error: r.error,
  };
}

/** What the physician signed (from the stored CMS, which envelops it) once signed, else the bundle as received. */
function signedBundle(r: PracticeRequest): Bundle {
  return r.cms ? (parseXml(extractCadesContent(r.cms).toString('utf8')) as Bundle) : r.bundle;
}

function sendXml(reply: FastifyReply, xml: string, status = 200) {
  return reply.code(status).header('content-type', XML).send(xml);
}

function fachdienstError(err: unknown): FhirError {
  if (err instanceof FachdienstCallError) return new FhirError(err.status === 0 ? 503 : err.status, `Fachdienst: ${err.message}`, { code: err.retryable ? 'transient' : 'processing' });
  return err instanceof FhirError ? err : new FhirError(500, 'Interner Fehler', { code: 'exception' });
}

export async function createPracticeApp(options: PracticeAppOptions): Promise<PracticeApp> {
  const store = new PracticeStore(options.database);
  const signer = new BatchSigner({
    store, konnektor: options.konnektor, pinPrompt: options.pinPrompt, instanceId: options.instanceId,
    claimLeaseMs: options.claimLeaseMs, now: options.now,
  });
  const tenants = new Map(options.tenants.map((t) => [t.name, t]));
  const app = createFhirServer({ logger: options.logger, defaultFormat: 'xml' });

  // RED speaks XML: without an explicit choice answers (and errors) are XML.
  app.addHook('onRequest', async (request) => {
    const accept = request.headers.accept?.trim();
    if (queryOf(request)._format === undefined && (!accept || accept === '*/*')) request.headers.accept = 'application/fhir+xml';
  });
  app.addHook('preHandler', async (request) => {
    const name = (request.params as { tenant?: string } | undefined)?.tenant;
    if (name === undefined) return;
    const tenant = tenants.get(name);
    if (!tenant) throw notFound(`Unbekannter Mandant ${name}`);
    request.practiceTenant = tenant;
  });
  const tenantOf = (request: FastifyRequest) => request.practiceTenant!;

  async function runBatch(tenant: Tenant, request: Parameters<BatchSigner['start']>[1]): Promise<BatchResult> {
    const { done } = await signer.start(tenant, request);
    const result = await done;
    if (result.requests.some((r) => r.status === 'activated')) options.onOutbox?.();
    return result;
  }

  // --- RED interchange API ------------------------------------------------------------------------------------

  app.post('/:tenant/TI', async (request, reply) => {
    const q = queryOf(request);
    if (q.action !== '$createerptask') throw badRequest(`action=${q.action ?? ''} wird für POST /TI nicht unterstützt ($createerptask)`, { code: 'not-supported' });
    const tenant = tenantOf(request);
    const checked = checkPrescriptionRequest(request.body, { pharmacy: q.pharmacy, now: options.now?.() });
    const { created, request: stored } = await store.insertRequest({
      tenant: tenant.name, id: checked.id, flowType: checked.flowType, pharmacy: q.pharmacy, bundle: request.body as Bundle,
      patient: checked.patient, medication: checked.medication, requestingSystem: request.headers['user-agent'],
    });
    return reply.fhir(redTask(stored), created ? 201 : 200);
  });

  app.get('/:tenant/TI', async (request, reply) => {
    const q = queryOf(request);
    const tenant = tenantOf(request);
    if (q.action === '$getcards') {
      let cards;
      try {
        cards = await options.konnektor.getCards({ ctId: q.cardreader });
      } catch (err) {
        throw new FhirError(503, `Konnektor: ${(err as Error).message}`, { code: 'transient' });
      }
      return sendXml(reply, cardsXml(cards.filter((c) => c.CardType === 'HBA' || c.CardType === 'SMC-B')));
    }
    if (q.action === '$processerp') {
      const result = await runBatch(tenant, { pin: q.pin, hbaIccsn: q.hbaiccsn, cardName: q.cardname });
      const signed = result.requests.filter((r) => r.status === 'activated' || r.status === 'done');
      if (result.error && signed.length === 0) throw result.error;
      return sendXml(reply, prescriptionsXml(signed.map((r) => ({ patient: r.patient, medication: r.medication, prescriptionId: r.prescriptionId!, accessCode: r.accessCode! }))));
    }
    throw badRequest(`action=${q.action ?? ''} wird für GET /TI nicht unterstützt ($processerp, $getcards)`, { code: 'not-supported' });
  });

  app.post('/:tenant/Bundle', async (request, reply) => {
    const q = queryOf(request);
    if (q.action !== '$createerp') throw badRequest(`action=${q.action ?? ''} wird für POST /Bundle nicht unterstützt ($createerp)`, { code: 'not-supported' });
    const tenant = tenantOf(request);
    const smcb = q.smcbiccsn ?? q.smbiccsn;
    if (smcb) {
      const cards = await options.konnektor.getCards({ cardType: 'SMC-B' }).catch(() => []);
      if (!cards.some((c) => c.Iccsn === smcb)) throw new FhirError(409, `Keine SMC-B mit ICCSN ${smcb} gesteckt`, { code: 'business-rule' });
    }
    const checked = checkPrescriptionRequest(request.body, { pharmacy: q.pharmacy, now: options.now?.() });
    const { created } = await store.insertRequest({
      tenant: tenant.name, id: checked.id, flowType: checked.flowType, pharmacy: q.pharmacy, bundle: request.body as Bundle,
      patient: checked.patient, medication: checked.medication, requestingSystem: request.headers['user-agent'],
    });
    let current = (await store.getRequest(tenant.name, checked.id))!;
    if (current.status === 'pending' || current.status === 'signing') {
      const result = await runBatch(tenant, { ids: [checked.id], pin: q.pin, hbaIccsn: q.hbaiccsn, cardName: q.cardname });
      current = (await store.getRequest(tenant.name, checked.id))!;
      if (current.status === 'pending' || current.status === 'signing') throw result.error ?? new FhirError(503, current.error ?? 'Verordnung konnte nicht signiert werden', { code: 'transient' });
    }
    if (current.status === 'failed') throw new FhirError(422, current.error ?? 'Verordnung fehlgeschlagen', { code: 'processing' });
    const task = redTask(current);
    if (!flag(q.patientdocument)) return reply.fhir(task, created ? 201 : 200);
    const pdf = await renderPrintout(current.patient, [{ medication: current.medication, prescriptionId: current.prescriptionId!, accessCode: current.accessCode! }]);
    const bundle: Bundle = {
      resourceType: 'Bundle', id: randomUUID(), type: 'collection',
      entry: [{ resource: task }, { resource: { resourceType: 'Binary', contentType: 'application/pdf', data: Buffer.from(pdf).toString('base64') } }],
    };
    return reply.fhir(bundle, created ? 201 : 200);
  });

  app.get('/:tenant/Task', async (request, reply) => {
    const q = queryOf(request);
    const tenant = tenantOf(request);
    if (q.action === '$abort' || q.action === '$reject') return taskOperation(request, reply, tenant, q.action);
    if (q.action !== undefined) throw badRequest(`action=${q.action} wird für GET /Task nicht unterstützt ($abort, $reject)`, { code: 'not-supported' });
    const from = parseRedMinute(q.from, 'from');
    const to = new Date(parseRedMinute(q.to, 'to').getTime() + 60_000);
    if (to <= from) throw badRequest('to darf nicht vor from liegen', { code: 'value', expression: ['to'] });
    const pageText = q.page ?? '1';
    if (!/^[1-9]\d{0,5}$/.test(pageText)) throw badRequest('page muss eine ganze Zahl ab 1 sein', { code: 'value', expression: ['page'] });
    const page = Number(pageText);
    const { total, items } = await store.completedPage(tenant.name, from, to, (page - 1) * PAGE_SIZE, PAGE_SIZE);
    const self = `/${tenant.name}/Task?from=${q.from}&to=${q.to}&page=${page}`;
    const bundle: Bundle = {
      resourceType: 'Bundle', id: randomUUID(), type: 'searchset', total,
      link: [
        { relation: 'self', url: self },
        ...(page * PAGE_SIZE < total ? [{ relation: 'next', url: `/${tenant.name}/Task?from=${q.from}&to=${q.to}&page=${page + 1}` }] : []),
      ],
      entry: items.map((r) => ({ resource: redTask(r) })),
    };
    if (q._format && /json/.test(q._format)) return reply.fhir(bundle);
    return reply.code(200).header('content-type', contentTypeOf('xml')).send(taskSearchsetXml(bundle, flag(q.fhirstrict)));
  });

  async function taskOperation(request: FastifyRequest, reply: FastifyReply, tenant: Tenant, action: '$abort' | '$reject') {
    const q = queryOf(request);
    const prescriptionId = q.prescriptionid;
    if (!prescriptionId) throw badRequest('prescriptionid fehlt', { code: 'required', expression: ['prescriptionid'] });
    try {
      if (action === '$reject') {
        if (tenant.practice.role !== 'pharmacy') throw new FhirError(403, '$reject ist eine Aktion der Apotheke (Apotheken-SMC-B erforderlich)', { code: 'forbidden' });
        const secret = q.secret ?? q.accesscode;
        if (!secret) throw badRequest('secret (oder accesscode) fehlt', { code: 'required', expression: ['secret'] });
        await tenant.fachdienst.rejectTask(prescriptionId, secret);
        return reply.code(204).send();
      }
      let accessCode = q.accesscode;
      if (!accessCode) {
        const own = await options.database.db.selectFrom('practice_request').select('access_code')
          .where('tenant', '=', tenant.name).where('prescription_id', '=', prescriptionId).executeTakeFirst();
        accessCode = own?.access_code ?? undefined;
      }
      if (!accessCode) throw badRequest('accesscode fehlt und die Verordnung ist hier nicht bekannt', { code: 'required', expression: ['accesscode'] });
      await tenant.fachdienst.abortTask(prescriptionId, accessCode);
      return reply.code(200).header('content-type', XML).send('');
    } catch (err) {
      throw fachdienstError(err);
    }
  }

  // --- Webhooks and the signing UI's JSON API --------------------------------------------------------------------

  await app.register(async (ui) => {
    // Plain JSON bodies here, not FHIR resources.
    ui.removeContentTypeParser(['application/json']);
    ui.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, (body as string).trim() === '' ? {} : JSON.parse(body as string));
      } catch {
        done(badRequest('Body ist kein JSON', { code: 'structure' }), undefined);
      }
    });
    ui.addHook('onRequest', async (request) => {
      if (!request.headers.accept || request.headers.accept === 'application/fhir+xml') request.headers.accept = 'application/json';
    });

    ui.post('/:tenant/webhooks', async (request, reply) => {
      const url = (request.body as { url?: unknown } | undefined)?.url;
      if (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url)) throw badRequest('Body {"url": "http(s)://…"} erwartet', { expression: ['url'] });
      await store.setWebhookUrl(tenantOf(request).name, url);
      return reply.code(201).send({ url });
    });

    ui.get('/:tenant/ui/requests', async (request) => {
      const status = queryOf(request).status;
      const allowed: RequestStatus[] = ['pending', 'signing', 'activated', 'done', 'failed'];
      const statuses = status ? status.split(',') : undefined;
      if (statuses?.some((s) => !allowed.includes(s as RequestStatus))) throw badRequest(`status muss aus ${allowed.join(', ')} sein`, { expression: ['status'] });
      return (await store.listRequests(tenantOf(request).name, statuses as RequestStatus[] | undefined)).map(uiView);
    });

    ui.get('/:tenant/ui/requests/:id', async (request) => {
      const r = await store.getRequest(tenantOf(request).name, (request.params as { id: string }).id);
      if (!r) throw notFound('Keine solche Verordnungsanfrage');
      return { ...uiView(r), bundle: signedBundle(r) };
    });

    ui.get('/:tenant/ui/requests/:id/printout.pdf', async (request, reply) => {
      const r = await store.getRequest(tenantOf(request).name, (request.params as { id: string }).id);
      if (!r) throw notFound('Keine solche Verordnungsanfrage');
      if (!r.prescriptionId || !r.accessCode || (r.status !== 'activated' && r.status !== 'done')) {
        throw new FhirError(409, 'Der Ausdruck gibt es erst, wenn die Verordnung signiert und eingestellt ist', { code: 'business-rule' });
      }
      const pdf = await renderPrintout(r.patient, [{ medication: r.medication, prescriptionId: r.prescriptionId, accessCode: r.accessCode }]);
      return reply.code(200).header('content-type', 'application/pdf').send(Buffer.from(pdf));
    });

    ui.post('/:tenant/ui/requests/:id/pharmacy', async (request) => {
      const tenant = tenantOf(request);
      const id = (request.params as { id: string }).id;
      const telematikId = (request.body as { telematikId?: unknown } | undefined)?.telematikId;
      if (telematikId !== null && (typeof telematikId !== 'string' || !isValidTelematikId(telematikId))) {
        throw badRequest('Body {"telematikId": "<Telematik-ID der Apotheke>" | null} erwartet', { expression: ['telematikId'] });
      }
      const r = await store.getRequest(tenant.name, id);
      if (!r) throw notFound('Keine solche Verordnungsanfrage');
      const coverageType = r.flowType === '200' || r.flowType === '209' ? 'PKV' : 'GKV';
      const ok = await store.setPharmacy(tenant.name, id, telematikId, flowTypeOf(coverageType, telematikId ?? undefined));
      if (!ok) throw new FhirError(409, 'Die Apotheke kann nur vor dem Signieren gewählt werden', { code: 'business-rule' });
      return uiView((await store.getRequest(tenant.name, id))!);
    });

    ui.post('/:tenant/ui/sign', async (request, reply) => {
      const tenant = tenantOf(request);
      const body = (request.body ?? {}) as { ids?: unknown; pin?: unknown };
      if (body.ids !== undefined && (!Array.isArray(body.ids) || body.ids.some((i) => typeof i !== 'string'))) throw badRequest('ids muss eine Liste von Ids sein', { expression: ['ids'] });
      if (body.pin !== undefined && typeof body.pin !== 'string') throw badRequest('pin muss ein Text sein', { expression: ['pin'] });
      const ids = body.ids as string[] | undefined;
      if (ids) await store.retry(tenant.name, ids);
      const { batchId, total, done } = await signer.start(tenant, { ids, pin: body.pin as string | undefined });
      done.then((r) => {
        if (r.requests.some((x) => x.status === 'activated')) options.onOutbox?.();
      }, (err) => request.log.error({ err: String(err) }, 'batch failed'));
      return reply.code(202).send({ batchId, total });
    });

    ui.get('/:tenant/ui/batches/:batchId', async (request) => {
      const progress = await store.batchProgress(tenantOf(request).name, (request.params as { batchId: string }).batchId);
      if (!progress) throw notFound('Kein solcher Stapel');
      return progress;
    });

    async function hbaHandle(): Promise<string> {
      const cards = await options.konnektor.getCards({ cardType: 'HBA' });
      if (!cards[0]) throw new FhirError(409, 'Kein HBA im Kartenterminal', { code: 'business-rule' });
      return cards[0].CardHandle;
    }

    async function signatureMode(tenant: Tenant) {
      const { comfortUserId } = await store.settings(tenant.name);
      const base = { pinPrompt: options.pinPrompt };
      if (!comfortUserId) return { ...base, mode: 'pin' as const };
      const info = await options.konnektor.getSignatureMode(await hbaHandle(), comfortUserId).catch(() => undefined);
      return { ...base, mode: 'comfort' as const, comfort: info ?? null };
    }

    ui.post('/:tenant/ui/comfort', async (request) => {
      const tenant = tenantOf(request);
      const body = (request.body ?? {}) as { on?: unknown; pin?: unknown };
      if (typeof body.on !== 'boolean') throw badRequest('Body {"on": true|false, "pin"?: "…"} erwartet', { expression: ['on'] });
      if (body.pin !== undefined && typeof body.pin !== 'string') throw badRequest('pin muss ein Text sein', { expression: ['pin'] });
      if (body.on && options.pinPrompt && !body.pin) throw badRequest('Zum Einschalten der Komfortsignatur die HBA-PIN angeben', { code: 'required', expression: ['pin'] });
      const handle = await hbaHandle();
      try {
        if (body.on) {
          const userId = newUserId();
          await options.konnektor.activateComfortSignature(handle, userId, body.pin as string | undefined);
          await store.setComfortUserId(tenant.name, userId);
        } else {
          const { comfortUserId } = await store.settings(tenant.name);
          if (comfortUserId) await options.konnektor.deactivateComfortSignature(handle, comfortUserId);
          await store.setComfortUserId(tenant.name, null);
        }
      } catch (err) {
        if (err instanceof FhirError) throw err;
        throw new FhirError(409, `Konnektor: ${(err as Error).message}`, { code: 'security' });
      }
      return signatureMode(tenant);
    });

    ui.get('/:tenant/ui/signature-mode', async (request) => signatureMode(tenantOf(request)));
  });

  return { app, store, signer };
}

