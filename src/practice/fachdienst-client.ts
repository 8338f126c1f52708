// The practice's side of the Fachdienst: an access token for the practice's SMC-B (cached until shortly before it
// expires) and the prescriber operations $create, $activate, $abort plus the pharmacy's $reject.
// Token: the IDP's card-based flow, as a real practice system does it (ti-components.md §4.1): the Konnektor reads
// the SMC-B's C.HCI.AUT certificate and signs the challenge digest with its AUT key (ExternalAuthenticate). No dev
// endpoint is involved, so this works the same with ERX_DEV=0.
import { cardLogin, CardLoginError } from '../idp/card-login.ts';
import { KonnektorClientError, type KonnektorClient } from '../konnektor/client.ts';
import type { Parameters, Task } from '../fhir/types.ts';

const FLOW_TYPE_SYSTEM = 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType';
const ACCESS_CODE_SYSTEM = 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_AccessCode';
const JSON_TYPE = 'application/fhir+json';
/** The practice module as an OAuth client of the IDP; the redirect is never followed (the code is read from it). */
export const PRACTICE_CLIENT_ID = 'erx-practice';
export const PRACTICE_REDIRECT_URI = 'http://localhost/erx-practice/callback';
/** A cached token is replaced this long before its `exp`. */
const EXPIRY_MARGIN_MS = 30_000;

export interface TokenSource {
  token(): Promise<string>;
  /** Forgets the cached token (after a 401). */
  invalidate(): void;
}

export interface KonnektorTokenSourceOptions {
  idpUrl: string;
  konnektor: Pick<KonnektorClient, 'readCardCertificate' | 'externalAuthenticate'>;
  /** The SMC-B's card handle, or how to find it (looked up on the first login, the Konnektor may start later). */
  smcbHandle: string | (() => Promise<string>);
  clientId?: string;
  redirectUri?: string;
  /** Fetch towards the IDP. */
  fetch?: typeof fetch;
  now?: () => number;
}

/**
 * Tokens from the IDP's card-based flow with the SMC-B behind the Konnektor, reused until 30 s before `exp`;
 * concurrent callers share one login. Failures are FachdienstCallErrors (see loginFailure): 503 retryable or 403.
 */
export function konnektorTokenSource(options: KonnektorTokenSourceOptions): TokenSource {
  const now = options.now ?? Date.now;
  let handle = typeof options.smcbHandle === 'string' ? options.smcbHandle : undefined;
  let cached: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;

  async function login(): Promise<string> {
    try {
      handle ??= await (options.smcbHandle as () => Promise<string>)();
      const smcb = handle;
      const certificate = await options.konnektor.readCardCertificate(smcb, 'C.AUT');
      const tokens = await cardLogin({
        idpUrl: options.idpUrl, clientId: options.clientId ?? PRACTICE_CLIENT_ID, redirectUri: options.redirectUri ?? PRACTICE_REDIRECT_URI,
        certificate, sign: (digest) => options.konnektor.externalAuthenticate(smcb, digest), fetch: options.fetch,
      });
      const exp = expiryOf(tokens.accessToken) ?? now() + tokens.expiresIn * 1000;
      cached = { token: tokens.accessToken, expiresAt: exp - EXPIRY_MARGIN_MS };
      return tokens.accessToken;
    } catch (err) {
      throw loginFailure(err, handle);
    }
  }
  return {
    async token() {
      if (cached && now() < cached.expiresAt) return cached.token;
      pending ??= login().finally(() => (pending = undefined));
      return pending;
    },
    invalidate() {
      cached = undefined;
    },
  };
}

/** The handle of the SMC-B with this Telematik-ID in the Konnektor's terminals. */
export async function smcbHandleOf(konnektor: Pick<KonnektorClient, 'getCards'>, telematikId: string): Promise<string> {
  const [card] = await konnektor.getCards({ cardType: 'SMC-B', telematikId });
  if (!card) throw new KonnektorClientError(404, 'CARD_NOT_FOUND', `Keine SMC-B mit Telematik-ID ${telematikId} im Kartenterminal`);
  return card.CardHandle;
}

/**
 * Retryable: IDP or Konnektor unreachable or 5xx, SMC-B not inserted or its PIN not entered yet (the requests wait in
 * `pending` with the reason). Final: the IDP refused the card (untrusted, revoked) or the PIN was rejected/blocked.
 */
