// POST /Task/{id}/$close?secret=…: the pharmacy (payer for DiGA) completes the Task and gets the signed receipt.
// Dispense data comes in the body or from an earlier $dispense (FD CloseTaskHandler).
import type { FastifyInstance } from 'fastify';
import { forbidden, gone } from '../../fhir/errors.ts';
import type { Parameters } from '../../fhir/types.ts';
import { requireRole } from '../auth.ts';
import { assertSecret, secretOf, taskIdOf, type FachdienstContext } from '../context.ts';
import { buildReceipt } from '../receipt.ts';
import { lockedTx, type TaskRecord } from '../task-store.ts';
import { OPERATION_ROLES, assertTransition } from '../task-state.ts';
import { dispensesOf } from './dispense-input.ts';

export const NO_DISPENSE_TEXT =
  'Abschluss des Workflows konnte nicht durchgeführt werden. Dispensierinformationen wurden nicht bereitgestellt.';

export function registerClose(app: FastifyInstance, ctx: FachdienstContext): void {
  app.post('/Task/:id/$close', async (request, reply) => {
    const caller = requireRole(request, OPERATION_ROLES.close);
    const id = taskIdOf(request);
    const secret = secretOf(request);
    const now = ctx.now();
    const body = request.body as Parameters | undefined;
    // Decided on a plain read, written in one statement if the Task is unchanged (else again under the row lock).
    const receipt = await ctx.store.updateTaskOptimistic(id, async (task, tx) => {
      if (task.status === 'cancelled') throw gone('Task has already been deleted');
      assertTransition('close', task.status, caller.role, task.flowType);
      assertSecret(task, secret);
      const patch: Partial<TaskRecord> = { status: 'completed', owner: caller.id, closedAt: now, lastModified: now };
      const dispenses = body ? dispensesOf(body, task, caller, false) : [];
      let insertDispenses: typeof dispenses | undefined;
      if (dispenses.length > 0) {
        // rows exist exactly when lastMedicationDispense is set ($dispense sets it, $reject/$abort delete and clear it)
        if (task.lastMedicationDispense) await ctx.store.replaceDispenses(lockedTx(tx), id, dispenses);
        else insertDispenses = dispenses;
        patch.lastMedicationDispense = now;
      } else if ((await ctx.store.countDispenses(lockedTx(tx), id)) === 0) {
        throw forbidden(NO_DISPENSE_TEXT);
      }
      const built = await buildReceipt(ctx, { task, beneficiary: caller.id, closedAt: now });
      patch.receipt = built;
      return { patch, insertDispenses, audit: { kind: 'close', kvnr: task.kvnr as string, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl }, result: built };
    }, undefined, { withCms: false });
    return reply.fhir(receipt);
  });
}
