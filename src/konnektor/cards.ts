// Soft smart cards of the seeded world: an HBA for the physician (QES + AUT), an SMC-B for the practice, each
// pharmacy and the payer (AUT + OSIG), an eGK for each insured (AUT). Keys and certificates come from the PKI
// directory (loadOrCreatePki); the PIN state (retry counter, blocked, verified) is kept in the database so a
// wrong PIN counts even across restarts, as on a real card.
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Card, KeyAndCert, LoadedPki } from '../crypto/pki.ts';
import { secretsEqual } from '../fhir/identifiers.ts';
import type { Identity } from '../seed/identities.ts';
import type { Database } from '../storage/database.ts';
import { KonnektorError } from './errors.ts';

/** Konnektor card types (CardServiceCommon.xsd CardTypeType). */
export type CardType = 'HBA' | 'SMC-B' | 'EGK';
export type PinType = 'PIN.CH' | 'PIN.QES' | 'PIN.SMC';
/** CardService GetPinStatus values. */
export type PinStatus = 'VERIFIED' | 'TRANSPORT_PIN' | 'EMPTY_PIN' | 'BLOCKED' | 'VERIFIABLE';

/** The simulated terminal's PINs in dev mode; every seeded card starts with them. */
export const DEV_PIN = '123456';
export const DEV_PUK = '12345678';
/** Card PIN retry counter (gemSpec_COS: 3). */
export const PIN_RETRIES = 3;
export const PUK_RETRIES = 10;

export interface SmartCard {
  /** Konnektor card handle, stable across restarts (e.g. `HBA-2`, `SMC-B-1`, `EGK-25`). */
  handle: string;
  type: CardType;
  /** 20-digit card serial number (80 276 …). */
  iccsn: string;
  holderName: string;
  identityId: string;
  role: Identity['role'];
  professionOID: string;
  telematikId?: string;
  kvnr?: string;
  /** Card terminal and slot the card sits in. */
  ctId: string;
  slotId: number;
  /** The PINs this card has. */
  pinTypes: PinType[];
  /** Authentication key (C.HP.AUT / C.HCI.AUT / C.CH.AUT). */
  aut: KeyAndCert;
  /** HBA: qualified signature key (C.HP.QES). */
  qes?: KeyAndCert;
  /** SMC-B: organisation signature key (C.HCI.OSIG). */
  osig?: KeyAndCert;
  /** Certificate expiry of the AUT certificate. */
  notAfter?: Date;
}

export interface CardTerminal {
  ctId: string;
  name: string;
  slots: number;
  connected: boolean;
}

export type VerifyPinResult =
  | { result: 'OK'; leftTries: number }
  | { result: 'REJECTED'; leftTries: number }
  | { result: 'BLOCKED'; leftTries: 0 };

export interface PinState {
  status: PinStatus;
  leftTries: number;
}


export interface CardStore {
  /** All cards, optionally filtered. */
  cards(filter?: { type?: CardType; ctId?: string; identityId?: string; telematikId?: string; kvnr?: string }): SmartCard[];
  getCard(handle: string): SmartCard | undefined;
  cardsForIdentity(identityId: string): SmartCard[];
  terminals(): CardTerminal[];
  pinStatus(handle: string, pinType: PinType): Promise<PinState>;
  /** Checks a PIN: a wrong one counts down, the third blocks; a right one resets the counter. */
  verifyPin(handle: string, pinType: PinType, pin: string): Promise<VerifyPinResult>;
  /** Unblocks with the PUK and optionally sets a new PIN. */
  unblockPin(handle: string, pinType: PinType, puk: string, newPin?: string): Promise<VerifyPinResult>;
  /** Forgets the VERIFIED security state (card reset). */
  resetSecurityState(handle: string, pinType?: PinType): Promise<void>;
}

const HANDLE_PREFIX: Record<CardType, string> = { HBA: 'HBA', 'SMC-B': 'SMC-B', EGK: 'EGK' };

function cardTypeOf(card: Card): CardType {
  return card.type === 'eGK' ? 'EGK' : card.type;
}

/** The terminal a seeded card sits in: the practice's cards share one, every other holder has its own. */
function terminalOf(identity: Identity): string {
  if (identity.role === 'practice' || identity.role === 'physician') return 'CT-PRAXIS-1';
  return `CT-${identity.id.toUpperCase()}`;
}

