// Test helper: a Konnektor app on an in-memory database and a fresh seeded PKI (no ports opened; use inject).
import type { FastifyInstance } from 'fastify';
import { createSeededPki, type LoadedPki } from '../crypto/pki.ts';
import { physician } from '../seed/identities.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { createKonnektorApp, type KonnektorAppOptions } from './app.ts';
import { openCardStore, type CardStore } from './cards.ts';

export interface TestKonnektor {
  app: FastifyInstance;
  cards: CardStore;
  pki: LoadedPki;
  database: Database;
  /** The physician's HBA handle. */
  hba: string;
  close(): Promise<void>;
}

export const CONTEXT = { MandantId: 'demopraxis_1000', ClientSystemId: 'PVS', WorkplaceId: 'Arbeitsplatz1' };

let sharedPki: LoadedPki | undefined;

export async function startTestKonnektor(options: Partial<Omit<KonnektorAppOptions, 'cards'>> = {}): Promise<TestKonnektor> {
  const pki = options.pki ?? (sharedPki ??= createSeededPki());
  const database = await openDatabase({ dataDir: ':memory:' });
  const cards = await openCardStore(database, pki);
  const app = createKonnektorApp({ autoPin: true, ...options, pki, cards });
  await app.ready();
  return {
    app, cards, pki, database,
    hba: cards.cardsForIdentity(physician.id)[0].handle,
    async close() {
      await app.close();
      await database.close();
    },
  };
}

/** POSTs JSON to the app and returns status and parsed body. */
export async function post(app: FastifyInstance, url: string, payload: object): Promise<{ status: number; body: any }> {
  const res = await app.inject({ method: 'POST', url, payload });
  return { status: res.statusCode, body: res.json() };
}
