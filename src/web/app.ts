// The web service: the built browser app (insured, pharmacy, practice) and a same-origin backend-for-frontend
// under /api that forwards to the platform's public APIs only: Fachdienst and VZD (FHIR), IDP (sign-in), the
// KIM mailbox of the signed-in pharmacy over POP3 (browsers cannot speak POP3), and the signing UI API of the
// signed-in physician's practice. Tokens, KVNRs, AccessCodes, Secrets and PINs pass through but are never logged.
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { verifyCades } from '../crypto/cades.ts';
import type { Card } from '../crypto/pki.ts';
import type { TrustStore } from '../crypto/trust.ts';
import { extractPrescriptionFacts } from '../fhir/kbv/prescription-bundle.ts';
import type { Bundle } from '../fhir/types.ts';
import type { AccessTokenClaims } from '../idp/tokens.ts';
import type { TokenVerifier } from '../idp/verify.ts';
import { kimAccounts } from '../kim/accounts.ts';
import { parseErezeptMessage } from '../kim/erezept-messages.ts';
import { fetchNewMail } from '../kim/pop3-client.ts';
import { identities, PROFESSION } from '../seed/identities.ts';
import type { Logger } from '../cli/service.ts';
import { signInWithCard } from './card-sign-in.ts';
import { resolveStaticPath, sendStaticFile } from './static.ts';

export interface WebAppOptions {
  /** The built app (web/dist). */
  distDir: string;
  /** Base URLs, read per request (services started on port 0 publish theirs late). No practice: /api/practice is 503. */
  urls: () => { fachdienst: string; vzd: string; idp: string; practice?: string; konnektor?: string };
  /** The KIM POP3 server the pharmacy inbox reads from. */
  pop3: () => { host: string; port: number };
  /** Verifies the bearer token for the endpoints that act on the caller's identity (KIM inbox, prescription check). */
  tokenVerifier: TokenVerifier;
  /** CAs a prescription's QES must chain to. */
  trust: TrustStore;
  /**
   * Soft cards (test PKI) by identity id: sign-in prefers the IDP's card-based flow with them; identities without
   * a card fall back to the IDP's /dev/token. Both exist only in dev mode (the IDP refuses /dev/identities otherwise).
   */
  softCards?: Record<string, Card>;
  log?: Logger;
  fetch?: typeof fetch;
}

/** The three apps; each is one Vite entry (web/<app>/index.html). */
export const APPS = ['insured', 'pharmacy', 'practice'] as const;
const FACHDIENST_RESOURCES = ['Task', 'MedicationDispense', 'Communication', 'AuditEvent', 'Consent', 'ChargeItem', 'metadata', 'Device'];
const VZD_RESOURCES = ['Organization', 'HealthcareService', 'Location', 'Endpoint', 'PractitionerRole'];
const PHARMACY_ROLES: string[] = [PROFESSION.publicPharmacy, PROFESSION.hospitalPharmacy];
const PRACTICE_ROLES: string[] = [PROFESSION.physician, PROFESSION.practice];
/** The practice module's signing UI API (`/{tenant}/ui/…`); its RED interchange API is for practice software only. */
const PRACTICE_UI_RESOURCES = ['requests', 'sign', 'batches', 'comfort', 'signature-mode'];
const SAFE_PATH = /^[A-Za-z0-9$._-]+(\/[A-Za-z0-9$._-]+)*$/;
const UPSTREAM_TIMEOUT_MS = 15_000;

class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** `Task/160.…/$accept` style paths only: no dot segments, no encoded slashes, a known resource first. */
function upstreamPath(rest: string, allowed: string[]): string {
  if (!SAFE_PATH.test(rest) || rest.split('/').some((s) => s === '.' || s === '..')) throw new ApiError(400, 'Ungültiger Pfad');
  if (!allowed.includes(rest.split('/')[0])) throw new ApiError(404, `Kein Zugriff auf ${rest.split('/')[0]} über diese Schnittstelle`);
  return rest;
}

function queryOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q < 0 ? '' : request.url.slice(q);
}

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header || !/^Bearer \S+$/.test(header)) throw new ApiError(401, 'Bitte anmelden');
  return header;
}

function jsonBody(request: FastifyRequest): Record<string, unknown> {
  const raw = request.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw new ApiError(400, 'JSON-Body erwartet');
  try {
    const value = JSON.parse(raw.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as Record<string, unknown>;
  } catch {
    throw new ApiError(400, 'Der Body ist kein JSON-Objekt');
  }
}

/** The RED tenant of a physician (through their practice) or of a practice, by Telematik-ID. */
export function practiceTenantOf(telematikId: string): string | undefined {
  const identity = identities.find((i) => i.telematikId === telematikId && (i.role === 'physician' || i.role === 'practice'));
  const practice = identity?.role === 'practice' ? identity : identities.find((i) => i.id === identity?.organization);
  return practice?.tenant;
}

export function buildWebApp(options: WebAppOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024, routerOptions: { ignoreTrailingSlash: true, maxParamLength: 300 } });
  const doFetch = options.fetch ?? fetch;
  const log = options.log;

  // Bodies stay raw: the proxy forwards them as they came, the few own endpoints parse JSON themselves.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    if (request.url.startsWith('/api/')) reply.header('cache-control', 'no-store');
    else {
      // wasm-unsafe-eval: zxing-wasm compiles its (locally served) WebAssembly; blob: for camera frames.
      reply.header('content-security-policy',
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    }
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ApiError) return reply.code(error.status).send({ message: error.message });
    const e = error as { statusCode?: number; message?: string; name?: string };
    if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return reply.code(e.statusCode).send({ message: 'Ungültige Anfrage' });
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return reply.code(504).send({ message: 'Der Dienst antwortet nicht' });
    log?.error({ path: request.url.split('?')[0], err: e.message }, 'web request failed');
    return reply.code(502).send({ message: 'Der angefragte Dienst ist nicht erreichbar' });
  });

  app.get('/health', async () => ({ status: 'ok' }));

  // ---- static app -------------------------------------------------------------------------------------------
  app.get('/', async (_request, reply) => reply.redirect('/insured/'));
  for (const name of APPS) {
    const page = async (_request: FastifyRequest, reply: FastifyReply) => {
      if (!(await sendStaticFile(reply, join(options.distDir, name, 'index.html')))) return reply.code(503).send('Web-App ist nicht gebaut');
      return reply;
    };
    app.get(`/${name}`, page);
    app.get(`/${name}/*`, page); // client-side views share the entry page
  }
  app.get('/*', async (request, reply) => {
    const file = resolveStaticPath(options.distDir, request.url);
    if (file && (await sendStaticFile(reply, file, { immutable: request.url.startsWith('/assets/') }))) return reply;
    return reply.code(404).type('text/plain; charset=utf-8').send('Nicht gefunden');
  });

  // ---- forwarding -------------------------------------------------------------------------------------------
  async function forward(request: FastifyRequest, reply: FastifyReply, target: string, headers: Record<string, string>, withBody: boolean) {
    const response = await doFetch(target, {
      method: request.method,
      headers,
      body: withBody && Buffer.isBuffer(request.body) && request.body.length > 0 ? new Uint8Array(request.body) : undefined,
      redirect: 'manual',
      signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
    const type = response.headers.get('content-type');
    if (type) reply.header('content-type', type);
    reply.code(response.status);
    // Bytes, not text: the practice's printout is a PDF.
    const body = Buffer.from(await response.arrayBuffer());
    return reply.send(body.length === 0 ? undefined : body);
  }

  const fachdienst = async (request: FastifyRequest, reply: FastifyReply) => {
    const rest = upstreamPath((request.params as { '*': string })['*'], FACHDIENST_RESOURCES);
    const headers: Record<string, string> = { authorization: bearer(request), accept: 'application/fhir+json', 'accept-language': 'de' };
    const accessCode = request.headers['x-accesscode'];
    if (typeof accessCode === 'string') headers['x-accesscode'] = accessCode;
    if (request.method === 'POST') headers['content-type'] = 'application/fhir+json; charset=utf-8';
    return forward(request, reply, `${options.urls().fachdienst}/${rest}${queryOf(request)}`, headers, request.method === 'POST');
  };
  app.get('/api/fachdienst/*', fachdienst);
  app.post('/api/fachdienst/*', fachdienst);
  app.delete('/api/fachdienst/*', fachdienst);

  app.get('/api/vzd/*', async (request, reply) => {
    const rest = upstreamPath((request.params as { '*': string })['*'], VZD_RESOURCES);
    return forward(request, reply, `${options.urls().vzd}/${rest}${queryOf(request)}`, { accept: 'application/fhir+json' }, false);
  });

  // ---- sign-in (dev identities of the IDP) ------------------------------------------------------------------
  app.get('/api/idp/identities', async (request) => {
    const role = (request.query as { role?: string }).role;
    const response = await doFetch(`${options.urls().idp}/dev/identities`, { signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
    if (response.status === 404) throw new ApiError(503, 'Die Anmeldung mit Testidentitäten gibt es nur im Entwicklungsmodus (ERX_DEV=1)');
    if (!response.ok) throw new ApiError(502, 'Der IDP ist nicht erreichbar');
    const list = (await response.json()) as { id: string; role: string; name: string; kvnr?: string; telematikId?: string }[];
    // Only what the sign-in page shows: never the KIM passwords the dev list carries.
    // role may list several, e.g. physician,practice
    return list
      .filter((i) => !role || role.split(',').includes(i.role))
      .map((i) => ({ id: i.id, role: i.role, name: i.name, ...(i.kvnr ? { kvnr: i.kvnr } : {}), ...(i.telematikId ? { telematikId: i.telematikId } : {}) }));
  });

  app.post('/api/idp/token', async (request) => {
    const { id } = jsonBody(request);
    if (typeof id !== 'string' || !/^[a-z0-9-]{1,80}$/.test(id)) throw new ApiError(400, 'Bitte eine Identität wählen');
    // Only identities the IDP lists in dev mode may sign in (also with a soft card).
    const listed = await doFetch(`${options.urls().idp}/dev/identities`, { signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS) });
    if (listed.status === 404) throw new ApiError(503, 'Die Anmeldung mit Testidentitäten gibt es nur im Entwicklungsmodus (ERX_DEV=1)');
    if (!listed.ok) throw new ApiError(502, 'Der IDP ist nicht erreichbar');
    if (!((await listed.json()) as { id: string }[]).some((i) => i.id === id)) throw new ApiError(404, 'Unbekannte Identität');
    const card = options.softCards?.[id];
    if (card) {
      const host = request.headers.host ?? 'localhost';
      try {
        const tokens = await signInWithCard({ idpUrl: options.urls().idp, card, redirectUri: `http://${host}/api/idp/callback`, fetch: doFetch });
        return { ...tokens, method: 'card' };
      } catch (err) {
        log?.warn({ err: (err as Error).message }, 'card sign-in failed');
        throw new ApiError(401, `Anmeldung mit der Karte fehlgeschlagen: ${(err as Error).message}`);
      }
    }
    const response = await doFetch(`${options.urls().idp}/dev/token`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }), signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
    if (response.status === 404) throw new ApiError(503, 'Die Anmeldung mit Testidentitäten gibt es nur im Entwicklungsmodus (ERX_DEV=1)');
    if (!response.ok) throw new ApiError(400, 'Anmeldung fehlgeschlagen');
    const body = (await response.json()) as { access_token: string; expires_in?: number };
    return { access_token: body.access_token, expires_in: body.expires_in, method: 'dev-token' };
  });

  // ---- callers acting on their own identity ------------------------------------------------------------------
  async function verifiedCaller(request: FastifyRequest, roles: string[], refusal: string): Promise<AccessTokenClaims> {
    const token = bearer(request).slice('Bearer '.length);
    let claims: AccessTokenClaims;
    try {
      claims = await options.tokenVerifier.verify(token);
    } catch {
      throw new ApiError(401, 'Die Anmeldung ist abgelaufen oder ungültig; bitte neu anmelden');
    }
    if (!roles.includes(claims.professionOID)) throw new ApiError(403, refusal);
    return claims;
  }
  const pharmacyCaller = (request: FastifyRequest) => verifiedCaller(request, PHARMACY_ROLES, 'Nur für Apotheken');

  // ---- practice: the signing UI API of the caller's practice (tenant from the token, never from the browser) -----
  const practiceUi = async (request: FastifyRequest, reply: FastifyReply) => {
    const claims = await verifiedCaller(request, PRACTICE_ROLES, 'Nur für Ärztinnen, Ärzte und Praxen');
    const tenant = practiceTenantOf(claims.idNummer);
    if (!tenant) throw new ApiError(403, 'Für diese Praxis ist kein Praxismodul-Mandant eingerichtet');
    const rest = upstreamPath((request.params as { '*': string })['*'], PRACTICE_UI_RESOURCES);
    const base = options.urls().practice;
    if (!base) throw new ApiError(503, 'Das Praxismodul ist nicht eingerichtet');
    const withBody = request.method === 'POST' && Buffer.isBuffer(request.body) && request.body.length > 0;
    const headers: Record<string, string> = { accept: 'application/json', ...(withBody ? { 'content-type': 'application/json' } : {}) };
    return forward(request, reply, `${base}/${tenant}/ui/${rest}${queryOf(request)}`, headers, withBody);
  };
  app.get('/api/practice/*', practiceUi);
  app.post('/api/practice/*', practiceUi);

  // ---- pharmacy: verified prescription and KIM inbox ---------------------------------------------------------

  app.post('/api/pharmacy/prescription', async (request) => {
    await pharmacyCaller(request);
    const { data } = jsonBody(request);
    if (typeof data !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(data)) throw new ApiError(400, 'data muss die base64-kodierte Signatur (PKCS#7) sein');
    let verified;
    try {
      verified = await verifyCades(Buffer.from(data, 'base64'), { trust: options.trust });
    } catch (err) {
      throw new ApiError(422, `Die Signatur der Verordnung ist ungültig: ${(err as Error).message}`);
    }
    const { parseFhir } = await import('../fhir/codec.ts');
    const bundle = parseFhir(verified.content.toString('utf8'), 'xml') as Bundle;
    const facts = extractPrescriptionFacts(bundle);
    return {
      verified: true,
      signer: { name: verified.identity.name, telematikId: verified.identity.telematikId },
      signingTime: verified.signingTime?.toISOString(),
      facts,
    };
  });

  // ---- pharmacy: E-Rezepte with the insured's eGK (the pharmacy's Konnektor reads it, the Fachdienst checks the proof) --
  async function konnektor<T>(operation: string, body: Record<string, unknown>): Promise<T> {
    const base = options.urls().konnektor;
    if (!base) throw new ApiError(503, 'Kein Konnektor eingerichtet');
    const response = await doFetch(`${base}/${operation}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
    const json = (await response.json().catch(() => ({}))) as T & { message?: string };
    if (!response.ok) throw new ApiError(response.status === 404 ? 404 : 502, `Konnektor: ${json.message ?? response.status}`);
    return json;
  }
  // The pharmacy's own Mandant at its Konnektor; the card terminal at the counter.
  const konnektorContext = (telematikId: string) => ({ MandantId: telematikId.slice(0, 64), ClientSystemId: 'AVS', WorkplaceId: 'HV-Tisch-1' });

  // Simulation: the eGKs an insured could hand over (the counter's terminal takes any of them).
  app.get('/api/pharmacy/egk/cards', async (request) => {
    const claims = await pharmacyCaller(request);
    const { Cards } = await konnektor<{ Cards: { CardHandle: string; CardHolderName: string }[] }>('EventService/GetCards', { Context: konnektorContext(claims.idNummer), CardType: 'EGK' });
    return Cards.map((c) => ({ handle: c.CardHandle, name: c.CardHolderName }));
  });

  app.post('/api/pharmacy/egk', async (request) => {
    const claims = await pharmacyCaller(request);
    const { cardHandle } = jsonBody(request);
    if (typeof cardHandle !== 'string' || !/^[A-Za-z0-9-]{1,40}$/.test(cardHandle)) throw new ApiError(400, 'Bitte eine eGK wählen');
    const context = konnektorContext(claims.idNummer);
    const { Cards } = await konnektor<{ Cards: { CardHandle: string }[] }>('EventService/GetCards', { Context: context, CardType: 'SMC-B', TelematikId: claims.idNummer });
    if (!Cards.length) throw new ApiError(404, 'Keine SMC-B dieser Apotheke im Konnektor');
    const vsd = await konnektor<{ Versichertendaten: { Versicherten_ID: string; Vorname?: string; Nachname?: string }; Pruefungsnachweis?: string; Hcv: string }>(
      'VSDService/ReadVSD', { Context: context, EhcHandle: cardHandle, HpcHandle: Cards[0].CardHandle, PerformOnlineCheck: true, ReadOnlineReceipt: true });
    const kvnr = vsd.Versichertendaten.Versicherten_ID;
    const query = new URLSearchParams({ kvnr, hcv: vsd.Hcv, pnw: vsd.Pruefungsnachweis ?? '' });
    const response = await doFetch(`${options.urls().fachdienst}/Task?${query}`, {
      headers: { authorization: bearer(request), accept: 'application/fhir+json' }, signal: AbortSignal.timeout(UPSTREAM_TIMEOUT_MS),
    });
    const body = (await response.json().catch(() => undefined)) as (Bundle & { issue?: { details?: { text?: string } }[] }) | undefined;
    if (!response.ok) throw new ApiError(response.status, body?.issue?.[0]?.details?.text ?? `Fachdienst: Fehler ${response.status}`);
    const tasks = (body?.entry ?? []).map((e) => e.resource as { id: string; authoredOn?: string; identifier?: { system?: string; value?: string }[] })
      .map((t) => ({ taskId: t.id, accessCode: t.identifier?.find((i) => i.system?.endsWith('GEM_ERP_NS_AccessCode'))?.value, authoredOn: t.authoredOn }));
    return {
      insured: { name: [vsd.Versichertendaten.Vorname, vsd.Versichertendaten.Nachname].filter(Boolean).join(' '), kvnr },
      offline: response.status === 202,
      tasks,
    };
  });

  app.get('/api/kim/inbox', async (request) => {
    const claims = await pharmacyCaller(request);
    const identity = identities.find((i) => i.telematikId === claims.idNummer && i.role === 'pharmacy');
    const { host, port } = options.pop3();
    const account = identity && kimAccounts({ identities: [identity], pop3Port: port })[0];
    if (!account) throw new ApiError(404, 'Für diese Apotheke ist kein KIM-Postfach eingerichtet');
    const mails = await fetchNewMail({ host, port, user: account.pop3User, password: account.password, timeoutMs: 10_000 });
    const messages = [];
    for (const mail of mails) {
      try {
        const m = await parseErezeptMessage(mail.raw);
        if (m.kind === 'other') continue;
        messages.push({
          uid: mail.uid, kind: m.kind, from: m.from, subject: m.subject, date: m.date?.toISOString(), text: m.text,
          ...(m.kind === 'zuweisung' ? { token: m.token } : {}),
        });
      } catch {
        messages.push({ uid: mail.uid, kind: 'invalid', subject: 'Nachricht konnte nicht gelesen werden' });
      }
    }
    return { address: account.address, messages: messages.reverse() };
  });

  return app;
}
