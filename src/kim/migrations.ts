// The KIM tables: mailboxes per KIM address and the messages in them (raw bytes, one row per recipient).
import { sql, type Kysely } from 'kysely';
import { registerMigrations, type Migration } from '../storage/migrations.ts';
import { migrations as featureMigrations } from '../storage/migrations/index.ts';

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

let registered = false;

/**
 * Makes sure the KIM migrations are part of the platform's list, whether or not storage's migrations/index.ts
 * imports them yet; call before openDatabase, or run migrate() afterwards (startKimService does).
 */
export function registerKimMigrations(): void {
  if (registered) return;
  registered = true;
  if (!featureMigrations.some((m) => m.name === kimMigrations[0].name)) registerMigrations(kimMigrations);
}
