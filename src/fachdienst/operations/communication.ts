// POST/GET/DELETE /Communication: messages about a prescription between insured and pharmacy (DispReq, Reply),
// between insured (Representative) and from the payer (DiGA), and about a PKV ChargeItem between the insured and the
// pharmacy that provided it (ChargChangeReq/Reply, charge-change.ts). Who may send what to whom follows the FD's
// CommunicationPostHandler (erp-api §8.2). The first GET by the recipient sets `received`.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FhirError, badRequest, forbidden, notFound } from '../../fhir/errors.ts';
import { isValidKvnr, parsePrescriptionId, secretsEqual } from '../../fhir/identifiers.ts';
import { berlinDay } from '../../fhir/kbv/dates.ts';
import type { Communication } from '../../fhir/types.ts';
import { requireRole, type Caller } from '../auth.ts';
import type { FachdienstContext } from '../context.ts';
import { pagingOf, parseDateFilter, queryValues, searchsetBundle } from '../search.ts';
import { NS, instant } from '../task-resource.ts';
import type { TaskRecord } from '../task-store.ts';
import { PROVIDER_STEERED_FLOWTYPES } from '../task-state.ts';
import { chargeChangeKindOf, checkChargeChange, isChargeChange, type ChargeChangeKind } from './charge-change.ts';

type TaskCommunicationKind = 'DispReq' | 'Reply' | 'Representative' | 'DiGA';
export type CommunicationKind = TaskCommunicationKind | ChargeChangeKind;
const KINDS: TaskCommunicationKind[] = ['DispReq', 'Reply', 'Representative', 'DiGA'];
export const COMMUNICATION_PAGE_SIZE = 50;
/** A_20229-01: at most 10 Representative messages per sender, recipient and Task. */
export const MAX_REPRESENTATIVE_MESSAGES = 10;

const PROFILE_PREFIX = 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Communication_';

export function kindOf(c: Communication): CommunicationKind {
  const profile = c.meta?.profile?.[0] ?? '';
  if (profile.startsWith(`${PROFILE_PREFIX}InfoReq`)) throw badRequest('Communication InfoReq wird nicht mehr unterstützt');
  const chargeChange = chargeChangeKindOf(profile);
  if (chargeChange) return chargeChange;
  const kind = KINDS.find((k) => profile.startsWith(`${PROFILE_PREFIX}${k}|`) || profile === `${PROFILE_PREFIX}${k}`);
  if (!kind) throw badRequest(`Unbekanntes Communication-Profil ${profile || '(keins)'}`);
  return kind;
}

/** `Task/<id>` or `Task/<id>/$accept?ac=<AccessCode>` from basedOn. */
export function basedOnOf(c: Communication): { taskId: string; accessCode?: string } {
  const ref = c.basedOn?.[0]?.reference ?? '';
  const m = /^(?:.*\/)?Task\/([0-9.]+)(?:\/\$accept\?ac=([0-9a-f]+))?$/.exec(ref);
  if (!m || !parsePrescriptionId(m[1])) throw badRequest(`Communication.basedOn ${ref || '(leer)'} verweist auf keinen gültigen Task`);
  return { taskId: m[1], accessCode: m[2] };
}

const DISPREQ_KEYS = new Set(['version', 'supplyOptionsType', 'name', 'address', 'hint', 'phone']);
const REPLY_KEYS = new Set(['version', 'supplyOptionsType', 'info_text', 'url', 'pickUpCodeHR', 'pickUpCodeDMC']);
const SUPPLY_OPTIONS = ['onPremise', 'shipment', 'delivery'];
// C0/C1 control characters other than tab/newline, BOM and U+FFFD are not allowed.
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF\uFFFD]/;

