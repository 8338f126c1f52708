// Durable state of the practice module. Every step of a request is committed before the next outside call, and
// claims are single UPDATE … WHERE status = 'pending' statements, so two batches never get the same request.
import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../storage/database.ts';
import type { Bundle } from '../fhir/types.ts';

export type RequestStatus = 'pending' | 'signing' | 'activated' | 'done' | 'failed';

export interface PatientSummary {
  given?: string;
  family?: string;
  birthDate?: string;
  kvnr?: string;
}

export interface PracticeRequest {
  tenant: string;
  id: string;
  status: RequestStatus;
  flowType: string;
  pharmacy: string | null;
  bundle: Bundle;
  patient: PatientSummary;
  medication: string;
  requestingSystem: string | null;
  receivedAt: Date;
  batchId: string | null;
  prescriptionId: string | null;
  accessCode: string | null;
  authoredOn: string | null;
  cms: Buffer | null;
  completedAt: Date | null;
  error: string | null;
}

/** A request without its large columns (bundle, CMS): what lists, the RED Task list and batch results need. */
export type RequestSummary = Omit<PracticeRequest, 'bundle' | 'cms'>;

/** Every column but bundle and cms: reading (and JSON-parsing) the bundle of each row of a list is most of its cost. */
const SUMMARY_COLUMNS = [
  'tenant', 'id', 'status', 'flow_type', 'pharmacy', 'patient', 'medication', 'requesting_system', 'received_at', 'batch_id',
  'prescription_id', 'access_code', 'authored_on', 'completed_at', 'error',
] as const;

export interface NewRequest {
  tenant: string;
  id: string;
  flowType: string;
  pharmacy?: string;
  bundle: Bundle;
  patient: PatientSummary;
  medication: string;
  requestingSystem?: string;
}

export interface OutboxMessage {
  id: string;
  tenant: string;
  requestId: string;
  kind: 'kim' | 'webhook';
  payload: Record<string, unknown>;
  attempts: number;
  nextAttemptAt: Date;
  deliveredAt: Date | null;
  lastError: string | null;
}

export interface BatchProgress {
  id: string;
  tenant: string;
  total: number;
  done: number;
  failed: number;
  state: 'running' | 'finished' | 'failed';
  error?: string;
}

const asDate = (v: unknown): Date | null => (v == null ? null : v instanceof Date ? v : new Date(String(v)));

function toRequest(r: Record<string, any>): PracticeRequest {
  return { ...toSummary(r), bundle: r.bundle, cms: r.cms ?? null };
}

function toSummary(r: Record<string, any>): RequestSummary {
  return {
    tenant: r.tenant, id: r.id, status: r.status, flowType: r.flow_type, pharmacy: r.pharmacy ?? null, patient: r.patient, medication: r.medication, requestingSystem: r.requesting_system ?? null,
    receivedAt: asDate(r.received_at)!, batchId: r.batch_id ?? null, prescriptionId: r.prescription_id ?? null,
    accessCode: r.access_code ?? null, authoredOn: r.authored_on ?? null, completedAt: asDate(r.completed_at), error: r.error ?? null,
  };
}

function toOutbox(r: Record<string, any>): OutboxMessage {
  return {
    id: r.id, tenant: r.tenant, requestId: r.request_id, kind: r.kind, payload: r.payload, attempts: r.attempts,
    nextAttemptAt: asDate(r.next_attempt_at)!, deliveredAt: asDate(r.delivered_at), lastError: r.last_error ?? null,
  };
}

interface QueuedInsert {
  input: NewRequest;
  receivedAt: Date;
  resolve: (r: { created: boolean; request: PracticeRequest }) => void;
  reject: (e: unknown) => void;
}

export class PracticeStore {
  readonly db: Kysely<any>;

  constructor(readonly database: Database) {
    this.db = database.db;
  }

