// POST /Task/{id}/$accept?ac=…: a pharmacy (the payer for DiGA, 162) claims a ready Task. Answer: collection Bundle
// with the Task (in-progress, new Secret, owner) and the original QES PKCS#7 as Binary.
import type { FastifyInstance } from 'fastify';
import { conflict, forbidden, gone } from '../../fhir/errors.ts';
import { randomToken } from '../../fhir/identifiers.ts';
import { berlinDay } from '../../fhir/kbv/dates.ts';
import type { Binary, Bundle } from '../../fhir/types.ts';
import { requireRole, type Caller } from '../auth.ts';
import { accessCodeOf, assertAccessCode, taskIdOf, type FachdienstContext } from '../context.ts';
import { PROFILE, collectionBundle, entry, renderTask } from '../task-resource.ts';
import type { TaskRecord } from '../task-store.ts';
import { OPERATION_ROLES, assertTransition } from '../task-state.ts';
import { findConsent } from './consent.ts';

/** dd.mm.yyyy of a YYYY-MM-DD day. */
export function germanDate(day: string): string {
  const [y, m, d] = day.split('-');
  return `${d}.${m}.${y}`;
}

/** 403 unless the caller's role may accept this flowtype: payer only for DiGA (162), pharmacies for all others. */
export function assertAcceptRole(caller: Caller, flowType: string): void {
  const expected = flowType === '162' ? 'payer' : 'pharmacy';
  if (caller.role !== expected) throw forbidden(`Flowtype ${flowType} kann von der Rolle ${caller.professionOID} nicht angenommen werden`);
}

function checkAccept(task: TaskRecord, caller: Caller, accessCode: string | undefined, today: string): void {
  if (task.status === 'cancelled' || !task.accessCode) throw gone('Task has already been deleted');
  assertAccessCode(task, accessCode);
  if (task.status === 'in-progress' && task.owner === caller.id) {
    throw conflict('Task has invalid status in-progress', { diagnostics: 'Task is processed by requesting institution' });
  }
  assertTransition('accept', task.status, caller.role, task.flowType);
  if (task.expiryDate && today > task.expiryDate) throw forbidden(`Verordnung bis ${germanDate(task.expiryDate)} einlösbar.`);
  if (task.redeemableFrom && today < task.redeemableFrom) {
    throw forbidden(`Teilverordnung ab ${germanDate(task.redeemableFrom)} einlösbar.`);
  }
}

export function prescriptionBinary(task: TaskRecord): Binary {
  return {
    resourceType: 'Binary',
    id: task.prescriptionBinaryId ?? undefined,
    meta: { profile: [PROFILE('GEM_ERP_PR_Binary')] },
    contentType: 'application/pkcs7-mime',
    data: task.prescriptionCms?.toString('base64'),
  };
}

/** Task + Binary, as $accept and the pharmacy's GET /Task/{id} answer. */
export function pharmacyTaskBundle(ctx: FachdienstContext, task: TaskRecord, selfUrl: string, now: Date): Bundle {
  const entries = [entry(`${ctx.baseUrl}/Task/${task.id}`, renderTask(task, { view: 'pharmacy', withSecret: true }))];
  if (task.prescriptionCms) entries.push(entry(`urn:uuid:${task.prescriptionBinaryId}`, prescriptionBinary(task)));
  return collectionBundle(crypto.randomUUID(), selfUrl, entries, now);
}

export function registerAccept(app: FastifyInstance, ctx: FachdienstContext): void {
  app.post('/Task/:id/$accept', async (request, reply) => {
    const caller = requireRole(request, OPERATION_ROLES.accept);
    const id = taskIdOf(request);
    const accessCode = accessCodeOf(request);
    const now = ctx.now();
    const today = berlinDay(now);
    const task = await ctx.store.updateTaskOptimistic(id, async (locked) => {
      assertAcceptRole(caller, locked.flowType);
      checkAccept(locked, caller, accessCode, today);
      const patch: Partial<TaskRecord> = { status: 'in-progress', secret: randomToken(), owner: caller.id, acceptedAt: now, lastModified: now };
      return { patch, audit: { kind: 'accept', kvnr: locked.kvnr as string, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl }, result: { ...locked, ...patch } };
    });
    const bundle = pharmacyTaskBundle(ctx, task, `${ctx.baseUrl}/Task/${id}/$accept/`, now);
    bundle.meta = { profile: [PROFILE('GEM_ERP_PR_Bundle_OP_Accept')] };
    // PKV (200/209): the insured's billing consent, so the pharmacy knows it may store a ChargeItem
    if ((task.flowType === '200' || task.flowType === '209') && task.kvnr) {
      const consent = await findConsent(ctx.store.database.db, task.kvnr);
      if (consent) bundle.entry!.push(entry(`${ctx.baseUrl}/Consent/${consent.id}`, consent));
    }
    return reply.fhir(bundle);
  });
}