function pinTypesOf(type: CardType): PinType[] {
  if (type === 'HBA') return ['PIN.CH', 'PIN.QES'];
  if (type === 'SMC-B') return ['PIN.SMC'];
  return ['PIN.CH'];
}

/** Builds the card list from the PKI's seeded cards, in seed order; the handle number is the ICCSN's sequence. */
export function smartCardsOf(pki: LoadedPki): SmartCard[] {
  const slots = new Map<string, number>();
  return Object.values(pki.cards).map((card) => {
    const type = cardTypeOf(card);
    const ctId = terminalOf(card.identity);
    const slotId = (slots.get(ctId) ?? 0) + 1;
    slots.set(ctId, slotId);
    const sequence = Number(card.iccsn.slice(-6));
    const smartCard: SmartCard = {
      handle: `${HANDLE_PREFIX[type]}-${sequence}`,
      type,
      iccsn: card.iccsn,
      holderName: card.identity.name,
      identityId: card.identity.id,
      role: card.identity.role,
      professionOID: card.identity.professionOID,
      ctId,
      slotId,
      pinTypes: pinTypesOf(type),
      aut: card.aut,
    };
    if (card.identity.telematikId && type !== 'EGK') smartCard.telematikId = card.identity.telematikId;
    if (card.identity.kvnr) smartCard.kvnr = card.identity.kvnr;
    if (card.qes) smartCard.qes = card.qes;
    if (card.osig) smartCard.osig = card.osig;
    return smartCard;
  });
}

function hashSecret(salt: Buffer, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret, 'utf8').digest();
}

interface PinRow {
  iccsn: string;
  pin_type: string;
  card_handle: string;
  pin_salt: Buffer;
  pin_hash: Buffer;
  puk_hash: Buffer;
  retries_left: number;
  puk_retries_left: number;
  status: string;
  verified: boolean;
}

/** PINs are 4–8 digits (ISO 9564 / gemSpec_COS). */
function checkPinFormat(pin: unknown, what = 'PIN'): string {
  if (typeof pin !== 'string' || !/^[0-9]{4,8}$/.test(pin)) throw new KonnektorError(400, 'PIN_FORMAT', `${what} must be 4 to 8 digits`);
  return pin;
}

/**
 * Opens the card store: builds the cards from the PKI and creates the PIN rows of new cards (dev PIN and PUK,
 * counter 3). Existing rows keep their state.
 */
