// SignatureService of the simulated Konnektor (SignatureService 7.5, ti-components.md §3.1–3.4):
// SignDocument as Stapelsignatur (1..250 documents, one PIN entry for the whole batch), CAdES-BES enveloping CMS
// per document, Komfortsignatur, job numbers. The PIN is entered by the simulated terminal in dev mode, else it
// must come with the request (the practice UI asks the physician).
// AuthSignatureService ExternalAuthenticate: ECDSA with the card's AUT key over a hash the client computed (the
// IDP's challenge response, ti-components.md §4.1 step 3).
import { randomInt } from 'node:crypto';
import { signCades } from '../crypto/cades.ts';
import { buildOcspRequest } from '../crypto/ocsp.ts';
import type { KeyAndCert } from '../crypto/pki.ts';
import { DEV_PIN, type CardStore, type PinType, type SmartCard } from './cards.ts';
import type { ComfortSignatures, SignatureModeInfo } from './comfort.ts';
import { signDigest } from './ecdsa.ts';
import { KonnektorError } from './errors.ts';

/** Stapelsignatur: at most this many documents per SignDocument call (= SAK_COMFORT_SIGNATURE_MAX / CountType). */
export const MAX_BATCH = 250;
export const CMS_SIGNATURE_TYPE = 'urn:ietf:rfc:5652';
export const ECDSA_SIGNATURE_TYPE = 'urn:bsi:tr:03111:ecdsa';
const JOB_NUMBER = /^[A-Z]{3}-[0-9]{3}$/;

/** ConnectorContext.xsd: the caller's Mandant, client system, workplace and (optional) user. */
export interface KonnektorContext {
  MandantId: string;
  ClientSystemId: string;
  WorkplaceId: string;
  UserId?: string;
}

export interface SignRequest {
  RequestID: string;
  Document: { Base64Data: string; MimeType?: string; ShortText?: string };
  IncludeRevocationInfo?: boolean;
  SignatureType?: string;
  IncludeEContent?: boolean;
}

export interface SignDocumentRequest {
  Context: KonnektorContext;
  CardHandle: string;
  JobNumber: string;
  TvMode?: 'NONE' | 'UNCONFIRMED' | 'CONFIRMED';
  Crypt?: 'ECC' | 'RSA' | 'RSA_ECC';
  SignRequests: SignRequest[];
  /** The PIN the physician typed (ERX_PIN_PROMPT=1 or no dev mode); in dev mode the terminal enters it. */
  Pin?: string;
}

export interface SignResponse {
  RequestID: string;
  Status: { Result: 'OK' };
  SignatureObject: { Base64Signature: { Type: typeof CMS_SIGNATURE_TYPE; Value: string } };
}

export interface SignDocumentResponse {
  Status: { Result: 'OK' };
  /** COMFORT when a comfort session covered the batch, else PIN. */
  SignatureMode: 'PIN' | 'COMFORT';
  SignResponses: SignResponse[];
}

export interface ExternalAuthenticateRequest {
  Context: KonnektorContext;
  CardHandle: string;
  /** SignatureType urn:bsi:tr:03111:ecdsa (the simulated cards are ECC only, so it is also the default). */
  OptionalInputs?: { SignatureType?: string };
  /** Base64 of the SHA-256 digest to sign (dss:Base64Data). */
  BinaryString: string;
  /** The PIN the user typed when the terminal does not enter it (no dev mode / ERX_PIN_PROMPT=1). */
  Pin?: string;
}

export interface ExternalAuthenticateResponse {
  Status: { Result: 'OK' };
  /** Base64 of the DER ECDSA-Sig-Value (SEQUENCE { r, s }); the client converts it to r||s for a JWS. */
  SignatureObject: { Base64Signature: { Type: typeof ECDSA_SIGNATURE_TYPE; Value: string } };
}

/** The PIN that unlocks a card's AUT key: the SMC-B's PIN.SMC, the holder's PIN.CH on HBA and eGK. */
export function autPinType(card: SmartCard): PinType {
  return card.type === 'SMC-B' ? 'PIN.SMC' : 'PIN.CH';
}

export interface SignatureServiceOptions {
  cards: CardStore;
  comfort: ComfortSignatures;
  /** The simulated terminal enters the dev PIN itself (dev mode without ERX_PIN_PROMPT). */
  autoPin: boolean;
  /**
   * The terminal enters the SMC-B's PIN.SMC (default: as autoPin). The SMC-B is the practice's, unlocked by staff, not
   * the physician: in dev mode this stays on even with ERX_PIN_PROMPT=1, which is about the HBA PIN only.
   */
  autoSmcbPin?: boolean;
  /** DER OCSP response for a certificate, embedded when IncludeRevocationInfo is true. */
  ocsp?: (request: Buffer) => Buffer;
  now?: () => Date;
}

