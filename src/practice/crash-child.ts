// Child process of the crash test: the practice and the Fachdienst (plus Konnektor and IDP) in one process on a
// persistent database and PKI, listening on a free port. Prints {"port": n} when ready, then runs until killed.
// Argument: JSON {databaseUrl?, dataDir?, pkiDir, claimLeaseMs, activateDelayMs}.
import { join } from 'node:path';
import { loadOrCreatePki } from '../crypto/pki.ts';
import { openDatabase } from '../storage/database.ts';
import { createPracticeWorld } from './testing.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as { databaseUrl?: string; dataDir?: string; pkiDir: string; claimLeaseMs: number; activateDelayMs: number };
const database = await openDatabase(options.databaseUrl ? { databaseUrl: options.databaseUrl } : { dataDir: options.dataDir });
const pki = await loadOrCreatePki(join(options.pkiDir, 'pki'));
const world = await createPracticeWorld(database, {
  pki,
  claimLeaseMs: options.claimLeaseMs,
  // Network latency on $activate, so the parent's SIGKILL lands in the middle of the batch.
  wrapFachdienstFetch: (f) => (async (input: string | URL | Request, init?: RequestInit) => {
    if (String(input).includes('$activate')) await new Promise((r) => setTimeout(r, options.activateDelayMs));
    return f(input, init);
  }) as typeof fetch,
});
const address = await world.app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ port: Number(new URL(address).port) })}\n`);
