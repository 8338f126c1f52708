// The process-wide Database and test PKI, opened once on first use and shared by every service of the process
// (`ctx.resources` closes them at shutdown). Every service gets them from here, so all open them the same way.
import { join } from 'node:path';
import { loadOrCreatePki, type LoadedPki } from '../crypto/pki.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import type { ServiceContext } from './service.ts';

export function getDatabase(ctx: ServiceContext): Promise<Database> {
  return ctx.resources.get('database', () => openDatabase({ dataDir: ctx.config.dataDir, databaseUrl: ctx.config.databaseUrl }));
}

export function getPki(ctx: ServiceContext): Promise<LoadedPki> {
  return ctx.resources.get('pki', () => loadOrCreatePki(join(ctx.config.dataDir, 'pki'), { curve: ctx.config.pkiCurve }));
}