/** Payload JSON v1 (FD schema, additionalProperties false). */
export function checkPayload(kind: 'DispReq' | 'Reply', text: string | undefined): void {
  if (text === undefined) throw badRequest(`${kind}: payload.contentString fehlt`);
  if (FORBIDDEN_CHARS.test(text)) throw badRequest(`${kind}: payload enthält unzulässige Steuerzeichen`);
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest(`${kind}: payload.contentString ist kein JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${kind}: payload muss ein JSON-Objekt sein`);
  const allowed = kind === 'DispReq' ? DISPREQ_KEYS : REPLY_KEYS;
  for (const key of Object.keys(value)) if (!allowed.has(key)) throw badRequest(`${kind}: unbekanntes Feld ${key} im payload`);
  if (value.version !== 1) throw badRequest(`${kind}: payload.version muss 1 sein`);
  if (!SUPPLY_OPTIONS.includes(value.supplyOptionsType as string)) throw badRequest(`${kind}: supplyOptionsType muss onPremise, shipment oder delivery sein`);
  const max: Record<string, number> = { name: 100, hint: 500, phone: 32, info_text: 500, url: 500, pickUpCodeHR: 8, pickUpCodeDMC: 128 };
  for (const [key, limit] of Object.entries(max)) {
    const v = value[key];
    if (v !== undefined && (typeof v !== 'string' || v.length > limit)) throw badRequest(`${kind}: ${key} muss ein Text mit höchstens ${limit} Zeichen sein`);
  }
  if (kind === 'DispReq' && value.address !== undefined && (!Array.isArray(value.address) || value.address.some((l) => typeof l !== 'string'))) {
    throw badRequest('DispReq: address muss eine Liste von Texten sein');
  }
  if (kind === 'Reply' && (value.pickUpCodeHR || value.pickUpCodeDMC) && value.supplyOptionsType !== 'onPremise') {
    throw badRequest('Reply: pickUpCode nur bei supplyOptionsType onPremise');
  }
}

function recipientOf(c: Communication): string {
  const value = c.recipient?.[0]?.identifier?.value;
  if (!value || (c.recipient?.length ?? 0) !== 1) throw badRequest('Communication braucht genau einen recipient mit identifier');
  return value;
}

interface PostContext {
  ctx: FachdienstContext;
  caller: Caller;
  request: FastifyRequest;
  task: TaskRecord;
  kind: TaskCommunicationKind;
  recipient: string;
  accessCode?: string;
  payloadText?: string;
}

