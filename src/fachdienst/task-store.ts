// Persistence of Tasks and what hangs off them. Every state change runs in one transaction that first locks the
// Task row (`SELECT … FOR UPDATE`), so concurrent operations on one Task are serialised: of 50 parallel $accept
// exactly one sees `ready`. Nothing is acknowledged before its transaction committed.
import { CompiledQuery, sql, type Kysely, type RawBuilder, type SqlBool, type Transaction } from 'kysely';
import type { Database } from '../storage/database.ts';
import { formatPrescriptionId, parsePrescriptionId } from '../fhir/identifiers.ts';
import { notFound } from '../fhir/errors.ts';
import type { Resource } from '../fhir/types.ts';
import type { TaskStatus } from './task-state.ts';
import { auditRow, type AuditInput } from './audit.ts';

export interface TaskRecord {
  id: string;
  flowType: string;
  status: TaskStatus;
  kvnr: string | null;
  accessCode: string | null;
  secret: string | null;
  owner: string | null;
  authoredOn: Date;
  lastModified: Date;
  acceptDate: string | null;
  expiryDate: string | null;
  /** MVO: first day of the redemption period (YYYY-MM-DD). */
  redeemableFrom: string | null;
  lastMedicationDispense: Date | null;
  acceptedAt: Date | null;
  closedAt: Date | null;
  /** The QES-signed prescription (CAdES enveloping, DER) exactly as the prescriber sent it. */
  prescriptionCms: Buffer | null;
  prescriptionBinaryId: string | null;
  patientConfirmationId: string | null;
  /** base64 SHA-256 of the signed content: what the receipt's Digest Binary carries. */
  prescriptionDigest: string | null;
  /** The KBV bundle (FHIR JSON), for the insured's copy. */
  bundle: Resource | null;
  receipt: Resource | null;
  isPkv: boolean;
}

const COLUMNS: Record<keyof TaskRecord, string> = {
  id: 'id', flowType: 'flow_type', status: 'status', kvnr: 'kvnr', accessCode: 'access_code', secret: 'secret',
  owner: 'owner', authoredOn: 'authored_on', lastModified: 'last_modified', acceptDate: 'accept_date',
  expiryDate: 'expiry_date', redeemableFrom: 'redeemable_from', lastMedicationDispense: 'last_medication_dispense', acceptedAt: 'accepted_at',
  closedAt: 'closed_at', prescriptionCms: 'prescription_cms', prescriptionBinaryId: 'prescription_binary_id',
  patientConfirmationId: 'patient_confirmation_id', prescriptionDigest: 'prescription_digest', bundle: 'bundle',
  receipt: 'receipt', isPkv: 'is_pkv',
};
const JSON_FIELDS = new Set<keyof TaskRecord>(['bundle', 'receipt']);

function fromRow(row: Record<string, unknown>): TaskRecord {
  const task = {} as Record<string, unknown>;
  for (const [field, column] of Object.entries(COLUMNS)) task[field] = row[column] ?? null;
  const t = task as unknown as TaskRecord;
  t.authoredOn = new Date(t.authoredOn);
  t.lastModified = new Date(t.lastModified);
  for (const k of ['lastMedicationDispense', 'acceptedAt', 'closedAt'] as const) if (t[k]) t[k] = new Date(t[k] as Date);
  if (t.prescriptionCms && !Buffer.isBuffer(t.prescriptionCms)) t.prescriptionCms = Buffer.from(t.prescriptionCms as Uint8Array);
  t.isPkv = Boolean(t.isPkv);
  return t;
}

function toColumns(patch: Partial<TaskRecord>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(patch) as [keyof TaskRecord, unknown][]) {
    if (value === undefined) continue;
    out[COLUMNS[field]] = JSON_FIELDS.has(field) && value !== null ? JSON.stringify(value) : value;
  }
  return out;
}

export type Tx = Transaction<any>;