  /** Requests waiting for the next multi-row INSERT (see insertRequest). */
  #intake: QueuedInsert[] = [];
  #inserting = false;

  /**
   * Stores a new request; a repeat with the same MedicationRequest id returns the stored one (created: false).
   * Resolves once the row is committed. Requests arriving meanwhile go into the next INSERT together (group commit):
   * on PGlite a statement's fixed cost is most of the cost of a single-row insert.
   */
  insertRequest(input: NewRequest): Promise<{ created: boolean; request: PracticeRequest }> {
    return new Promise((resolve, reject) => {
      this.#intake.push({ input, receivedAt: new Date(), resolve, reject });
      if (!this.#inserting) {
        this.#inserting = true;
        setImmediate(() => void this.#insertQueued());
      }
    });
  }

  async #insertQueued(): Promise<void> {
    try {
      while (this.#intake.length) {
        // One row per key in a statement, so each caller learns whether it was its row that was created.
        const batch: QueuedInsert[] = [];
        const later: QueuedInsert[] = [];
        const keys = new Set<string>();
        for (const item of this.#intake) {
          const key = `${item.input.tenant}\n${item.input.id}`;
          if (keys.has(key) || batch.length >= 100) later.push(item);
          else (keys.add(key), batch.push(item));
        }
        this.#intake = later;
        try {
          await this.#insertBatch(batch);
        } catch {
          // One bad row must not fail the others: each on its own, with its own error.
          for (const item of batch) await this.#insertBatch([item]).catch(item.reject);
        }
      }
    } finally {
      this.#inserting = false;
    }
  }