function bad(message: string, error = 'INVALID_REQUEST'): KonnektorError {
  return new KonnektorError(400, error, message);
}

export function checkContext(value: unknown, options: { userIdRequired?: boolean } = {}): KonnektorContext {
  if (typeof value !== 'object' || value === null) throw bad('Context fehlt: {MandantId, ClientSystemId, WorkplaceId[, UserId]}', 'CONTEXT');
  const c = value as Record<string, unknown>;
  for (const field of ['MandantId', 'ClientSystemId', 'WorkplaceId'] as const) {
    if (typeof c[field] !== 'string' || c[field] === '' || (c[field] as string).length > 64) throw bad(`Context.${field} fehlt oder ist ungültig`, 'CONTEXT');
  }
  if (c.UserId !== undefined && (typeof c.UserId !== 'string' || c.UserId.length > 64)) throw bad('Context.UserId ist ungültig', 'CONTEXT');
  if (options.userIdRequired && !c.UserId) throw new KonnektorError(400, '4272', 'UserId nicht zulässig: die Komfortsignatur braucht Context.UserId (UUID)');
  return {
    MandantId: c.MandantId as string, ClientSystemId: c.ClientSystemId as string, WorkplaceId: c.WorkplaceId as string,
    ...(c.UserId ? { UserId: c.UserId as string } : {}),
  };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** type/subtype with optional parameters, printable ASCII, at most 255 characters. */
const MIME_TYPE = /^(?=.{3,255}$)[\w.+-]+\/[\w.+-]+(\s*;\s*[\w.+-]+=("[ -~]*"|[\w.+-]+))*$/;

function checkSignRequests(value: unknown): SignRequest[] {
  if (!Array.isArray(value) || value.length === 0) throw bad('SignRequests: mindestens ein Dokument erforderlich');
  if (value.length > MAX_BATCH) {
    throw new KonnektorError(400, 'BATCH_TOO_LARGE', `Stapelsignatur: höchstens ${MAX_BATCH} Dokumente je SignDocument, erhalten ${value.length}`, { max: MAX_BATCH });
  }
  const ids = new Set<string>();
  return value.map((r: unknown, i) => {
    const req = r as Partial<SignRequest> | null;
    const where = `SignRequests[${i}]`;
    if (!req || typeof req !== 'object') throw bad(`${where} ist kein Objekt`);
    if (typeof req.RequestID !== 'string' || req.RequestID === '' || req.RequestID.length > 128) throw bad(`${where}.RequestID fehlt`);
    if (ids.has(req.RequestID)) throw bad(`${where}.RequestID ${req.RequestID} ist doppelt`);
    ids.add(req.RequestID);
    const data = req.Document?.Base64Data;
    if (typeof data !== 'string' || data.length === 0 || !BASE64.test(data) || data.length % 4 !== 0) throw bad(`${where}.Document.Base64Data fehlt oder ist kein Base64`);
    if (req.Document?.ShortText !== undefined && (typeof req.Document.ShortText !== 'string' || req.Document.ShortText.length > 30)) {
      throw bad(`${where}.Document.ShortText: höchstens 30 Zeichen`);
    }
    const mimeType = req.Document?.MimeType;
    if (mimeType !== undefined && (typeof mimeType !== 'string' || !MIME_TYPE.test(mimeType))) {
      throw bad(`${where}.Document.MimeType ist kein gültiger MIME-Typ (z. B. "text/plain; charset=utf-8")`);
    }
    if (req.SignatureType !== undefined && req.SignatureType !== CMS_SIGNATURE_TYPE && req.SignatureType !== ECDSA_SIGNATURE_TYPE) {
      throw bad(`${where}.SignatureType ${String(req.SignatureType)} wird nicht unterstützt (nur ${CMS_SIGNATURE_TYPE})`);
    }
    if (req.IncludeEContent === false) throw bad(`${where}.IncludeEContent=false (detached) wird nicht unterstützt; das E-Rezept wird enveloping signiert`);
    return req as SignRequest;
  });
}

/** One signing operation at a time per card (a card does one thing at a time; the QES state is per batch). */
function cardLock() {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(handle: string, fn: () => Promise<T>): Promise<T> => {
    const previous = tails.get(handle) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    tails.set(handle, run);
    try {
      return await run;
    } finally {
      if (tails.get(handle) === run) tails.delete(handle);
    }
  };
}

export function createSignatureService(options: SignatureServiceOptions) {
  const { cards, comfort } = options;
  const now = options.now ?? (() => new Date());
  const withCard = cardLock();
  const jobPrefix = Array.from({ length: 3 }, () => String.fromCharCode(65 + randomInt(26))).join('');
  let jobCounter = 0;

  function card(handle: unknown): SmartCard {
    if (typeof handle !== 'string' || handle === '') throw bad('CardHandle fehlt', 'CARD_HANDLE');
    const found = cards.getCard(handle);
    if (!found) throw new KonnektorError(404, 'CARD_NOT_FOUND', `Keine Karte mit CardHandle ${handle}`);
    return found;
  }

  /** PIN entry at the (simulated) terminal. Throws PIN_REQUIRED / PIN_REJECTED / PIN_BLOCKED. */
  async function enterPin(target: SmartCard, pinType: PinType, pin: unknown): Promise<void> {
    const auto = target.type === 'SMC-B' ? (options.autoSmcbPin ?? options.autoPin) : options.autoPin;
    const entered = typeof pin === 'string' && pin !== '' ? pin : auto ? DEV_PIN : undefined;
    if (entered === undefined) {
      throw new KonnektorError(400, 'PIN_REQUIRED', `PIN-Eingabe erforderlich: ${pinType} der Karte ${target.handle} (${target.holderName}); die PIN muss mit der Anfrage kommen (Pin)`, { cardHandle: target.handle, pinType });
    }
    const result = await cards.verifyPin(target.handle, pinType, entered);
    if (result.result === 'REJECTED') {
      throw new KonnektorError(403, 'PIN_REJECTED', `Falsche PIN für ${pinType} der Karte ${target.handle} (${target.holderName}); noch ${result.leftTries} Versuch${result.leftTries === 1 ? '' : 'e'} bis zur Sperre`, { cardHandle: target.handle, pinType, leftTries: result.leftTries });
    }
    if (result.result === 'BLOCKED') throw pinBlocked(target, pinType);
  }

  function pinBlocked(target: SmartCard, pinType: PinType): KonnektorError {
    return new KonnektorError(423, 'PIN_BLOCKED', `${pinType} der Karte ${target.handle} (${target.holderName}) ist nach 3 Fehleingaben gesperrt; mit der PUK entsperren (CardService/UnblockPin)`, { cardHandle: target.handle, pinType, leftTries: 0 });
  }

  function revocationInfo(signer: KeyAndCert): Buffer | undefined {
    if (!options.ocsp || !signer.chain[0]) return undefined;
    return options.ocsp(buildOcspRequest(signer.cert, signer.chain[0]));
  }

  return {
    enterPin,
    card,

    getJobNumber(): string {
      jobCounter = (jobCounter + 1) % 1000;
      return `${jobPrefix}-${String(jobCounter).padStart(3, '0')}`;
    },

    async signDocument(body: Partial<SignDocumentRequest>): Promise<SignDocumentResponse> {
      const context = checkContext(body.Context);
      const target = card(body.CardHandle);
      if (typeof body.JobNumber !== 'string' || !JOB_NUMBER.test(body.JobNumber)) {
        throw bad('JobNumber fehlt oder hat nicht das Format ABC-123 (SignatureService/GetJobNumber)', 'JOB_NUMBER');
      }
      if (body.Crypt !== undefined && body.Crypt !== 'ECC') throw bad(`Crypt ${String(body.Crypt)} wird nicht unterstützt: die simulierten Karten haben ECC-Schlüssel`);
      const requests = checkSignRequests(body.SignRequests);
      const signer = target.type === 'HBA' ? target.qes : target.type === 'SMC-B' ? target.osig : undefined;
      if (!signer) throw bad(`Karte ${target.handle} (${target.type}) kann keine Dokumente signieren; HBA (QES) oder SMC-B (OSIG) verwenden`, 'CARD_TYPE');

      return withCard(target.handle, async () => {
        let mode: 'PIN' | 'COMFORT' = 'PIN';
        if (target.type === 'HBA') {
          const key = { cardHandle: target.handle, clientSystemId: context.ClientSystemId, userId: context.UserId };
          if (comfort.consume(key, requests.length)) mode = 'COMFORT';
          else await enterPin(target, 'PIN.QES', body.Pin);
        } else if ((await cards.pinStatus(target.handle, 'PIN.SMC')).status !== 'VERIFIED') {
          await enterPin(target, 'PIN.SMC', body.Pin);
        }
        try {
          const signingTime = now();
          const ocspResponse = requests.some((r) => r.IncludeRevocationInfo) ? revocationInfo(signer) : undefined;
          const responses = requests.map((r): SignResponse => {
            // Signed attributes as a real Konnektor writes them for the E-Rezept QES (ti-components.md §3.2).
            const cms = signCades(Buffer.from(r.Document.Base64Data, 'base64'), signer, {
              signingTime,
              algorithmProtection: true,
              ...(r.Document.MimeType ? { mimeType: r.Document.MimeType } : {}),
              ...(r.Document.ShortText ? { contentHint: r.Document.ShortText } : {}),
              ...(r.IncludeRevocationInfo && ocspResponse ? { ocspResponse } : {}),
            });
            return {
              RequestID: r.RequestID,
              Status: { Result: 'OK' },
              SignatureObject: { Base64Signature: { Type: CMS_SIGNATURE_TYPE, Value: cms.toString('base64') } },
            };
          });
          return { Status: { Result: 'OK' }, SignatureMode: mode, SignResponses: responses };
        } finally {
          // PIN.QES authorises one batch only.
          if (target.type === 'HBA' && mode === 'PIN') await cards.resetSecurityState(target.handle, 'PIN.QES');
        }
      });
    },

    /**
     * ExternalAuthenticate: signs a SHA-256 digest with the AUT key (C.HCI.AUT / C.HP.AUT / C.CH.AUT). The AUT PIN
     * stays verified once entered (PIN.SMC is unlocked once per SMC-B, PIN.CH once per HBA/eGK session), unlike
     * PIN.QES which authorises one batch.
     */
    async externalAuthenticate(body: Partial<ExternalAuthenticateRequest>): Promise<ExternalAuthenticateResponse> {
      checkContext(body.Context);
      const target = card(body.CardHandle);
      const type = body.OptionalInputs?.SignatureType ?? ECDSA_SIGNATURE_TYPE;
      if (type !== ECDSA_SIGNATURE_TYPE) {
        throw bad(`SignatureType ${String(type)} wird nicht unterstützt: die simulierten Karten haben ECC-Schlüssel (${ECDSA_SIGNATURE_TYPE})`, 'SIGNATURE_TYPE');
      }
      const data = body.BinaryString;
      if (typeof data !== 'string' || !BASE64.test(data) || data.length % 4 !== 0) throw bad('BinaryString fehlt oder ist kein Base64');
      const digest = Buffer.from(data, 'base64');
      if (digest.length !== 32) throw bad(`BinaryString muss ein SHA-256-Hashwert sein (32 Byte), erhalten ${digest.length} Byte`);
      const pinType = autPinType(target);
      return withCard(target.handle, async () => {
        const { status } = await cards.pinStatus(target.handle, pinType);
        // A blocked PIN is reported as such, not as "PIN required" (no PIN entry could help).
        if (status === 'BLOCKED') throw pinBlocked(target, pinType);
        if (status !== 'VERIFIED') await enterPin(target, pinType, body.Pin);
        const signature = signDigest(target.aut.key, digest);
        return { Status: { Result: 'OK' }, SignatureObject: { Base64Signature: { Type: ECDSA_SIGNATURE_TYPE, Value: signature.toString('base64') } } };
      });
    },

    async activateComfortSignature(body: { Context?: unknown; CardHandle?: unknown; Pin?: unknown }): Promise<{ Status: { Result: 'OK' }; SignatureMode: 'COMFORT' }> {
      const context = checkContext(body.Context, { userIdRequired: true });
      const target = card(body.CardHandle);
      if (target.type !== 'HBA') throw bad(`Komfortsignatur gibt es nur für das HBA, ${target.handle} ist ${target.type}`, 'CARD_TYPE');
      const key = { cardHandle: target.handle, clientSystemId: context.ClientSystemId, userId: context.UserId };
      comfort.checkActivation(key);
      return withCard(target.handle, async () => {
        await enterPin(target, 'PIN.QES', body.Pin);
        comfort.activate(key);
        await cards.resetSecurityState(target.handle, 'PIN.QES');
        return { Status: { Result: 'OK' }, SignatureMode: 'COMFORT' };
      });
    },

    deactivateComfortSignature(body: { Context?: unknown; CardHandle?: unknown }): { Status: { Result: 'OK' }; Deactivated: number } {
      const handles = Array.isArray(body.CardHandle) ? body.CardHandle : [body.CardHandle];
      if (handles.length === 0) throw bad('CardHandle fehlt', 'CARD_HANDLE');
      const context = body.Context === undefined ? undefined : checkContext(body.Context);
      let ended = 0;
      for (const handle of handles) {
        const target = card(handle);
        ended += comfort.deactivate(target.handle, context?.UserId ? { clientSystemId: context.ClientSystemId, userId: context.UserId } : {});
      }
      return { Status: { Result: 'OK' }, Deactivated: ended };
    },

    getSignatureMode(body: { Context?: unknown; CardHandle?: unknown }): { Status: { Result: 'OK' } } & SignatureModeInfo {
      const context = checkContext(body.Context);
      const target = card(body.CardHandle);
      return { Status: { Result: 'OK' }, ...comfort.mode({ cardHandle: target.handle, clientSystemId: context.ClientSystemId, userId: context.UserId }) };
    },
  };
}

export type SignatureService = ReturnType<typeof createSignatureService>;
