// HTTP JSON face of the simulated Konnektor. Paths name the Konnektor's services and operations
// (EventService, CardService, CertificateService, SignatureService, AuthSignatureService,
// VSDService), bodies use the XSD element names (Context, CardHandle, PinTyp,
// SignRequests…), so the mapping to the real SOAP interface is obvious. Errors: `{ error, message }` + status.
// Also serves the test PKI's OCSP responder at /ocsp (the AIA URL written into the card certificates).
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { createOcspResponder, ocspRoutes, RevocationRegistry } from '../crypto/ocsp.ts';
import { parseCertificate, type LoadedPki } from '../crypto/pki.ts';
import { PIN_RETRIES, type CardStore, type PinType, type SmartCard } from './cards.ts';
import { ComfortSignatures, type ComfortConfig } from './comfort.ts';
import { KonnektorError } from './errors.ts';
import { checkContext, createSignatureService, type ExternalAuthenticateRequest, type SignDocumentRequest } from './signature.ts';
import { createReadVsd, type ReadVsdRequest } from './vsd.ts';

export interface KonnektorAppOptions {
  cards: CardStore;
  /** For the OCSP responder and IncludeRevocationInfo; without it neither is offered. */
  pki?: LoadedPki;
  /** config.dev && !config.pinPrompt: the simulated terminal enters the PIN itself. */
  autoPin: boolean;
  /** config.dev: the simulated terminal enters the SMC-B PIN (also with ERX_PIN_PROMPT=1); default autoPin. */
  autoSmcbPin?: boolean;
  comfort?: Partial<ComfortConfig>;
  /** Clock for the comfort timer and signingTime (tests). */
  now?: () => number;
  logger?: boolean;
  /** VSDM Prüfziffer key shared with the Fachdienst (ReadVSD); without it ReadVSD proofs have result 3. */
  vsdmKey?: Buffer;
}

const PIN_TYPES: PinType[] = ['PIN.CH', 'PIN.QES', 'PIN.SMC'];
/** CertificateService CertRefEnum: which certificate of the card. C.ENC is not kept by the simulated Konnektor. */
const CERT_REFS = ['C.AUT', 'C.ENC', 'C.SIG', 'C.QES'] as const;
type CertRef = (typeof CERT_REFS)[number];

function certificateOf(card: SmartCard, ref: CertRef): Buffer {
  const found = ref === 'C.AUT' ? card.aut : ref === 'C.QES' && card.type === 'HBA' ? card.qes : ref === 'C.SIG' && card.type === 'SMC-B' ? card.osig : undefined;
  if (!found) throw new KonnektorError(404, 'CERT_NOT_FOUND', `Die Karte ${card.handle} (${card.type}) hat kein Zertifikat ${ref}`);
  return found.cert;
}

function cardInfo(card: SmartCard) {
  return {
    CardHandle: card.handle,
    CardType: card.type,
    Iccsn: card.iccsn,
    CtId: card.ctId,
    SlotId: card.slotId,
    CardHolderName: card.holderName,
    ProfessionOID: card.professionOID,
    ...(card.telematikId ? { TelematikId: card.telematikId } : {}),
    ...(card.kvnr ? { Kvnr: card.kvnr } : {}),
    CertificateExpirationDate: parseCertificate(card.aut.cert).notAfter.toISOString().slice(0, 10),
  };
}

function pinTypeOf(card: SmartCard, value: unknown): PinType {
  if (value === undefined) return card.type === 'SMC-B' ? 'PIN.SMC' : 'PIN.CH';
  if (typeof value !== 'string' || !PIN_TYPES.includes(value as PinType)) {
    throw new KonnektorError(400, 'PIN_TYPE', `PinTyp muss einer von ${PIN_TYPES.join(', ')} sein`);
  }
  return value as PinType;
}