/** The FD's rules per message kind; throws 400/403/429. */
async function checkRules(p: PostContext): Promise<void> {
  const { caller, task, kind, recipient } = p;
  const allowedRole = kind === 'Reply' ? 'pharmacy' : kind === 'DiGA' ? 'payer' : 'insured';
  if (caller.role !== allowedRole) throw forbidden(`${kind}-Nachrichten darf diese Rolle nicht senden`);
  if (recipient === caller.id) throw badRequest('Nachrichten an sich selbst sind nicht erlaubt');
  if (kind === 'Reply') {
    if (p.accessCode) throw badRequest('Reply darf keinen AccessCode enthalten');
    if (!isValidKvnr(recipient)) throw badRequest('Reply: recipient muss eine KVNR sein');
    checkPayload('Reply', p.payloadText);
    return;
  }
  if (kind === 'DiGA') {
    if (p.accessCode) throw badRequest('DiGA-Nachricht darf keinen AccessCode enthalten');
    if (!isValidKvnr(recipient)) throw badRequest('DiGA: recipient muss eine KVNR sein');
    return;
  }
  if (kind === 'DispReq') {
    if (PROVIDER_STEERED_FLOWTYPES.includes(task.flowType)) throw badRequest(`Für Flowtype ${task.flowType} ist keine Zuweisung durch Versicherte möglich`);
    if (!p.accessCode || !secretsEqual(task.accessCode ?? undefined, p.accessCode)) throw forbidden('AccessCode mismatch');
    if (task.status !== 'ready') throw forbidden(`Task ist nicht im Status ready, sondern ${task.status}`);
    const today = berlinDay(p.ctx.now());
    if (task.expiryDate && today > task.expiryDate) throw forbidden('Verordnung ist nicht mehr einlösbar');
    if (task.redeemableFrom && today < task.redeemableFrom) throw forbidden('Teilverordnung ist noch nicht einlösbar');
    // pharmacies' Telematik-IDs start with 3-, payers' with 8- (A_27767-01)
    const expectedPrefix = task.flowType === '162' ? '8-' : '3-';
    if (!recipient.startsWith(expectedPrefix)) throw forbidden('Empfänger passt nicht zum Flowtype des Rezepts');
    if (task.flowType !== '162') checkPayload('DispReq', p.payloadText);
    return;
  }
  // Representative
  if (p.accessCode) throw badRequest('Representative-Nachricht darf keinen AccessCode in basedOn enthalten');
  if (!isValidKvnr(recipient)) throw badRequest('Representative: recipient muss eine KVNR sein');
  if (task.status !== 'ready' && task.status !== 'in-progress') throw forbidden(`Task ist im Status ${task.status}`);
  if (task.kvnr !== caller.id) {
    const header = p.request.headers['x-accesscode'];
    if (!secretsEqual(task.accessCode ?? undefined, typeof header === 'string' ? header : undefined)) throw forbidden('AccessCode mismatch');
  }
  const row = await p.ctx.store.database.db.selectFrom('fachdienst_communication').select((eb) => eb.fn.countAll().as('n'))
    .where('prescription_id', '=', task.id).where('kind', '=', 'Representative')
    .where('sender', '=', caller.id).where('recipient', '=', recipient).executeTakeFirst();
  if (Number(row?.n ?? 0) >= MAX_REPRESENTATIVE_MESSAGES) throw new FhirError(429, 'Zu viele Vertreter-Nachrichten zu diesem Rezept');
}

function identifierFor(id: string) {
  return { system: isValidKvnr(id) ? NS.kvnr : NS.telematikId, value: id };
}

