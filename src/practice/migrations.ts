// Tables of the practice module: prescription requests from third-party systems (RED $createerptask), signing
// batches for the UI's progress bar, a durable outbox for KIM assignments and webhooks, per-tenant settings.
// A request's progress lives in its columns (prescription_id, cms, …), not only in `status`, so a batch that dies
// half-way is resumed from exactly where it stopped.
import { sql, type Kysely } from 'kysely';
import type { Migration } from '../storage/migrations.ts';

export const practiceMigrations: Migration[] = [
  {
    name: '200_practice_requests',
    async up(db: Kysely<any>) {
      await sql`create table practice_request (
        tenant text not null,
        id text not null,
        status text not null,
        flow_type text not null,
        pharmacy text,
        bundle jsonb not null,
        patient jsonb not null,
        medication text not null,
        requesting_system text,
        received_at timestamptz not null,
        batch_id text,
        claimed_by text,
        claimed_at timestamptz,
        prescription_id text,
        access_code text,
        authored_on text,
        cms bytea,
        completed_at timestamptz,
        error text,
        primary key (tenant, id)
      )`.execute(db);
      await sql`create index practice_request_status on practice_request (tenant, status)`.execute(db);
      await sql`create index practice_request_completed on practice_request (tenant, completed_at)`.execute(db);
      await sql`create table practice_batch (
        id text primary key,
        tenant text not null,
        total integer not null,
        state text not null,
        error text,
        created_at timestamptz not null default now()
      )`.execute(db);
      await sql`create table practice_outbox (
        id text primary key,
        tenant text not null,
        request_id text not null,
        kind text not null,
        payload jsonb not null,
        attempts integer not null default 0,
        next_attempt_at timestamptz not null default now(),
        delivered_at timestamptz,
        last_error text
      )`.execute(db);
      await sql`create index practice_outbox_due on practice_outbox (next_attempt_at) where delivered_at is null`.execute(db);
      await sql`create table practice_settings (
        tenant text primary key,
        comfort_user_id text,
        webhook_url text
      )`.execute(db);
    },
  },
];
