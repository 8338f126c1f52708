// POST /Task/{id}/$abort: deletes a prescription. Insured (own, or representative with AccessCode), prescriber
// (AccessCode, only ready) or the pharmacy holding it (Secret, only in-progress). All personal and medical data of
// the Task goes (A_19027-06); later calls get 410.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { forbidden, gone } from '../../fhir/errors.ts';
import { requireRole, type Caller } from '../auth.ts';
import { recordAudit } from '../audit.ts';
import { accessCodeOf, assertAccessCode, assertSecret, secretOf, taskIdOf, type FachdienstContext } from '../context.ts';
import type { TaskRecord } from '../task-store.ts';
import { OPERATION_ROLES, PROVIDER_STEERED_FLOWTYPES, assertTransition } from '../task-state.ts';

/** The Task fields that stay after deletion: enough to answer 410 and to find the audit trail. */
export const DELETED_TASK_DATA: Partial<TaskRecord> = {
  status: 'cancelled', kvnr: null, accessCode: null, secret: null, owner: null, prescriptionCms: null,
  prescriptionBinaryId: null, patientConfirmationId: null, prescriptionDigest: null, bundle: null, receipt: null,
  lastMedicationDispense: null,
};

/** Access check of $abort per role (before the state check). */
export function assertAbortAccess(request: FastifyRequest, task: TaskRecord, caller: Caller): void {
  if (caller.role === 'pharmacy') return assertSecret(task, secretOf(request));
  if (caller.role === 'prescriber') return assertAccessCode(task, accessCodeOf(request));
  // insured: own prescription, or a representative who knows the AccessCode (not for 169/209)
  if (task.kvnr === caller.id) return;
  if (PROVIDER_STEERED_FLOWTYPES.includes(task.flowType)) throw forbidden('Zugriff als Vertreter für diesen Flowtype nicht erlaubt');
  const header = request.headers['x-accesscode'];
  assertAccessCode(task, typeof header === 'string' ? header : undefined);
}

export function registerAbort(app: FastifyInstance, ctx: FachdienstContext): void {
  app.post('/Task/:id/$abort', async (request, reply) => {
    const caller = requireRole(request, OPERATION_ROLES.abort);
    const id = taskIdOf(request);
    const now = ctx.now();
    await ctx.store.updateTask(id, async (task, tx) => {
      if (task.status === 'cancelled') throw gone('Task has already been deleted');
      if (task.status === 'draft') assertTransition('abort', task.status, caller.role, task.flowType);
      assertAbortAccess(request, task, caller);
      assertTransition('abort', task.status, caller.role, task.flowType);
      await ctx.store.deleteTaskData(tx, id);
      if (task.kvnr) await recordAudit(tx, { kind: 'abort', kvnr: task.kvnr, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
      return { patch: { ...DELETED_TASK_DATA, lastModified: now }, result: undefined };
    });
    return reply.code(204).send();
  });
}
