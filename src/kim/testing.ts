// Test helper: a throw-away in-memory platform database with the KIM tables.
import { openDatabase, type Database, type OpenOptions } from '../storage/database.ts';
import { registerKimMigrations } from './migrations.ts';

export async function openKimDatabase(options: OpenOptions = { dataDir: ':memory:' }): Promise<Database> {
  registerKimMigrations();
  return openDatabase(options);
}
