// POST /Task/{id}/$dispense?secret=…: the pharmacy records what it handed over while the Task stays in-progress;
// a repeated call replaces the earlier data (FD DispenseTaskHandler).
import type { FastifyInstance } from 'fastify';
import { badRequest, gone } from '../../fhir/errors.ts';
import { requireRole } from '../auth.ts';
import { recordAudit } from '../audit.ts';
import { assertSecret, secretOf, taskIdOf, type FachdienstContext } from '../context.ts';
import { OPERATION_ROLES, assertTransition } from '../task-state.ts';
import { dispensesOf } from './dispense-input.ts';

export function registerDispense(app: FastifyInstance, ctx: FachdienstContext): void {
  app.post('/Task/:id/$dispense', async (request, reply) => {
    const caller = requireRole(request, OPERATION_ROLES.dispense);
    const id = taskIdOf(request);
    const secret = secretOf(request);
    const now = ctx.now();
    await ctx.store.updateTask(id, async (task, tx) => {
      if (task.status === 'cancelled') throw gone('Task has already been deleted');
      assertTransition('dispense', task.status, caller.role, task.flowType);
      assertSecret(task, secret);
      const dispenses = dispensesOf(request.body, task, caller, true);
      if (dispenses.length === 0) throw badRequest('Mindestens ein rxDispensation erforderlich');
      await ctx.store.replaceDispenses(tx, id, dispenses);
      await recordAudit(tx, { kind: 'dispense', kvnr: task.kvnr as string, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
      return { patch: { owner: caller.id, lastMedicationDispense: now, lastModified: now }, result: undefined };
    });
    return reply.code(204).send();
  });
}
