// GET /Task/{id}: the insured (own KVNR, or a representative with X-AccessCode) gets the Task and the
// Fachdienst-signed copy of the prescription; the pharmacy gets Task + QES Binary (+ receipt) with ?secret=, or
// recovers its Secret with ?ac= (412 unless it holds the Task, A_24178-02).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, gone, notFound, preconditionFailed } from '../../fhir/errors.ts';
import type { Bundle, BundleEntry } from '../../fhir/types.ts';
import { requireRole, type Caller } from '../auth.ts';
import { recordAudit } from '../audit.ts';
import { assertAccessCode, assertSecret, queryParam, taskIdOf, type FachdienstContext } from '../context.ts';
import { patientCopy } from '../patient-copy.ts';
import { collectionBundle, entry, renderTask } from '../task-resource.ts';
import type { TaskRecord } from '../task-store.ts';
import { PROVIDER_STEERED_FLOWTYPES } from '../task-state.ts';
import { prescriptionBinary } from './accept.ts';

function insuredBundle(ctx: FachdienstContext, task: TaskRecord, caller: Caller, request: FastifyRequest, now: Date): Bundle {
  if (task.status === 'draft') throw forbidden('Task im Status draft ist für Versicherte nicht abrufbar');
  let view: 'insured' | 'representative' = 'insured';
  if (task.kvnr !== caller.id) {
    if (PROVIDER_STEERED_FLOWTYPES.includes(task.flowType)) throw forbidden('Zugriff als Vertreter für diesen Flowtype nicht erlaubt');
    const header = request.headers['x-accesscode'];
    assertAccessCode(task, typeof header === 'string' ? header : undefined);
    view = 'representative';
  }
  const entries: BundleEntry[] = [entry(`${ctx.baseUrl}/Task/${task.id}`, renderTask(task, { view }))];
  const copy = patientCopy(ctx, task, now);
  if (copy) entries.push(entry(`urn:uuid:${copy.id}`, copy));
  return collectionBundle(crypto.randomUUID(), `${ctx.baseUrl}/Task/${task.id}`, entries, now);
}

function pharmacyBundle(ctx: FachdienstContext, task: TaskRecord, caller: Caller, request: FastifyRequest, now: Date): Bundle {
  const secret = queryParam(request, 'secret');
  const accessCode = queryParam(request, 'ac');
  if (secret === undefined && accessCode !== undefined) {
    // Secret recovery: the AccessCode proves the prescription, the owner check proves the pharmacy.
    assertAccessCode(task, accessCode);
    if ((task.status !== 'in-progress' && task.status !== 'completed') || task.owner !== caller.id) {
      throw preconditionFailed('Task ist nicht in Abgabe durch die anfragende Institution');
    }
  } else {
    assertSecret(task, secret);
  }
  const entries: BundleEntry[] = [entry(`${ctx.baseUrl}/Task/${task.id}`, renderTask(task, { view: 'pharmacy', withSecret: true }))];
  if (task.prescriptionCms) entries.push(entry(`urn:uuid:${task.prescriptionBinaryId}`, prescriptionBinary(task)));
  if (task.status === 'completed' && task.receipt) entries.push(entry(`urn:uuid:${task.receipt.id}`, task.receipt));
  return collectionBundle(crypto.randomUUID(), `${ctx.baseUrl}/Task/${task.id}`, entries, now);
}

export function registerGetTask(app: FastifyInstance, ctx: FachdienstContext): void {
  app.get('/Task/:id', async (request, reply) => {
    const caller = requireRole(request, ['insured', 'pharmacy', 'payer']);
    const id = taskIdOf(request);
    const now = ctx.now();
    const task = await ctx.store.getTask(id);
    if (!task) throw notFound(`Task ${id} nicht gefunden`);
    if (task.status === 'cancelled') throw gone('Task has already been deleted');
    const bundle = caller.role === 'insured' ? insuredBundle(ctx, task, caller, request, now) : pharmacyBundle(ctx, task, caller, request, now);
    if (task.kvnr) {
      await recordAudit(ctx.store.database.db, { kind: 'read-task', kvnr: task.kvnr, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
    }
    return reply.fhir(bundle);
  });
}