/** What an update decides: the Task's changes, its AuditEvent, and dispense rows for a Task that has none yet. */
export interface TaskDecision<T> {
  patch?: Partial<TaskRecord>;
  audit?: AuditInput;
  /** Inserted with the update (only when the Task has no MedicationDispense rows: lastMedicationDispense unset). */
  insertDispenses?: Omit<DispenseRecord, 'prescriptionId' | 'seq'>[];
  result: T;
}

function dispenseRows(prescriptionId: string, list: Omit<DispenseRecord, 'prescriptionId' | 'seq'>[]): Record<string, unknown>[] {
  return list.map((d, seq) => ({
    prescription_id: prescriptionId, seq, id: d.id, kvnr: d.kvnr, performer: d.performer,
    when_handed_over: d.whenHandedOver, when_prepared: d.whenPrepared,
    resource: JSON.stringify(d.resource), medication: d.medication ? JSON.stringify(d.medication) : null,
  }));
}

/** SQL types of the AuditEvent columns (INSERT … SELECT of parameters needs them spelled out). */
const AUDIT_COLUMN_TYPES: Record<string, string> = {
  id: 'text', kvnr: 'text', prescription_id: 'text', recorded: 'timestamptz', action: 'text', kind: 'text', resource: 'jsonb',
};

const DISPENSE_COLUMN_TYPES: Record<string, string> = {
  prescription_id: 'text', seq: 'integer', id: 'text', kvnr: 'text', performer: 'text', when_handed_over: 'text',
  when_prepared: 'text', resource: 'jsonb', medication: 'jsonb',
};
const DISPENSE_COLUMNS = Object.keys(DISPENSE_COLUMN_TYPES);

/** Thrown by lockedTx: the optimistic decision needs the row lock (it writes with `tx`). */
const LOCK_NEEDED = Symbol('lock needed');

/** In an updateTaskOptimistic decision: the transaction to write with, or (without one) a retry under the row lock. */
export function lockedTx(tx: Tx | undefined): Tx {
  if (!tx) throw LOCK_NEEDED;
  return tx;
}

const GET_TASK_SQL = 'select * from fachdienst_task where id = $1';
/** The Task without the KBV bundle and the receipt (JSON of several KB that no state decision reads). */
const GET_TASK_FOR_DECISION_SQL = `select ${Object.values(COLUMNS).filter((c) => c !== 'bundle' && c !== 'receipt').join(', ')} from fachdienst_task where id = $1`;
/** The same without the signed prescription (~12 KB of bytea), for decisions whose answer does not carry it ($close). */
const GET_TASK_FOR_DECISION_WITHOUT_CMS_SQL = `select ${Object.values(COLUMNS).filter((c) => c !== 'bundle' && c !== 'receipt' && c !== 'prescription_cms').join(', ')} from fachdienst_task where id = $1`;
const CREATE_TASK_SQL = `with s as (select nextval('fachdienst_prescription_seq') as n)
insert into fachdienst_task (id, flow_type, status, access_code, authored_on, last_modified)
select lpad(cast(cast($2 as bigint) as text), 3, '0') || '.' || substr(d, 1, 3) || '.' || substr(d, 4, 3) || '.' || substr(d, 7, 3)
    || '.' || substr(d, 10, 3) || '.' || lpad(cast(98 - (cast($2 as bigint) * 1000000000000 + n) * 100 % 97 as text), 2, '0'),
  $1, 'draft', $3, $4, $4
from (select n, lpad(cast(n as text), 12, '0') as d from s where n < 1000000000000) as x
returning *`;

export interface DispenseRecord {
  prescriptionId: string;
  seq: number;
  id: string;
  kvnr: string;
  performer: string;
  whenHandedOver: string | null;
  whenPrepared: string | null;
  resource: Resource;
  medication: Resource | null;
}

