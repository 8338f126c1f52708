// Tables of the simulated Konnektor: the PIN state of the soft smart cards (retry counters survive restarts,
// as on a real card). Card keys and certificates live in the PKI directory, not here.
import { sql, type Kysely } from 'kysely';
import type { Migration } from '../storage/migrations.ts';

export const konnektorMigrations: Migration[] = [
  {
    name: '400_cards_pins',
    async up(db: Kysely<any>) {
      await sql`create table konnektor_card_pins (
        iccsn text not null,
        pin_type text not null,
        card_handle text not null,
        pin_salt bytea not null,
        pin_hash bytea not null,
        puk_hash bytea not null,
        retries_left integer not null,
        puk_retries_left integer not null,
        status text not null,
        verified boolean not null default false,
        updated_at timestamptz not null default now(),
        primary key (iccsn, pin_type)
      )`.execute(db);
    },
  },
];
