// Automatic deletion of old prescriptions (gematik Task-Löschfristen, erp-api §2.4): draft 5 days, ready 10 days
// after the ExpiryDate, in-progress and completed 100 days, cancelled 10 days. The Task row goes with its
// MedicationDispenses and Communications; each insured affected gets one AuditEvent (text id 14). The eGK failure
// counters of past days (operations/get-tasks-egk.ts) go too.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../storage/database.ts';
import { addDays, berlinDay } from '../fhir/kbv/dates.ts';
import { buildAuditEvent } from './audit.ts';
import { CHARGE_CHANGE_KINDS } from './operations/charge-change.ts';
import { deleteExpiredEgkFailures } from './operations/get-tasks-egk.ts';

export interface RetentionPeriods {
  draftDays: number;
  readyDaysAfterExpiry: number;
  inProgressDays: number;
  completedDays: number;
  cancelledDays: number;
}

export const GEMATIK_RETENTION: RetentionPeriods = {
  draftDays: 5,
  readyDaysAfterExpiry: 10,
  inProgressDays: 100,
  completedDays: 100,
  cancelledDays: 10,
};

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  now: Date;
  periods?: Partial<RetentionPeriods>;
  baseUrl?: string;
  /** Rows per transaction, so a large backlog does not hold one huge transaction. */
  batchSize?: number;
}

/** Deletes what is due at `now`; returns the deleted PrescriptionIDs. */
export async function runRetention(database: Database, options: RetentionOptions): Promise<string[]> {
  const p = { ...GEMATIK_RETENTION, ...options.periods };
  const now = options.now;
  const before = (days: number) => new Date(now.getTime() - days * DAY_MS);
  // a ready Task is due when today is later than ExpiryDate + period (German calendar days)
  const lastExpiryDue = addDays(berlinDay(now), -p.readyDaysAfterExpiry - 1);
  const batch = options.batchSize ?? 500;
  const deleted: string[] = [];
  // not prescriptions, but due as well: the eGK failure counters of past days
  await deleteExpiredEgkFailures(database.db, now);
  for (;;) {
    const ids = await database.transaction(async (tx) => {
      const due = await tx.selectFrom('fachdienst_task').select(['id', 'kvnr'])
        .where((eb) => eb.or([
          eb.and([eb('status', '=', 'draft'), eb('last_modified', '<', before(p.draftDays))]),
          eb.and([eb('status', '=', 'ready'), eb('expiry_date', '<=', lastExpiryDue)]),
          eb.and([eb('status', '=', 'in-progress'), eb('last_modified', '<', before(p.inProgressDays))]),
          eb.and([eb('status', '=', 'completed'), eb('last_modified', '<', before(p.completedDays))]),
          eb.and([eb('status', '=', 'cancelled'), eb('last_modified', '<', before(p.cancelledDays))]),
        ]))
        .orderBy('id').limit(batch)
        // concurrent Fachdienst processes skip rows another one is deleting
        .modifyEnd(sql`for update skip locked`)
        .execute();
      if (due.length === 0) return [];
      const list = due.map((r) => r.id as string);
      await tx.deleteFrom('fachdienst_medication_dispense').where('prescription_id', 'in', list).execute();
      // messages about a ChargeItem (same id) live as long as the ChargeItem, not the Task
      await tx.deleteFrom('fachdienst_communication').where('prescription_id', 'in', list).where('kind', 'not in', CHARGE_CHANGE_KINDS).execute();
      await tx.deleteFrom('fachdienst_task').where('id', 'in', list).execute();
      const byKvnr = new Map<string, string>();
      for (const r of due) if (r.kvnr) byKvnr.set(r.kvnr as string, r.id as string);
      for (const [kvnr, prescriptionId] of byKvnr) {
        const event = buildAuditEvent({ kind: 'retention', kvnr, prescriptionId, recorded: now, baseUrl: options.baseUrl ?? '' }, randomUUID());
        await tx.insertInto('fachdienst_audit_event').values({
          id: event.id, kvnr, prescription_id: null, recorded: now, action: 'D', kind: 'retention', resource: JSON.stringify(event),
        }).execute();
      }
      return list;
    });
    deleted.push(...ids);
    if (ids.length < batch) return deleted;
  }
}

/** Runs the retention job every `intervalSeconds` (0 = never); errors are logged, the next run retries. */
export function startRetentionJob(
  database: Database,
  options: { intervalSeconds: number; now?: () => Date; periods?: Partial<RetentionPeriods>; baseUrl?: string; onError?: (err: unknown) => void },
): { stop(): void } {
  if (options.intervalSeconds <= 0) return { stop() {} };
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      await runRetention(database, { now: options.now?.() ?? new Date(), periods: options.periods, baseUrl: options.baseUrl });
    } catch (err) {
      options.onError?.(err);
    } finally {
      running = false;
    }
  }, options.intervalSeconds * 1000);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
