// GET /Device: GEM_ERP_PR_Device, the Fachdienst itself (author of receipts, observer of AuditEvents).
import type { FastifyInstance } from 'fastify';
import type { FachdienstContext } from '../context.ts';
import { fachdienstDevice } from '../task-resource.ts';

export function registerDevice(app: FastifyInstance, ctx: FachdienstContext): void {
  app.get('/Device', async (_request, reply) => reply.fhir(fachdienstDevice(ctx.version)));
  app.get('/Device/1', async (_request, reply) => reply.fhir(fachdienstDevice(ctx.version)));
}