export interface TaskQuery {
  kvnr: string;
  status?: TaskStatus[];
  /** FHIR date comparisons on authoredOn / lastModified: [prefix, ISO instant]. */
  authoredOn?: DateFilter[];
  lastModified?: DateFilter[];
  sort?: { field: 'authored_on' | 'last_modified'; descending: boolean };
  /** Only these flowtypes (the pharmacy's eGK list: 160). */
  flowTypes?: string[];
  /** Only Tasks whose ExpiryDate (yyyy-mm-dd) is this day or later. */
  expiresOnOrAfter?: string;
  offset: number;
  count: number;
}

export interface DateFilter {
  op: '=' | '<' | '<=' | '>' | '>=' | '<>';
  /** inclusive start and exclusive end of the value's precision (a day, a second). */
  start: Date;
  end: Date;
}

/** SQL for a FHIR date search: `eq` means inside the value's range, `gt` after its end, and so on. */
function dateCondition(column: string, f: DateFilter): RawBuilder<SqlBool> {
  const c = sql.ref(column);
  switch (f.op) {
    case '=':
      return sql<SqlBool>`(${c} >= ${f.start} and ${c} < ${f.end})`;
    case '<>':
      return sql<SqlBool>`(${c} < ${f.start} or ${c} >= ${f.end})`;
    case '<':
      return sql<SqlBool>`${c} < ${f.start}`;
    case '<=':
      return sql<SqlBool>`${c} < ${f.end}`;
    case '>':
      return sql<SqlBool>`${c} >= ${f.end}`;
    case '>=':
      return sql<SqlBool>`${c} >= ${f.start}`;
  }
}

export class TaskStore {
  readonly database: Database;

  constructor(database: Database) {
    this.database = database;
  }

  private get db(): Kysely<any> {
    return this.database.db;
  }

