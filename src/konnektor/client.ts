// Typed client of the simulated Konnektor's HTTP JSON interface (used by the practice module and tests).
import { randomUUID } from 'node:crypto';
import type { PinStatus, PinType } from './cards.ts';
import type { SignatureModeInfo } from './comfort.ts';
import type { ExternalAuthenticateResponse, KonnektorContext, SignDocumentResponse, SignRequest } from './signature.ts';

export class KonnektorClientError extends Error {
  override name = 'KonnektorClientError';
  constructor(readonly status: number, readonly error: string, message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
  }
}

export interface CardInfo {
  CardHandle: string;
  CardType: 'HBA' | 'SMC-B' | 'EGK';
  Iccsn: string;
  CtId: string;
  SlotId: number;
  CardHolderName: string;
  ProfessionOID: string;
  TelematikId?: string;
  Kvnr?: string;
  CertificateExpirationDate: string;
}

export interface DocumentToSign {
  /** Correlates the answer; default the index. */
  requestId?: string;
  content: Buffer | string;
  /** At most 30 characters, shown at the terminal. */
  shortText?: string;
  mimeType?: string;
  includeRevocationInfo?: boolean;
}

export interface SignedDocument {
  requestId: string;
  /** DER CAdES-BES enveloping CMS. */
  cms: Buffer;
}

/** CertificateService CertRefEnum. */
export type CertRef = 'C.AUT' | 'C.ENC' | 'C.SIG' | 'C.QES';

export interface KonnektorClientOptions {
  context: KonnektorContext;
  fetch?: typeof fetch;
}

export function newUserId(): string {
  return randomUUID();
}