export function registerCommunication(app: FastifyInstance, ctx: FachdienstContext): void {
  const db = () => ctx.store.database.db;

  app.post('/Communication', async (request, reply) => {
    const caller = requireRole(request, ['insured', 'pharmacy', 'payer']);
    const body = request.body as Communication | undefined;
    if (body?.resourceType !== 'Communication') throw badRequest('Communication erwartet');
    const kind = kindOf(body);
    const now = ctx.now();
    const stored = (recipient: string): Communication => {
      const c: Communication = {
        ...body,
        id: randomUUID(),
        sent: instant(now),
        sender: { identifier: identifierFor(caller.id) },
        recipient: [{ identifier: identifierFor(recipient) }],
      };
      delete c.received;
      return c;
    };
    const row = (c: Communication, prescriptionId: string, recipient: string) => ({
      id: c.id, prescription_id: prescriptionId, kind, sender: caller.id, recipient, sent: now, resource: JSON.stringify(c),
    });
    let sent: Communication;
    if (isChargeChange(kind)) {
      // checked and stored under a share lock on the ChargeItem, so deleting it cannot leave the message behind
      sent = await ctx.store.database.transaction(async (tx) => {
        const parties = await checkChargeChange(tx, caller, body, kind);
        const c = { ...stored(parties.recipient), sender: { identifier: parties.senderIdentifier }, recipient: [{ identifier: parties.recipientIdentifier }] };
        await tx.insertInto('fachdienst_communication').values(row(c, parties.chargeItemId, parties.recipient)).execute();
        return c;
      });
    } else {
      const { taskId, accessCode } = basedOnOf(body);
      const task = await ctx.store.getTask(taskId);
      if (!task || task.status === 'cancelled') throw badRequest(`Task ${taskId} existiert nicht`);
      const recipient = recipientOf(body);
      await checkRules({ ctx, caller, request, task, kind, recipient, accessCode, payloadText: body.payload?.[0]?.contentString });
      sent = stored(recipient);
      await db().insertInto('fachdienst_communication').values(row(sent, taskId, recipient)).execute();
    }
    reply.header('Location', `${ctx.baseUrl}/Communication/${sent.id}`);
    return reply.fhir(sent, 201);
  });

  app.get('/Communication', async (request, reply) => {
    const caller = requireRole(request, ['insured', 'pharmacy', 'payer']);
    const paging = pagingOf(request, COMMUNICATION_PAGE_SIZE);
    const now = ctx.now();
    // the first retrieval by the recipient marks the messages received
    await db().updateTable('fachdienst_communication').set({ received: now })
      .where('recipient', '=', caller.id).where('received', 'is', null).execute();
    let q = db().selectFrom('fachdienst_communication').select(['id', 'resource', 'received'])
      .where((eb) => eb.or([eb('sender', '=', caller.id), eb('recipient', '=', caller.id)]));
    for (const raw of queryValues(request, 'sent')) {
      const f = parseDateFilter('sent', raw);
      if (f.op === '>' || f.op === '>=') q = q.where('sent', '>=', f.op === '>' ? f.end : f.start);
      else if (f.op === '<' || f.op === '<=') q = q.where('sent', '<', f.op === '<' ? f.start : f.end);
      else q = q.where('sent', '>=', f.start).where('sent', '<', f.end);
    }
    const sender = queryValues(request, 'sender')[0];
    if (sender !== undefined) q = q.where('sender', '=', sender.split('|').pop()!);
    const recipient = queryValues(request, 'recipient')[0];
    if (recipient !== undefined) q = q.where('recipient', '=', recipient.split('|').pop()!);
    const sort = queryValues(request, '_sort')[0] ?? 'sent';
    if (!['sent', '-sent'].includes(sort)) throw badRequest(`_sort=${sort} wird nicht unterstützt (sent, -sent)`);
    const dir = sort === 'sent' ? 'asc' : 'desc';
    const rows = await q.orderBy('sent', dir).orderBy('id', dir).offset(paging.offset).limit(paging.count + 1).execute();
    const entries = rows.slice(0, paging.count).map((r) => {
      const c = r.resource as Communication;
      if (r.received) c.received = instant(new Date(r.received));
      return { fullUrl: `${ctx.baseUrl}/Communication/${c.id}`, resource: c };
    });
    return reply.fhir(searchsetBundle(request, ctx.baseUrl, '/Communication', entries, paging, rows.length > paging.count, now));
  });

  app.get('/Communication/:commId', async (request, reply) => {
    const caller = requireRole(request, ['insured', 'pharmacy', 'payer']);
    const { commId } = request.params as { commId: string };
    const row = await db().selectFrom('fachdienst_communication').selectAll().where('id', '=', commId).executeTakeFirst();
    if (!row || (row.sender !== caller.id && row.recipient !== caller.id)) throw notFound(`Communication ${commId} nicht gefunden`);
    const c = row.resource as Communication;
    let received = row.received as Date | null;
    if (!received && row.recipient === caller.id) {
      received = ctx.now();
      await db().updateTable('fachdienst_communication').set({ received }).where('id', '=', commId).where('received', 'is', null).execute();
    }
    if (received) c.received = instant(new Date(received));
    return reply.fhir(c);
  });

  app.delete('/Communication/:commId', async (request, reply) => {
    const caller = requireRole(request, ['insured', 'pharmacy', 'payer']);
    const { commId } = request.params as { commId: string };
    const row = await db().selectFrom('fachdienst_communication').select(['sender', 'recipient']).where('id', '=', commId).executeTakeFirst();
    if (!row || (row.sender !== caller.id && row.recipient !== caller.id)) throw notFound(`Communication ${commId} nicht gefunden`);
    if (row.sender !== caller.id) throw forbidden('Nur der Absender darf eine Nachricht löschen');
    await db().deleteFrom('fachdienst_communication').where('id', '=', commId).execute();
    return reply.code(204).send();
  });
}