  /**
   * A new draft Task with the next PrescriptionID of the sequence, in one statement: the ID is formatted in SQL
   * (the checksum of formatPrescriptionId) and checked against formatPrescriptionId before it is handed out.
   */
  async createTask(input: { flowType: string; accessCode: string; now: Date }): Promise<TaskRecord> {
    const { rows } = await this.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(CREATE_TASK_SQL, [
      input.flowType, Number(input.flowType), input.accessCode, input.now,
    ]));
    if (rows.length !== 1) throw new RangeError('PrescriptionID sequence exhausted');
    const task = fromRow(rows[0]);
    const parsed = parsePrescriptionId(task.id);
    if (!parsed || formatPrescriptionId(input.flowType, parsed.sequence) !== task.id) {
      throw new Error(`PrescriptionID ${task.id} formatted by the database does not match formatPrescriptionId`);
    }
    return task;
  }

  async getTask(id: string, db: Kysely<any> = this.db): Promise<TaskRecord | undefined> {
    // Precompiled: the hottest read, no query building per request.
    const { rows } = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(GET_TASK_SQL, [id]));
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** getTask without `bundle` and `receipt` (null here), and without `prescriptionCms` when `withCms` is false. */
  private async getTaskForDecision(id: string, withCms: boolean): Promise<TaskRecord | undefined> {
    const sql = withCms ? GET_TASK_FOR_DECISION_SQL : GET_TASK_FOR_DECISION_WITHOUT_CMS_SQL;
    const { rows } = await this.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(sql, [id]));
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /**
   * Locks the Task, lets `fn` check it and say what changes (it may write related rows with `tx`), writes the
   * change and the AuditEvent `fn` names, commits. A thrown error rolls everything back. 404 when the Task does not exist.
   */
  async updateTask<T>(id: string, fn: (task: TaskRecord, tx: Tx) => Promise<TaskDecision<T>>): Promise<T> {
    return this.database.transaction(async (tx) => {
      const row = await tx.selectFrom('fachdienst_task').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
      if (!row) throw notFound(`Task ${id} nicht gefunden`);
      const task = fromRow(row);
      const { patch, audit, insertDispenses, result } = await fn(task, tx);
      const changes = patch && Object.keys(patch).length > 0 ? toColumns(patch) : undefined;
      if (changes && audit) {
        // One round trip for all: data-modifying WITHs run exactly once, in the same statement and transaction.
        let q = tx.with('task_update', (db) => db.updateTable('fachdienst_task').set(changes).where('id', '=', id));
        if (insertDispenses?.length) {
          const rows = dispenseRows(id, insertDispenses);
          q = q.with('dispense_insert', (db) => db.insertInto('fachdienst_medication_dispense').values(rows));
        }
        await q.insertInto('fachdienst_audit_event').values(auditRow(audit)).execute();
      } else {
        if (insertDispenses?.length) await tx.insertInto('fachdienst_medication_dispense').values(dispenseRows(id, insertDispenses)).execute();
        if (changes) await tx.updateTable('fachdienst_task').set(changes).where('id', '=', id).execute();
        if (audit) await tx.insertInto('fachdienst_audit_event').values(auditRow(audit)).execute();
      }
      return result;
    });
  }

  /**
   * The same decision without a transaction when nobody else touches the Task: `fn` decides on a plain read
   * (`seen`, or read here), then one statement applies the patch, inserts the dispense rows and stores the
   * AuditEvent only if the Task is still as read (status and lastModified). If it changed meanwhile, the decision is
   * taken again under the row lock (updateTask), so the outcome is the same as with locking: of parallel $accept
   * exactly one wins. Two round trips instead of five. Without the lock `fn` gets no `tx` and must not write; when
   * it needs to (rare paths), `lockedTx(tx)` sends the decision to the locked path. Read here (no `seen`), the Task
   * comes without `bundle` and `receipt` (null): decisions must not depend on them; with `withCms: false` also
   * without `prescriptionCms` (the locked retry reads everything).
   */
  async updateTaskOptimistic<T>(
    id: string,
    fn: (task: TaskRecord, tx?: Tx) => Promise<TaskDecision<T> & { patch: Partial<TaskRecord>; audit: AuditInput }>,
    seen?: TaskRecord,
    { withCms = true }: { withCms?: boolean } = {},
  ): Promise<T> {
    const task = seen ?? (await this.getTaskForDecision(id, withCms));
    if (!task) throw notFound(`Task ${id} nicht gefunden`);
    let decision;
    try {
      decision = await fn(task);
    } catch (err) {
      if (err === LOCK_NEEDED) return this.updateTask(id, fn);
      throw err;
    }
    if (await this.writeIfUnchanged(task, decision)) return decision.result;
    return this.updateTask(id, fn);
  }

  /**
   * UPDATE … WHERE unchanged, and the dispense rows and AuditEvent inserted only with it: all or nothing, one
   * statement. The SQL is put together here (no query builder on the hot path); columns come from COLUMNS and the
   * type tables, every value is a parameter.
   */
  private async writeIfUnchanged(seen: TaskRecord, decision: { patch: Partial<TaskRecord>; audit: AuditInput; insertDispenses?: TaskDecision<unknown>['insertDispenses'] }): Promise<boolean> {
    const values: unknown[] = [];
    const param = (value: unknown) => {
      values.push(value);
      return `$${values.length}`;
    };
    const changes = toColumns(decision.patch);
    const set = Object.keys(changes).map((c) => `"${c}" = ${param(changes[c])}`).join(', ');
    let text = `with task_update as (update fachdienst_task set ${set} where id = ${param(seen.id)} and status = ${param(seen.status)} and last_modified = ${param(seen.lastModified)} returning id)`;
    if (decision.insertDispenses?.length) {
      const rows = dispenseRows(seen.id, decision.insertDispenses)
        .map((r) => `(${DISPENSE_COLUMNS.map((c) => `cast(${param(r[c])} as ${DISPENSE_COLUMN_TYPES[c]})`).join(', ')})`);
      text += `, dispense_insert as (insert into fachdienst_medication_dispense (${DISPENSE_COLUMNS.join(', ')}) select * from (values ${rows.join(', ')}) as v where exists (select 1 from task_update))`;
    }
    const audit = auditRow(decision.audit);
    const columns = Object.keys(audit);
    text += ` insert into fachdienst_audit_event (${columns.join(', ')}) select ${columns.map((c) => `cast(${param(audit[c])} as ${AUDIT_COLUMN_TYPES[c]})`).join(', ')} from task_update returning id`;
    const { rows } = await this.db.executeQuery(CompiledQuery.raw(text, values));
    return rows.length === 1;
  }

  async listTasks(q: TaskQuery): Promise<{ tasks: TaskRecord[]; more: boolean }> {
    let query = this.db.selectFrom('fachdienst_task').selectAll().where('kvnr', '=', q.kvnr)
      // drafts have no KVNR yet; cancelled Tasks are gone for the insured
      .where('status', 'not in', ['draft', 'cancelled']);
    if (q.status?.length) query = query.where('status', 'in', q.status);
    if (q.flowTypes?.length) query = query.where('flow_type', 'in', q.flowTypes);
    if (q.expiresOnOrAfter) query = query.where('expiry_date', '>=', q.expiresOnOrAfter);
    for (const f of q.authoredOn ?? []) query = query.where(dateCondition('authored_on', f));
    for (const f of q.lastModified ?? []) query = query.where(dateCondition('last_modified', f));
    const sort = q.sort ?? { field: 'authored_on', descending: false };
    query = query.orderBy(sort.field, sort.descending ? 'desc' : 'asc').orderBy('id', sort.descending ? 'desc' : 'asc');
    const rows = await query.offset(q.offset).limit(q.count + 1).execute();
    return { tasks: rows.slice(0, q.count).map(fromRow), more: rows.length > q.count };
  }

  /** Replaces the MedicationDispenses of a Task (a repeated $dispense replaces the earlier data). */
  async replaceDispenses(tx: Tx, prescriptionId: string, list: Omit<DispenseRecord, 'prescriptionId' | 'seq'>[]): Promise<void> {
    await tx.deleteFrom('fachdienst_medication_dispense').where('prescription_id', '=', prescriptionId).execute();
    if (list.length === 0) return;
    await tx.insertInto('fachdienst_medication_dispense').values(dispenseRows(prescriptionId, list)).execute();
  }

  async deleteDispenses(tx: Tx, prescriptionId: string): Promise<void> {
    await tx.deleteFrom('fachdienst_medication_dispense').where('prescription_id', '=', prescriptionId).execute();
  }

  async countDispenses(tx: Tx, prescriptionId: string): Promise<number> {
    const row = await tx.selectFrom('fachdienst_medication_dispense').select((eb) => eb.fn.countAll().as('n'))
      .where('prescription_id', '=', prescriptionId).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  async listDispenses(filter: { kvnr: string; prescriptionId?: string }): Promise<DispenseRecord[]> {
    let q = this.db.selectFrom('fachdienst_medication_dispense as d')
      .innerJoin('fachdienst_task as t', 't.id', 'd.prescription_id')
      .selectAll('d')
      .where('d.kvnr', '=', filter.kvnr)
      .where('t.status', 'in', ['in-progress', 'completed'])
      // the insured sees dispense data once the pharmacy provided it (lastMedicationDispense set)
      .where('t.last_medication_dispense', 'is not', null);
    if (filter.prescriptionId) q = q.where('d.prescription_id', '=', filter.prescriptionId);
    const rows = await q.orderBy('d.prescription_id').orderBy('d.seq').execute();
    return rows.map((r) => ({
      prescriptionId: r.prescription_id, seq: r.seq, id: r.id, kvnr: r.kvnr, performer: r.performer,
      whenHandedOver: r.when_handed_over, whenPrepared: r.when_prepared, resource: r.resource, medication: r.medication,
    }));
  }

  /** $abort: deletes Communications and MedicationDispenses of the Task (personal data, A_19027-06). */
  async deleteTaskData(tx: Tx, prescriptionId: string): Promise<void> {
    await this.deleteDispenses(tx, prescriptionId);
    await tx.deleteFrom('fachdienst_communication').where('prescription_id', '=', prescriptionId).execute();
  }
}
