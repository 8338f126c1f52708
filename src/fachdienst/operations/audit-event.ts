// GET /AuditEvent, GET /AuditEvent/{id}: the insured's access protocol (own KVNR only), newest first by default,
// 20 per page with next links; filters date, subtype, entity (PrescriptionID).
import type { FastifyInstance } from 'fastify';
import { sql, type SqlBool } from 'kysely';
import { badRequest, notFound } from '../../fhir/errors.ts';
import type { AuditEvent } from '../../fhir/types.ts';
import { requireRole } from '../auth.ts';
import { auditLanguage, localizeAuditEvent, type AuditKind } from '../audit.ts';
import type { FachdienstContext } from '../context.ts';
import { pagingOf, parseDateFilter, queryValues, searchsetBundle } from '../search.ts';

export const AUDIT_PAGE_SIZE = 20;
const SUBTYPE_ACTION: Record<string, string> = { create: 'C', read: 'R', update: 'U', delete: 'D' };

export function registerAuditEvent(app: FastifyInstance, ctx: FachdienstContext): void {
  const db = () => ctx.store.database.db;

  app.get('/AuditEvent', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const paging = pagingOf(request, AUDIT_PAGE_SIZE, 100);
    let q = db().selectFrom('fachdienst_audit_event').select(['resource', 'kind']).where('kvnr', '=', caller.id);
    for (const raw of queryValues(request, 'date')) {
      const f = parseDateFilter('date', raw);
      const c = sql.ref('recorded');
      const cond = {
        '=': sql<SqlBool>`(${c} >= ${f.start} and ${c} < ${f.end})`,
        '<>': sql<SqlBool>`(${c} < ${f.start} or ${c} >= ${f.end})`,
        '<': sql<SqlBool>`${c} < ${f.start}`,
        '<=': sql<SqlBool>`${c} < ${f.end}`,
        '>': sql<SqlBool>`${c} >= ${f.end}`,
        '>=': sql<SqlBool>`${c} >= ${f.start}`,
      }[f.op];
      q = q.where(cond);
    }
    const subtype = queryValues(request, 'subtype')[0];
    if (subtype !== undefined) {
      const action = SUBTYPE_ACTION[subtype.split('|').pop()!];
      if (!action) throw badRequest(`Ungültiger subtype ${subtype}`);
      q = q.where('action', '=', action);
    }
    const entity = queryValues(request, 'entity-what')[0] ?? queryValues(request, 'entity')[0];
    if (entity !== undefined) q = q.where('prescription_id', '=', entity.split('|').pop()!.replace(/^Task\//, ''));
    const sort = queryValues(request, '_sort')[0] ?? '-date';
    if (sort !== 'date' && sort !== '-date') throw badRequest(`_sort=${sort} wird nicht unterstützt (date, -date)`);
    const dir = sort === 'date' ? 'asc' : 'desc';
    const rows = await q.orderBy('recorded', dir).orderBy('seq', dir).offset(paging.offset).limit(paging.count + 1).execute();
    const language = auditLanguage(request.headers['accept-language']);
    const events = rows.slice(0, paging.count).map((r) => localizeAuditEvent(r.resource as AuditEvent, r.kind as AuditKind | null, language));
    const entries = events.map((e) => ({ fullUrl: `${ctx.baseUrl}/AuditEvent/${e.id}`, resource: e }));
    return reply.fhir(searchsetBundle(request, ctx.baseUrl, '/AuditEvent', entries, paging, rows.length > paging.count, ctx.now()));
  });

  app.get('/AuditEvent/:auditId', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const { auditId } = request.params as { auditId: string };
    const row = await db().selectFrom('fachdienst_audit_event').select(['resource', 'kind'])
      .where('id', '=', auditId).where('kvnr', '=', caller.id).executeTakeFirst();
    if (!row) throw notFound(`AuditEvent ${auditId} nicht gefunden`);
    return reply.fhir(localizeAuditEvent(row.resource as AuditEvent, row.kind as AuditKind | null, auditLanguage(request.headers['accept-language'])));
  });
}