function loginFailure(err: unknown, handle: string | undefined): FachdienstCallError {
  const cause = err instanceof CardLoginError && err.step === 'signature' && err.cause !== undefined ? err.cause : err;
  let retryable: boolean;
  if (cause instanceof KonnektorClientError) retryable = cause.status >= 500 || cause.error === 'PIN_REQUIRED' || cause.error === 'CARD_NOT_FOUND';
  else if (cause instanceof CardLoginError) retryable = cause.transient;
  else retryable = true; // the Konnektor could not be reached
  const message = `Anmeldung der SMC-B${handle ? ` ${handle}` : ''} am IDP fehlgeschlagen: ${(err as Error).message}`;
  return new FachdienstCallError(retryable ? 503 : 403, message, retryable);
}

function expiryOf(jwt: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as { exp?: number };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** An answer of the Fachdienst that is not a success; `retryable` for 5xx, 429 and network errors. */
export class FachdienstCallError extends Error {
  override name = 'FachdienstCallError';
  constructor(readonly status: number, message: string, readonly retryable: boolean) {
    super(message);
  }
}

export interface FachdienstClientOptions {
  baseUrl: string;
  tokens: TokenSource;
  fetch?: typeof fetch;
}

export function createFachdienstClient(options: FachdienstClientOptions) {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  async function call(method: 'GET' | 'POST', path: string, body?: object, headers: Record<string, string> = {}, retried = false): Promise<{ status: number; json: any }> {
    const token = await options.tokens.token();
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, accept: JSON_TYPE, ...(body ? { 'content-type': `${JSON_TYPE};charset=utf-8` } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new FachdienstCallError(0, `Fachdienst nicht erreichbar: ${(err as Error).message}`, true);
    }
    if (res.status === 401 && !retried) {
      options.tokens.invalidate();
      return call(method, path, body, headers, true);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.status >= 400) {
      const message = json?.issue?.[0]?.details?.text ?? json?.issue?.[0]?.diagnostics ?? `HTTP ${res.status}`;
      throw new FachdienstCallError(res.status, String(message), res.status >= 500 || res.status === 429);
    }
    return { status: res.status, json };
  }

  return {
    /** POST /Task/$create: a draft Task; its id is the PrescriptionID. */
    async createTask(flowType: string): Promise<{ prescriptionId: string; accessCode: string }> {
      const parameters: Parameters = { resourceType: 'Parameters', parameter: [{ name: 'workflowType', valueCoding: { system: FLOW_TYPE_SYSTEM, code: flowType } }] };
      const { json } = await call('POST', '/Task/$create', parameters);
      const task = json as Task;
      const accessCode = task.identifier?.find((i) => i.system === ACCESS_CODE_SYSTEM)?.value;
      if (!task?.id || !accessCode) throw new FachdienstCallError(502, 'Antwort auf $create ohne Task-ID oder AccessCode', true);
      return { prescriptionId: task.id, accessCode };
    },
    /**
     * POST /Task/{id}/$activate with the QES. Re-activating our own Task that is already ready (a retry after a crash)
     * counts as success: the Fachdienst answers 403 "Task not in status draft but in status ready".
     */
    async activateTask(prescriptionId: string, accessCode: string, cms: Buffer): Promise<{ alreadyActive: boolean }> {
      const parameters: Parameters = {
        resourceType: 'Parameters',
        parameter: [{ name: 'ePrescription', resource: { resourceType: 'Binary', contentType: 'application/pkcs7-mime', data: cms.toString('base64') } }],
      };
      try {
        await call('POST', `/Task/${encodeURIComponent(prescriptionId)}/$activate`, parameters, { 'x-accesscode': accessCode });
        return { alreadyActive: false };
      } catch (err) {
        if (err instanceof FachdienstCallError && err.status === 403 && /in status ready/.test(err.message)) return { alreadyActive: true };
        throw err;
      }
    },
    async abortTask(prescriptionId: string, accessCode: string): Promise<void> {
      await call('POST', `/Task/${encodeURIComponent(prescriptionId)}/$abort`, undefined, { 'x-accesscode': accessCode });
    },
    /** Pharmacy only: gives an accepted Task back (needs the Secret from $accept). */
    async rejectTask(prescriptionId: string, secret: string): Promise<void> {
      await call('POST', `/Task/${encodeURIComponent(prescriptionId)}/$reject?secret=${encodeURIComponent(secret)}`);
    },
    async getTask(prescriptionId: string, accessCode: string): Promise<any> {
      return (await call('GET', `/Task/${encodeURIComponent(prescriptionId)}?ac=${encodeURIComponent(accessCode)}`, undefined, { 'x-accesscode': accessCode })).json;
    },
  };
}

export type FachdienstClient = ReturnType<typeof createFachdienstClient>;