export function createKonnektorClient(baseUrl: string, options: KonnektorClientOptions) {
  const base = baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const ctx = (userId?: string): KonnektorContext => ({ ...options.context, ...(userId ? { UserId: userId } : {}) });

  async function call<T>(path: string, body?: object): Promise<T> {
    const res = await doFetch(`${base}${path}`, body === undefined
      ? { method: 'GET' }
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new KonnektorClientError(res.status, 'BAD_RESPONSE', `Konnektor ${path} answered ${res.status} without JSON`);
    }
    if (!res.ok) {
      const { error, message, ...details } = json ?? {};
      throw new KonnektorClientError(res.status, String(error ?? 'ERROR'), String(message ?? `Konnektor ${path} answered ${res.status}`), details);
    }
    return json as T;
  }

  return {
    async getCards(filter: { cardType?: CardInfo['CardType']; ctId?: string; telematikId?: string; kvnr?: string } = {}): Promise<CardInfo[]> {
      const r = await call<{ Cards: CardInfo[] }>('/EventService/GetCards', {
        Context: ctx(), CardType: filter.cardType, CtId: filter.ctId, TelematikId: filter.telematikId, Kvnr: filter.kvnr,
      });
      return r.Cards;
    },
    async getCardTerminals(): Promise<{ CtId: string; Name: string; Slots: number; Connected: boolean }[]> {
      return (await call<{ CardTerminals: { CtId: string; Name: string; Slots: number; Connected: boolean }[] }>('/EventService/GetCardTerminals')).CardTerminals;
    },
    async getPinStatus(cardHandle: string, pinType?: PinType): Promise<{ status: PinStatus; leftTries: number }> {
      const r = await call<{ PinStatus: PinStatus; LeftTries: number }>('/CardService/GetPinStatus', { Context: ctx(), CardHandle: cardHandle, PinTyp: pinType });
      return { status: r.PinStatus, leftTries: r.LeftTries };
    },
    /** Throws KonnektorClientError PIN_REJECTED (details.leftTries) / PIN_BLOCKED / PIN_REQUIRED. */
    async verifyPin(cardHandle: string, pinType?: PinType, pin?: string): Promise<void> {
      await call('/CardService/VerifyPin', { Context: ctx(), CardHandle: cardHandle, PinTyp: pinType, Pin: pin });
    },
    async unblockPin(cardHandle: string, puk: string, options: { pinType?: PinType; newPin?: string } = {}): Promise<void> {
      await call('/CardService/UnblockPin', { Context: ctx(), CardHandle: cardHandle, PinTyp: options.pinType, Puk: puk, NewPin: options.newPin });
    },
    /** CertificateService ReadCardCertificate: the card's certificate (DER), by default C.AUT. No PIN needed. */
    async readCardCertificate(cardHandle: string, certRef: CertRef = 'C.AUT'): Promise<Buffer> {
      const r = await call<{ X509DataInfoList: { CertRef: CertRef; X509Data: { X509Certificate: string } }[] }>('/CertificateService/ReadCardCertificate', {
        Context: ctx(), CardHandle: cardHandle, CertRefList: [certRef], Crypt: 'ECC',
      });
      const info = r.X509DataInfoList.find((i) => i.CertRef === certRef);
      if (!info) throw new KonnektorClientError(502, 'BAD_RESPONSE', `Konnektor lieferte kein Zertifikat ${certRef}`);
      return Buffer.from(info.X509Data.X509Certificate, 'base64');
    },
    /**
     * AuthSignatureService ExternalAuthenticate: ECDSA (urn:bsi:tr:03111:ecdsa) with the card's AUT key over a
     * SHA-256 digest; returns the DER ECDSA-Sig-Value. Unlocks the AUT PIN first if needed (PIN.SMC / PIN.CH): in
     * dev mode the terminal enters it, else `pin` must be given; throws PIN_REQUIRED / PIN_REJECTED / PIN_BLOCKED.
     */
    async externalAuthenticate(cardHandle: string, digest: Buffer, opts: { pin?: string } = {}): Promise<Buffer> {
      const r = await call<ExternalAuthenticateResponse>('/AuthSignatureService/ExternalAuthenticate', {
        Context: ctx(), CardHandle: cardHandle, OptionalInputs: { SignatureType: 'urn:bsi:tr:03111:ecdsa' },
        BinaryString: digest.toString('base64'), ...(opts.pin ? { Pin: opts.pin } : {}),
      });
      return Buffer.from(r.SignatureObject.Base64Signature.Value, 'base64');
    },
    async getJobNumber(): Promise<string> {
      return (await call<{ JobNumber: string }>('/SignatureService/GetJobNumber', { Context: ctx() })).JobNumber;
    },
    /**
     * Signs 1..250 documents in one call (Stapelsignatur, one PIN entry). With `userId` of an active comfort
     * session no PIN is needed. `pin` is what the physician typed (PIN prompt mode).
     */
    async signDocuments(cardHandle: string, documents: DocumentToSign[], opts: { pin?: string; userId?: string; jobNumber?: string } = {}): Promise<{ mode: 'PIN' | 'COMFORT'; signed: SignedDocument[] }> {
      const requests: SignRequest[] = documents.map((d, i) => ({
        RequestID: d.requestId ?? String(i),
        Document: {
          Base64Data: (typeof d.content === 'string' ? Buffer.from(d.content, 'utf8') : d.content).toString('base64'),
          MimeType: d.mimeType ?? 'text/plain; charset=utf-8',
          ...(d.shortText ? { ShortText: d.shortText } : {}),
        },
        IncludeRevocationInfo: d.includeRevocationInfo ?? true,
      }));
      const r = await call<SignDocumentResponse>('/SignatureService/SignDocument', {
        Context: ctx(opts.userId), CardHandle: cardHandle, JobNumber: opts.jobNumber ?? (await this.getJobNumber()),
        TvMode: 'NONE', SignRequests: requests, ...(opts.pin ? { Pin: opts.pin } : {}),
      });
      return {
        mode: r.SignatureMode,
        signed: r.SignResponses.map((s) => ({ requestId: s.RequestID, cms: Buffer.from(s.SignatureObject.Base64Signature.Value, 'base64') })),
      };
    },
    /** `userId` must be a fresh UUID per activation (4270 otherwise); see newUserId(). */
    async activateComfortSignature(cardHandle: string, userId: string, pin?: string): Promise<void> {
      await call('/SignatureService/ActivateComfortSignature', { Context: ctx(userId), CardHandle: cardHandle, ...(pin ? { Pin: pin } : {}) });
    },
    async deactivateComfortSignature(cardHandle: string, userId?: string): Promise<number> {
      return (await call<{ Deactivated: number }>('/SignatureService/DeactivateComfortSignature', { ...(userId ? { Context: ctx(userId) } : {}), CardHandle: [cardHandle] })).Deactivated;
    },
    async getSignatureMode(cardHandle: string, userId?: string): Promise<SignatureModeInfo> {
      const { Status: _status, ...info } = await call<SignatureModeInfo & { Status: unknown }>('/SignatureService/GetSignatureMode', { Context: ctx(userId), CardHandle: cardHandle });
      return info;
    },
  };
}

export type KonnektorClient = ReturnType<typeof createKonnektorClient>;
