// GET /MedicationDispense: the insured's dispense information (own KVNR), once the pharmacy provided it
// (lastMedicationDispense set). Filters identifier, whenhandedover, whenprepared, performer; Medications are
// included (search.mode include) under urn:uuid fullUrls.
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../fhir/errors.ts';
import type { BundleEntry } from '../../fhir/types.ts';
import { requireRole } from '../auth.ts';
import { recordAudit } from '../audit.ts';
import type { FachdienstContext } from '../context.ts';
import { berlinLocal, pagingOf, parseDateFilter, queryValues, searchsetBundle } from '../search.ts';
import { NS } from '../task-resource.ts';
import type { DateFilter, DispenseRecord } from '../task-store.ts';

/** Whether a calendar day (YYYY-MM-DD) satisfies a FHIR date filter. */
export function dayMatches(day: string | null, f: DateFilter): boolean {
  if (!day) return false;
  const start = berlinLocal(`${day}T00:00:00`).getTime();
  const end = start + 86_400_000;
  switch (f.op) {
    case '=': return start >= f.start.getTime() && end <= f.end.getTime();
    case '<>': return !(start >= f.start.getTime() && end <= f.end.getTime());
    case '<': return start < f.start.getTime();
    case '<=': return start < f.end.getTime();
    case '>': return start >= f.end.getTime();
    case '>=': return start >= f.start.getTime();
  }
}

export const DISPENSE_PAGE_SIZE = 50;

export function registerMedicationDispense(app: FastifyInstance, ctx: FachdienstContext): void {
  app.get('/MedicationDispense', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    let prescriptionId: string | undefined;
    const identifier = queryValues(request, 'identifier')[0];
    if (identifier !== undefined) {
      const [system, value] = identifier.includes('|') ? identifier.split('|') : [NS.prescriptionId, identifier];
      if (system !== NS.prescriptionId || !value) throw badRequest(`identifier muss ${NS.prescriptionId}|<PrescriptionID> sein`);
      prescriptionId = value;
    }
    const handedOver = queryValues(request, 'whenhandedover').map((v) => parseDateFilter('whenhandedover', v));
    const prepared = queryValues(request, 'whenprepared').map((v) => parseDateFilter('whenprepared', v));
    const performer = queryValues(request, 'performer')[0]?.split('|').pop();
    const paging = pagingOf(request, DISPENSE_PAGE_SIZE);
    const all = (await ctx.store.listDispenses({ kvnr: caller.id, prescriptionId })).filter((d: DispenseRecord) =>
      handedOver.every((f) => dayMatches(d.whenHandedOver, f)) &&
      prepared.every((f) => dayMatches(d.whenPrepared, f)) &&
      (performer === undefined || d.performer === performer));
    const page = all.slice(paging.offset, paging.offset + paging.count);
    const entries: BundleEntry[] = [];
    for (const d of page) {
      entries.push({ fullUrl: `${ctx.baseUrl}/MedicationDispense/${d.id}`, resource: d.resource, search: { mode: 'match' } });
      if (d.medication) entries.push({ fullUrl: `urn:uuid:${d.medication.id}`, resource: d.medication, search: { mode: 'include' } });
    }
    const now = ctx.now();
    const seen = new Set(page.map((d) => d.prescriptionId));
    for (const id of seen) {
      await recordAudit(ctx.store.database.db, { kind: 'read-dispense', kvnr: caller.id, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl });
    }
    return reply.fhir(searchsetBundle(request, ctx.baseUrl, '/MedicationDispense', entries, paging, all.length > paging.offset + paging.count, now));
  });
}