  async #insertBatch(batch: QueuedInsert[]): Promise<void> {
    // Only the keys come back: the rows are what we just sent, no need to read the bundles back and parse them again.
    const rows = await this.db.insertInto('practice_request').values(batch.map(({ input, receivedAt }) => ({
      tenant: input.tenant, id: input.id, status: 'pending', flow_type: input.flowType, pharmacy: input.pharmacy ?? null,
      bundle: JSON.stringify(input.bundle), patient: JSON.stringify(input.patient), medication: input.medication,
      requesting_system: input.requestingSystem ?? null, received_at: receivedAt,
    }))).onConflict((oc) => oc.columns(['tenant', 'id']).doNothing()).returning(['tenant', 'id']).execute();
    const created = new Set(rows.map((r) => `${r.tenant}\n${r.id}`));
    for (const { input, receivedAt, resolve, reject } of batch) {
      if (created.has(`${input.tenant}\n${input.id}`)) {
        resolve({
          created: true,
          request: {
            tenant: input.tenant, id: input.id, status: 'pending', flowType: input.flowType, pharmacy: input.pharmacy ?? null,
            bundle: input.bundle, patient: input.patient, medication: input.medication, requestingSystem: input.requestingSystem ?? null,
            receivedAt, batchId: null, prescriptionId: null, accessCode: null, authoredOn: null, cms: null, completedAt: null, error: null,
          },
        });
      } else {
        this.getRequest(input.tenant, input.id).then((request) => resolve({ created: false, request: request! }), reject);
      }
    }
  }

  async getRequest(tenant: string, id: string): Promise<PracticeRequest | undefined> {
    const r = await this.db.selectFrom('practice_request').selectAll().where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
    return r ? toRequest(r) : undefined;
  }

  /** Several requests (without bundle and CMS) in one statement, in the order of `ids` (missing ones left out). */
  async getSummaries(tenant: string, ids: string[]): Promise<RequestSummary[]> {
    if (!ids.length) return [];
    const rows = await this.db.selectFrom('practice_request').select(SUMMARY_COLUMNS).where('tenant', '=', tenant).where('id', 'in', ids).execute();
    const byId = new Map(rows.map((r) => [r.id as string, toSummary(r)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async listRequests(tenant: string, statuses?: RequestStatus[]): Promise<RequestSummary[]> {
    let q = this.db.selectFrom('practice_request').select(SUMMARY_COLUMNS).where('tenant', '=', tenant);
    if (statuses?.length) q = q.where('status', 'in', statuses);
    return (await q.orderBy('received_at').orderBy('id').execute()).map(toSummary);
  }

  /**
   * Claims requests for a batch in one statement: pending ones, and ones left in `signing` by a process whose claim
   * is older than `leaseMs` (it died). Optionally only `ids`. Concurrent claims never return the same row.
   */
  async claim(tenant: string, options: { batchId: string; claimedBy: string; leaseMs: number; ids?: string[] }): Promise<PracticeRequest[]> {
    if (options.ids && options.ids.length === 0) return [];
    const staleBefore = new Date(Date.now() - options.leaseMs);
    let q = this.db.updateTable('practice_request')
      .set({ status: 'signing', batch_id: options.batchId, claimed_by: options.claimedBy, claimed_at: new Date(), error: null })
      .where('tenant', '=', tenant)
      .where((eb) => eb.or([
        eb('status', '=', 'pending'),
        eb.and([eb('status', '=', 'signing'), eb('claimed_at', '<', staleBefore)]),
      ]));
    if (options.ids) q = q.where('id', 'in', options.ids);
    const rows = await q.returningAll().execute();
    return rows.map(toRequest).sort((a, b) => a.receivedAt.getTime() - b.receivedAt.getTime() || (a.id < b.id ? -1 : 1));
  }

  /** Step 1 done: the Fachdienst Tasks exist (PrescriptionID and AccessCode), one statement for many requests. */
  async saveTasks(tenant: string, tasks: { id: string; prescriptionId: string; accessCode: string }[]): Promise<void> {
    if (!tasks.length) return;
    const values = sql.join(tasks.map((t) => sql`(${t.id}::text, ${t.prescriptionId}::text, ${t.accessCode}::text)`));
    await sql`update practice_request p set prescription_id = v.pid, access_code = v.ac, claimed_at = now()
      from (values ${values}) as v(id, pid, ac) where p.tenant = ${tenant} and p.id = v.id`.execute(this.db);
  }

  /**
   * Step 2 done: the QES over the completed bundles. Stored before $activate so a restart re-sends the same ones. The
   * signed bundle itself is inside the CMS (enveloping), so the received one stays as it is (see signedBundle).
   */
  async saveSignatures(tenant: string, signed: { id: string; cms: Buffer; authoredOn: string }[]): Promise<void> {
    if (!signed.length) return;
    const values = sql.join(signed.map((s) => sql`(${s.id}::text, ${s.cms}::bytea, ${s.authoredOn}::text)`));
    await sql`update practice_request p set cms = v.cms, authored_on = v.day, claimed_at = now()
      from (values ${values}) as v(id, cms, day) where p.tenant = ${tenant} and p.id = v.id`.execute(this.db);
  }

  /**
   * Step 3 done: the Tasks are ready at the Fachdienst; their follow-up messages are queued in the same transaction.
   * Requests without follow-ups are done at once.
   */
  async markActivated(tenant: string, activated: { id: string; outbox: { kind: OutboxMessage['kind']; payload: Record<string, unknown> }[] }[]): Promise<void> {
    if (!activated.length) return;
    await this.database.transaction(async (trx) => {
      const now = new Date();
      const withFollowUps = activated.filter((a) => a.outbox.length).map((a) => a.id);
      const plain = activated.filter((a) => !a.outbox.length).map((a) => a.id);
      if (plain.length) await trx.updateTable('practice_request').set({ status: 'done', completed_at: now, error: null }).where('tenant', '=', tenant).where('id', 'in', plain).execute();
      if (withFollowUps.length) await trx.updateTable('practice_request').set({ status: 'activated', completed_at: now, error: null }).where('tenant', '=', tenant).where('id', 'in', withFollowUps).execute();
      const rows = activated.flatMap((a) => a.outbox.map((m) => ({ id: randomUUID(), tenant, request_id: a.id, kind: m.kind, payload: JSON.stringify(m.payload) })));
      if (rows.length) await trx.insertInto('practice_outbox').values(rows).execute();
    });
  }

  async markFailed(tenant: string, id: string, error: string): Promise<void> {
    await this.db.updateTable('practice_request').set({ status: 'failed', error, completed_at: new Date(), cms: null })
      .where('tenant', '=', tenant).where('id', '=', id).execute();
  }

  /** Gives claimed requests back (e.g. the PIN was wrong); what was done so far is kept. */
  async release(tenant: string, ids: string[], error: string): Promise<void> {
    if (!ids.length) return;
    await this.db.updateTable('practice_request').set({ status: 'pending', error, claimed_by: null, claimed_at: null })
      .where('tenant', '=', tenant).where('id', 'in', ids).where('status', '=', 'signing').execute();
  }

  /** The physician names (or removes) the pharmacy of a pending request; the flowtype follows (169/209 or 160/200). */
  async setPharmacy(tenant: string, id: string, pharmacy: string | null, flowType: string): Promise<boolean> {
    const r = await this.db.updateTable('practice_request').set({ pharmacy, flow_type: flowType })
      .where('tenant', '=', tenant).where('id', '=', id).where('status', 'in', ['pending', 'failed']).where('prescription_id', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** A failed request goes back to pending for another try (the UI's "retry"). */
  async retry(tenant: string, ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.db.updateTable('practice_request').set({ status: 'pending', error: null, completed_at: null })
      .where('tenant', '=', tenant).where('id', 'in', ids).where('status', '=', 'failed').execute();
  }

  /** Finished requests (activated, done, failed) completed in [from, to), oldest first. */
  async completedPage(tenant: string, from: Date, to: Date, offset: number, limit: number): Promise<{ total: number; items: RequestSummary[] }> {
    const base = this.db.selectFrom('practice_request').where('tenant', '=', tenant)
      .where('status', 'in', ['activated', 'done', 'failed']).where('completed_at', '>=', from).where('completed_at', '<', to);
    // The total with the page in one statement (a window count, taken before OFFSET/LIMIT); only a page past the end
    // needs the count on its own.
    const rows = await base.select(SUMMARY_COLUMNS).select(sql<number>`count(*) over ()`.as('total'))
      .orderBy('completed_at').orderBy('id').offset(offset).limit(limit).execute();
    if (rows.length) return { total: Number(rows[0].total), items: rows.map(toSummary) };
    const [{ n }] = await base.select((eb) => eb.fn.countAll<number>().as('n')).execute();
    return { total: Number(n), items: [] };
  }

  // Batches

  async createBatch(tenant: string, total: number): Promise<string> {
    const id = randomUUID();
    await this.db.insertInto('practice_batch').values({ id, tenant, total, state: 'running' }).execute();
    return id;
  }

  async setBatchTotal(id: string, total: number): Promise<void> {
    await this.db.updateTable('practice_batch').set({ total }).where('id', '=', id).execute();
  }

  async finishBatch(id: string, state: 'finished' | 'failed', error?: string): Promise<void> {
    await this.db.updateTable('practice_batch').set({ state, error: error ?? null }).where('id', '=', id).execute();
  }

  async batchProgress(tenant: string, id: string): Promise<BatchProgress | undefined> {
    const b = await this.db.selectFrom('practice_batch').selectAll().where('tenant', '=', tenant).where('id', '=', id).executeTakeFirst();
    if (!b) return undefined;
    const counts = await this.db.selectFrom('practice_request').select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('tenant', '=', tenant).where('batch_id', '=', id).groupBy('status').execute();
    const count = (s: string[]) => counts.filter((c) => s.includes(c.status)).reduce((a, c) => a + Number(c.n), 0);
    return {
      id, tenant, total: b.total, done: count(['activated', 'done']), failed: count(['failed']), state: b.state,
      ...(b.error ? { error: b.error } : {}),
    };
  }

  // Outbox

  /** Messages due now, each reserved for `leaseMs` so a second sender (another process) skips it meanwhile. */
  async takeDueOutbox(limit: number, leaseMs: number): Promise<OutboxMessage[]> {
    const now = new Date();
    const due = await this.db.selectFrom('practice_outbox').selectAll().where('delivered_at', 'is', null)
      .where('next_attempt_at', '<=', now).orderBy('next_attempt_at').limit(limit).execute();
    const taken: OutboxMessage[] = [];
    for (const row of due) {
      const r = await this.db.updateTable('practice_outbox').set({ next_attempt_at: new Date(now.getTime() + leaseMs) })
        .where('id', '=', row.id).where('next_attempt_at', '=', row.next_attempt_at).where('delivered_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) taken.push(toOutbox(row));
    }
    return taken;
  }

  /** Delivered: the request is done once none of its messages is still waiting. */
  async outboxDelivered(message: OutboxMessage): Promise<void> {
    await this.database.transaction(async (trx) => {
      await trx.updateTable('practice_outbox').set({ delivered_at: new Date(), attempts: message.attempts + 1, last_error: null })
        .where('id', '=', message.id).execute();
      const open = await trx.selectFrom('practice_outbox').select('id').where('tenant', '=', message.tenant)
        .where('request_id', '=', message.requestId).where('delivered_at', 'is', null).execute();
      if (open.length === 0) {
        await trx.updateTable('practice_request').set({ status: 'done' }).where('tenant', '=', message.tenant)
          .where('id', '=', message.requestId).where('status', '=', 'activated').execute();
      }
    });
  }

  async outboxFailed(message: OutboxMessage, error: string, retryAt: Date): Promise<void> {
    await this.db.updateTable('practice_outbox').set({ attempts: message.attempts + 1, last_error: error.slice(0, 500), next_attempt_at: retryAt })
      .where('id', '=', message.id).execute();
  }

  async outboxFor(tenant: string, requestId: string): Promise<OutboxMessage[]> {
    return (await this.db.selectFrom('practice_outbox').selectAll().where('tenant', '=', tenant).where('request_id', '=', requestId).execute()).map(toOutbox);
  }

  // Settings

  async settings(tenant: string): Promise<{ comfortUserId?: string; webhookUrl?: string }> {
    const r = await this.db.selectFrom('practice_settings').selectAll().where('tenant', '=', tenant).executeTakeFirst();
    return { comfortUserId: r?.comfort_user_id ?? undefined, webhookUrl: r?.webhook_url ?? undefined };
  }

  async setComfortUserId(tenant: string, userId: string | null): Promise<void> {
    await this.db.insertInto('practice_settings').values({ tenant, comfort_user_id: userId })
      .onConflict((oc) => oc.column('tenant').doUpdateSet({ comfort_user_id: userId })).execute();
  }

  async setWebhookUrl(tenant: string, url: string | null): Promise<void> {
    await this.db.insertInto('practice_settings').values({ tenant, webhook_url: url })
      .onConflict((oc) => oc.column('tenant').doUpdateSet({ webhook_url: url })).execute();
  }

  /** Queues a message outside an activation (e.g. a webhook for a failure). */
  async enqueue(tenant: string, requestId: string, kind: OutboxMessage['kind'], payload: Record<string, unknown>): Promise<void> {
    await insertOutbox(this.db, tenant, requestId, kind, payload);
  }
}

async function insertOutbox(db: Kysely<any> | Transaction<any>, tenant: string, requestId: string, kind: string, payload: Record<string, unknown>) {
  await db.insertInto('practice_outbox').values({ id: randomUUID(), tenant, request_id: requestId, kind, payload: JSON.stringify(payload) }).execute();
}

