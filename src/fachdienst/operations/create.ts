// POST /Task/$create: a prescriber opens a draft Task for one flowtype; answer 201 with PrescriptionID and AccessCode.
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../fhir/errors.ts';
import { randomToken } from '../../fhir/identifiers.ts';
import type { Parameters } from '../../fhir/types.ts';
import { requireRole } from '../auth.ts';
import type { FachdienstContext } from '../context.ts';
import { NS, renderTask } from '../task-resource.ts';
import { OPERATION_ROLES } from '../task-state.ts';

/** Flowtypes $create accepts (166 stays behind a feature flag in the FD and is not offered here). */
export const CREATABLE_FLOW_TYPES = ['160', '162', '169', '200', '209'];

export function workflowTypeOf(body: unknown): string {
  const params = body as Parameters | undefined;
  if (!params || params.resourceType !== 'Parameters') throw badRequest('Parameters mit workflowType erwartet');
  const list = params.parameter ?? [];
  if (list.length !== 1 || list[0].name !== 'workflowType') throw badRequest('Parameters muss genau einen Parameter workflowType enthalten');
  const coding = list[0].valueCoding;
  if (coding?.system !== NS.flowType) throw badRequest(`workflowType.system muss ${NS.flowType} sein`);
  if (!coding.code || !CREATABLE_FLOW_TYPES.includes(coding.code)) throw badRequest(`Ungültiger workflowType ${coding.code ?? '(leer)'}`);
  return coding.code;
}

export function registerCreate(app: FastifyInstance, ctx: FachdienstContext): void {
  app.post('/Task/$create', async (request, reply) => {
    requireRole(request, OPERATION_ROLES.create);
    const flowType = workflowTypeOf(request.body);
    const task = await ctx.store.createTask({ flowType, accessCode: randomToken(), now: ctx.now() });
    reply.header('Location', `${ctx.baseUrl}/Task/${task.id}`);
    return reply.fhir(renderTask(task, { view: 'prescriber' }), 201);
  });
}
