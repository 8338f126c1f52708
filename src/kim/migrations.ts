// The KIM tables: mailboxes per KIM address and the messages in them (raw bytes, one row per recipient).
import { sql, type Kysely } from 'kysely';
import type { Migration } from '../storage/migrations.ts';

export const kimMigrations: Migration[] = [
  {
    name: '300_kim_mailboxes',
    async up(db: Kysely<any>) {
      await sql`
        create table kim_mailbox (
          address text primary key,
          created_at timestamptz not null default now()
        );
        create table kim_message (
          mailbox text not null references kim_mailbox(address) on delete cascade,
          uid text not null,
          seq bigserial not null,
          raw bytea not null,
          size integer not null,
          received_at timestamptz not null default now(),
          primary key (mailbox, uid)
        );
        create index kim_message_mailbox_seq on kim_message (mailbox, seq);
      `.execute(db);
    },
  },
];