export function createKonnektorApp(options: KonnektorAppOptions): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: 32 * 1024 * 1024, logController: new LogController({ disableRequestLogging: true }) });
  const now = options.now ?? Date.now;
  const comfort = new ComfortSignatures(options.comfort, now);
  const pki = options.pki;
  const registry = pki ? new RevocationRegistry(pki.dir || null) : undefined;
  const ocspOptions = pki && registry
    ? { signer: pki.ocsp, issuers: [pki.cas.hba.cert, pki.cas.smcb.cert, pki.cas.egk.cert, pki.cas.component.cert], registry }
    : undefined;
  const signatures = createSignatureService({
    cards: options.cards,
    comfort,
    autoPin: options.autoPin,
    autoSmcbPin: options.autoSmcbPin,
    ocsp: ocspOptions ? createOcspResponder(ocspOptions) : undefined,
    now: () => new Date(now()),
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof KonnektorError) return reply.code(error.status).send(error.toJSON());
    const e = error as { statusCode?: number; code?: string; message?: string };
    if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: 'TOO_LARGE', message: 'Anfrage ist zu groß' });
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ error: 'INVALID_REQUEST', message: `Ungültige Anfrage: ${e.message ?? ''}`.trim() });
    }
    request.log.error({ err: { message: e.message } }, 'konnektor request failed');
    return reply.code(500).send({ error: 'INTERNAL', message: 'Interner Fehler des Konnektors' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'NOT_FOUND', message: `Keine Operation ${request.method} ${request.url.split('?')[0]}` }));

  const body = (request: { body: unknown }) => (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, unknown>;

  app.get('/health', async () => ({ status: 'ok' }));

  // EventService
  app.post('/EventService/GetCards', async (request) => {
    const b = body(request);
    checkContext(b.Context);
    if (b.CardType !== undefined && !['HBA', 'SMC-B', 'EGK'].includes(b.CardType as string)) {
      throw new KonnektorError(400, 'CARD_TYPE', 'CardType muss HBA, SMC-B oder EGK sein');
    }
    const list = options.cards.cards({
      type: b.CardType as SmartCard['type'] | undefined,
      ctId: typeof b.CtId === 'string' ? b.CtId : undefined,
      telematikId: typeof b.TelematikId === 'string' ? b.TelematikId : undefined,
      kvnr: typeof b.Kvnr === 'string' ? b.Kvnr : undefined,
    });
    return { Status: { Result: 'OK' }, Cards: list.map(cardInfo) };
  });
  app.get('/EventService/GetCardTerminals', async () => ({
    Status: { Result: 'OK' },
    CardTerminals: options.cards.terminals().map((t) => ({ CtId: t.ctId, Name: t.name, Slots: t.slots, Connected: t.connected })),
  }));

  // CardService
  app.post('/CardService/GetPinStatus', async (request) => {
    const b = body(request);
    checkContext(b.Context);
    const card = signatures.card(b.CardHandle);
    const state = await options.cards.pinStatus(card.handle, pinTypeOf(card, b.PinTyp));
    return { Status: { Result: 'OK' }, PinStatus: state.status, LeftTries: state.leftTries };
  });
  app.post('/CardService/VerifyPin', async (request) => {
    const b = body(request);
    checkContext(b.Context);
    const card = signatures.card(b.CardHandle);
    const pinType = pinTypeOf(card, b.PinTyp);
    await signatures.enterPin(card, pinType, b.Pin);
    return { Status: { Result: 'OK' }, PinResult: 'OK', LeftTries: PIN_RETRIES };
  });
  app.post('/CardService/UnblockPin', async (request) => {
    const b = body(request);
    checkContext(b.Context);
    const card = signatures.card(b.CardHandle);
    if (typeof b.Puk !== 'string') throw new KonnektorError(400, 'PUK_REQUIRED', 'Puk fehlt');
    const result = await options.cards.unblockPin(card.handle, pinTypeOf(card, b.PinTyp), b.Puk, typeof b.NewPin === 'string' ? b.NewPin : undefined);
    if (result.result === 'REJECTED') throw new KonnektorError(403, 'PUK_REJECTED', `Falsche PUK; noch ${result.leftTries} Versuche`, { leftTries: result.leftTries });
    if (result.result === 'BLOCKED') throw new KonnektorError(423, 'PUK_BLOCKED', 'Die PUK ist verbraucht; die Karte muss getauscht werden', { leftTries: 0 });
    return { Status: { Result: 'OK' }, PinResult: 'OK', LeftTries: result.leftTries };
  });

  // CertificateService: the card's certificates (public, no PIN), e.g. C.AUT for the IDP's signed challenge.
  app.post('/CertificateService/ReadCardCertificate', async (request) => {
    const b = body(request);
    checkContext(b.Context);
    const card = signatures.card(b.CardHandle);
    if (b.Crypt !== undefined && b.Crypt !== 'ECC') throw new KonnektorError(400, 'INVALID_REQUEST', `Crypt ${String(b.Crypt)} wird nicht unterstützt: die simulierten Karten haben ECC-Schlüssel`);
    const refs = b.CertRefList;
    if (!Array.isArray(refs) || refs.length === 0 || refs.some((r) => !CERT_REFS.includes(r as CertRef))) {
      throw new KonnektorError(400, 'INVALID_REQUEST', `CertRefList: eine Liste aus ${CERT_REFS.join(', ')}`);
    }
    return {
      Status: { Result: 'OK' },
      X509DataInfoList: (refs as CertRef[]).map((ref) => {
        const cert = parseCertificate(certificateOf(card, ref));
        return { CertRef: ref, X509Data: { X509SerialNumber: cert.serial, X509Certificate: cert.der.toString('base64') } };
      }),
    };
  });

  // AuthSignatureService
  app.post('/AuthSignatureService/ExternalAuthenticate', async (request) => signatures.externalAuthenticate(body(request) as Partial<ExternalAuthenticateRequest>));

  // VSDService: VSD of an eGK and the online check's Prüfungsnachweis (pharmacy: E-Rezepte with the eGK)
  const readVsd = createReadVsd({ cards: options.cards, vsdmKey: options.vsdmKey, now: () => new Date(now()) });
  app.post('/VSDService/ReadVSD', async (request) => readVsd(body(request) as ReadVsdRequest));

  // SignatureService
  app.post('/SignatureService/GetJobNumber', async (request) => {
    checkContext(body(request).Context);
    return { Status: { Result: 'OK' }, JobNumber: signatures.getJobNumber() };
  });
  app.post('/SignatureService/SignDocument', async (request) => signatures.signDocument(body(request) as Partial<SignDocumentRequest>));
  app.post('/SignatureService/ActivateComfortSignature', async (request) => signatures.activateComfortSignature(body(request)));
  app.post('/SignatureService/DeactivateComfortSignature', async (request) => signatures.deactivateComfortSignature(body(request)));
  app.post('/SignatureService/GetSignatureMode', async (request) => signatures.getSignatureMode(body(request)));

  if (ocspOptions) app.register(ocspRoutes, { prefix: '/ocsp', ...ocspOptions });

  return app;
}
