// Every feature's migrations, in one list. A feature keeps its migration files in its own folder and adds one
// import line here (see src/storage/README.md). Order of this list does not matter: migrate() sorts by name.
import type { Migration } from '../migrations.ts';
import { konnektorMigrations } from '../../konnektor/migrations.ts';
import { kimMigrations } from '../../kim/migrations.ts';
import { fachdienstMigrations } from '../../fachdienst/migrations.ts';
import { practiceMigrations } from '../../practice/migrations.ts';

export const migrations: Migration[] = [
  ...konnektorMigrations,
  ...kimMigrations,
  ...fachdienstMigrations,
  ...practiceMigrations,
];
