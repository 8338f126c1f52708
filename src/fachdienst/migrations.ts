// Fachdienst schema. Every table is keyed by the Task's PrescriptionID or the insured's KVNR, so it can be
// distributed (Citus, YugabyteDB) by those keys. The PrescriptionID number comes from one SEQUENCE (unique across
// processes). JSON columns hold FHIR resources as the codec produces them.
import { sql } from 'kysely';
import type { Migration } from '../storage/migrations.ts';

export const fachdienstMigrations: Migration[] = [
  {
    name: '100_fachdienst_tasks',
    async up(db) {
      await sql`create sequence fachdienst_prescription_seq start with 1 minvalue 1 maxvalue 999999999999 no cycle`.execute(db);
      await sql`create table fachdienst_task (
        id text primary key,
        flow_type text not null,
        status text not null,
        kvnr text,
        access_code text,
        secret text,
        owner text,
        authored_on timestamptz not null,
        last_modified timestamptz not null,
        accept_date text,
        expiry_date text,
        -- MVO: first day the prescription may be redeemed
        redeemable_from text,
        last_medication_dispense timestamptz,
        accepted_at timestamptz,
        closed_at timestamptz,
        -- the QES-signed prescription exactly as received, and the ids its Binary / patient copy are known by
        prescription_cms bytea,
        prescription_binary_id text,
        patient_confirmation_id text,
        prescription_digest text,
        bundle jsonb,
        receipt jsonb,
        is_pkv boolean not null default false
      )`.execute(db);
      await sql`create index fachdienst_task_kvnr on fachdienst_task (kvnr, authored_on)`.execute(db);
      await sql`create index fachdienst_task_status on fachdienst_task (status, last_modified)`.execute(db);
      await sql`create table fachdienst_medication_dispense (
        prescription_id text not null,
        seq integer not null,
        id text not null,
        kvnr text not null,
        performer text not null,
        when_handed_over text,
        when_prepared text,
        resource jsonb not null,
        medication jsonb,
        primary key (prescription_id, seq)
      )`.execute(db);
      await sql`create index fachdienst_medication_dispense_kvnr on fachdienst_medication_dispense (kvnr)`.execute(db);
      await sql`create table fachdienst_communication (
        id text primary key,
        prescription_id text not null,
        kind text not null,
        sender text not null,
        recipient text not null,
        sent timestamptz not null,
        received timestamptz,
        resource jsonb not null
      )`.execute(db);
      await sql`create index fachdienst_communication_prescription on fachdienst_communication (prescription_id)`.execute(db);
      await sql`create index fachdienst_communication_recipient on fachdienst_communication (recipient, sent)`.execute(db);
      await sql`create index fachdienst_communication_sender on fachdienst_communication (sender, sent)`.execute(db);
      await sql`create table fachdienst_audit_event (
        id text primary key,
        -- insertion order, to keep events of the same instant in order
        seq bigserial not null,
        kvnr text not null,
        prescription_id text,
        recorded timestamptz not null,
        action text not null,
        resource jsonb not null
      )`.execute(db);
      await sql`create index fachdienst_audit_event_kvnr on fachdienst_audit_event (kvnr, recorded, seq)`.execute(db);
    },
  },
  {
    // AuditEvent texts are rendered per request language (Accept-Language de/en): keep what happened.
    name: '101_fachdienst_audit_kind',
    async up(db) {
      await sql`alter table fachdienst_audit_event add column kind text`.execute(db);
    },
  },
  {
    // PKV billing (erp-api §1.2 Consent, ChargeItem): one CHARGCONS consent per insured, one ChargeItem per PKV
    // prescription. A ChargeItem outlives its Task (retention 10 years) so it keeps its own copies of the
    // prescription bundle and the receipt; it is deleted with the consent or by the insured.
    name: '110_fachdienst_pkv_billing',
    async up(db) {
      await sql`create table fachdienst_consent (
        kvnr text primary key,
        date_time timestamptz not null,
        resource jsonb not null
      )`.execute(db);
      await sql`create table fachdienst_charge_item (
        id text primary key,
        kvnr text not null,
        enterer text not null,
        entered_date timestamptz not null,
        access_code text not null,
        resource jsonb not null,
        -- the PKV dispense data as the pharmacy signed it (CAdES enveloping, DER)
        dispense_cms bytea not null,
        prescription_bundle jsonb,
        receipt jsonb
      )`.execute(db);
      await sql`create index fachdienst_charge_item_kvnr on fachdienst_charge_item (kvnr, entered_date)`.execute(db);
    },
  },
  {
    // The signed prescription, the KBV bundle and the receipt are several KB each: PostgreSQL's default TOAST
    // compression (pglz) was ~17 % of its CPU per lifecycle in bench/lifecycle.ts; lz4 compresses at a fraction of
    // that. Only where the server is built with lz4 (Debian's PostgreSQL is; PGlite is not and keeps pglz).
    name: '150_fachdienst_toast_lz4',
    async up(db) {
      const { rows } = await sql<{ lz4: boolean }>`select coalesce('lz4' = any(enumvals), false) as lz4 from pg_settings where name = 'default_toast_compression'`.execute(db);
      if (!rows[0]?.lz4) return;
      await sql`alter table fachdienst_task alter column prescription_cms set compression lz4,
        alter column bundle set compression lz4, alter column receipt set compression lz4`.execute(db);
    },
  },
  {
    // GET /Task with the eGK: failed KVNR / hcv comparisons per pharmacy (Telematik-ID, the distribution key here)
    // and Berlin day (A_27446), in the database so every worker and a restarted Fachdienst count the same.
    // Past days are deleted by the retention job.
    name: '160_fachdienst_egk_failures',
    async up(db) {
      await sql`create table fachdienst_egk_failure (
        telematik_id text not null,
        day date not null,
        failures integer not null,
        primary key (telematik_id, day)
      )`.execute(db);
    },
  },
];
