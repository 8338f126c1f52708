// POST /Task/{id}/$reject?secret=…: the pharmacy gives the Task back: status ready, Secret and owner removed,
// MedicationDispenses from $dispense deleted (FD RejectTaskHandler).
import type { FastifyInstance } from 'fastify';
import { gone } from '../../fhir/errors.ts';
import { requireRole } from '../auth.ts';
import { recordAudit } from '../audit.ts';
import { assertSecret, secretOf, taskIdOf, type FachdienstContext } from '../context.ts';
import type { TaskRecord } from '../task-store.ts';
import { OPERATION_ROLES, assertTransition } from '../task-state.ts';

export function registerReject(app: FastifyInstance, ctx: FachdienstContext): void {
  app.post('/Task/:id/$reject', async (request, reply) => {
    const caller = requireRole(request, OPERATION_ROLES.reject);
    const id = taskIdOf(request);
    const secret = secretOf(request);
    const now = ctx.now();
    await ctx.store.updateTask(id, async (task, tx) => {
      if (task.status === 'cancelled') throw gone('Task has already been deleted');
      assertTransition('reject', task.status, caller.role, task.flowType);
      assertSecret(task, secret);
      await ctx.store.deleteDispenses(tx, id);
      await recordAudit(tx, { kind: 'reject', kvnr: task.kvnr as string, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
      const patch: Partial<TaskRecord> = {
        status: 'ready', secret: null, owner: null, acceptedAt: null, lastMedicationDispense: null, lastModified: now,
      };
      return { patch, result: undefined };
    });
    return reply.code(204).send();
  });
}
