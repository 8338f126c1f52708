// The practice's side of the Fachdienst: an access token for the practice SMC-B identity (cached until shortly
// before it expires) and the prescriber operations $create, $activate, $abort plus the pharmacy's $reject.
// Token: the IDP's card-based flow needs the SMC-B AUT key to sign the challenge, which the simulated Konnektor does
// not offer (it signs documents only, no ExternalAuthenticate), so the dev-mode `POST /dev/token` is used.
import { FhirError } from '../fhir/errors.ts';
import type { Parameters, Task } from '../fhir/types.ts';

const FLOW_TYPE_SYSTEM = 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType';
const ACCESS_CODE_SYSTEM = 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_AccessCode';
const JSON_TYPE = 'application/fhir+json';

export interface TokenSource {
  token(): Promise<string>;
  /** Forgets the cached token (after a 401). */
  invalidate(): void;
}

/** Tokens from the IDP's dev endpoint for a seeded identity, reused until 30 s before `exp`. */
export function devTokenSource(options: { idpUrl: string; identityId: string; fetch?: typeof fetch; now?: () => number }): TokenSource {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  let cached: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;
  async function fetchToken(): Promise<string> {
    const res = await doFetch(`${options.idpUrl.replace(/\/+$/, '')}/dev/token`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: options.identityId }),
    });
    const body = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error_description?: string };
    if (!res.ok || !body.access_token) {
      throw new FhirError(503, `Kein Zugriffstoken vom IDP (${res.status}${body.error_description ? `: ${body.error_description}` : ''})`, { code: 'transient' });
    }
    const exp = expiryOf(body.access_token) ?? now() + (body.expires_in ?? 300) * 1000;
    cached = { token: body.access_token, expiresAt: exp - 30_000 };
    return body.access_token;
  }
  return {
    async token() {
      if (cached && now() < cached.expiresAt) return cached.token;
      pending ??= fetchToken().finally(() => (pending = undefined));
      return pending;
    },
    invalidate() {
      cached = undefined;
    },
  };
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