export async function openCardStore(database: Database, pki: LoadedPki, options: { pin?: string; puk?: string } = {}): Promise<CardStore> {
  const db = database.db as Kysely<any>;
  const list = smartCardsOf(pki);
  const byHandle = new Map(list.map((c) => [c.handle, c]));
  const initialPin = options.pin ?? DEV_PIN;
  const initialPuk = options.puk ?? DEV_PUK;

  const rows = list.flatMap((card) =>
    card.pinTypes.map((pinType) => {
      const salt = randomBytes(16);
      return {
        iccsn: card.iccsn, pin_type: pinType, card_handle: card.handle, pin_salt: salt,
        pin_hash: hashSecret(salt, initialPin), puk_hash: hashSecret(salt, initialPuk),
        retries_left: PIN_RETRIES, puk_retries_left: PUK_RETRIES, status: 'VERIFIABLE', verified: false,
      };
    }),
  );
  if (rows.length) await db.insertInto('konnektor_card_pins').values(rows).onConflict((oc) => oc.columns(['iccsn', 'pin_type']).doNothing()).execute();

  function cardOrThrow(handle: string, pinType: PinType): SmartCard {
    const card = byHandle.get(handle);
    if (!card) throw new KonnektorError(404, 'CARD_NOT_FOUND', `no card with handle ${handle}`);
    if (!card.pinTypes.includes(pinType)) {
      throw new KonnektorError(400, 'PIN_TYPE', `card ${handle} (${card.type}) has no ${pinType}; it has ${card.pinTypes.join(', ')}`);
    }
    return card;
  }

  async function withPinRow<T>(card: SmartCard, pinType: PinType, fn: (row: PinRow, update: (values: Partial<PinRow>) => Promise<void>) => Promise<T>): Promise<T> {
    return database.transaction(async (trx) => {
      const row = (await trx.selectFrom('konnektor_card_pins').selectAll()
        .where('iccsn', '=', card.iccsn).where('pin_type', '=', pinType).forUpdate().executeTakeFirst()) as PinRow | undefined;
      if (!row) throw new KonnektorError(500, 'CARD_STATE', `no PIN state for card ${card.handle}`);
      const update = async (values: Partial<PinRow>) => {
        await trx.updateTable('konnektor_card_pins').set({ ...values, updated_at: new Date() })
          .where('iccsn', '=', card.iccsn).where('pin_type', '=', pinType).execute();
      };
      return fn(row, update);
    });
  }

  return {
    cards(filter = {}) {
      return list.filter((c) =>
        (!filter.type || c.type === filter.type) && (!filter.ctId || c.ctId === filter.ctId) &&
        (!filter.identityId || c.identityId === filter.identityId) &&
        (!filter.telematikId || c.telematikId === filter.telematikId) && (!filter.kvnr || c.kvnr === filter.kvnr));
    },
    getCard: (handle) => byHandle.get(handle),
    cardsForIdentity: (identityId) => list.filter((c) => c.identityId === identityId),
    terminals() {
      const ids = [...new Set(list.map((c) => c.ctId))];
      return ids.map((ctId) => ({ ctId, name: `Simuliertes Kartenterminal ${ctId}`, slots: Math.max(2, list.filter((c) => c.ctId === ctId).length), connected: true }));
    },

    async pinStatus(handle, pinType) {
      const card = cardOrThrow(handle, pinType);
      const row = (await db.selectFrom('konnektor_card_pins').selectAll()
        .where('iccsn', '=', card.iccsn).where('pin_type', '=', pinType).executeTakeFirst()) as PinRow | undefined;
      if (!row) throw new KonnektorError(500, 'CARD_STATE', `no PIN state for card ${handle}`);
      const status = row.status === 'VERIFIABLE' && row.verified ? 'VERIFIED' : (row.status as PinStatus);
      return { status, leftTries: row.retries_left };
    },

    async verifyPin(handle, pinType, pin) {
      const card = cardOrThrow(handle, pinType);
      checkPinFormat(pin);
      return withPinRow(card, pinType, async (row, update) => {
        if (row.status === 'BLOCKED' || row.retries_left <= 0) return { result: 'BLOCKED', leftTries: 0 } as const;
        if (secretsEqual(hashSecret(row.pin_salt, pin).toString('hex'), row.pin_hash.toString('hex'))) {
          await update({ retries_left: PIN_RETRIES, verified: true, status: row.status === 'TRANSPORT_PIN' ? 'TRANSPORT_PIN' : 'VERIFIABLE' });
          return { result: 'OK', leftTries: PIN_RETRIES } as const;
        }
        const left = row.retries_left - 1;
        await update({ retries_left: left, verified: false, status: left === 0 ? 'BLOCKED' : row.status });
        return left === 0 ? ({ result: 'BLOCKED', leftTries: 0 } as const) : ({ result: 'REJECTED', leftTries: left } as const);
      });
    },

    async unblockPin(handle, pinType, puk, newPin) {
      const card = cardOrThrow(handle, pinType);
      checkPinFormat(puk, 'PUK');
      if (newPin !== undefined) checkPinFormat(newPin, 'new PIN');
      return withPinRow(card, pinType, async (row, update) => {
        if (row.puk_retries_left <= 0) return { result: 'BLOCKED', leftTries: 0 } as const;
        if (!secretsEqual(hashSecret(row.pin_salt, puk).toString('hex'), row.puk_hash.toString('hex'))) {
          const left = row.puk_retries_left - 1;
          await update({ puk_retries_left: left });
          return left === 0 ? ({ result: 'BLOCKED', leftTries: 0 } as const) : ({ result: 'REJECTED', leftTries: left } as const);
        }
        await update({
          retries_left: PIN_RETRIES, puk_retries_left: row.puk_retries_left - 1, status: 'VERIFIABLE', verified: false,
          ...(newPin !== undefined ? { pin_hash: hashSecret(row.pin_salt, newPin) } : {}),
        });
        return { result: 'OK', leftTries: PIN_RETRIES } as const;
      });
    },

    async resetSecurityState(handle, pinType) {
      const card = byHandle.get(handle);
      if (!card) throw new KonnektorError(404, 'CARD_NOT_FOUND', `no card with handle ${handle}`);
      let q = db.updateTable('konnektor_card_pins').set({ verified: false, updated_at: new Date() }).where('iccsn', '=', card.iccsn);
      if (pinType) q = q.where('pin_type', '=', pinType);
      await q.execute();
    },
  };
}
