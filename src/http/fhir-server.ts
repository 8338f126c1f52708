// The FHIR HTTP layer shared by every service: content negotiation, body parsing through the one codec,
// errors as OperationOutcome with the right status, no stack traces to clients, no secrets in logs.
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { FhirError } from '../fhir/errors.ts';
import type { Resource } from '../fhir/types.ts';
import { parseFhir, serializeFhir, type FhirFormat } from '../fhir/codec.ts';

export const FHIR_XML = 'application/fhir+xml';
export const FHIR_JSON = 'application/fhir+json';
/** gematik: max request size 1 MB (incl. VAU); a little headroom for the outer envelope. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

const XML_TYPES = ['application/fhir+xml', 'application/xml', 'text/xml', 'application/xml+fhir'];
const JSON_TYPES = ['application/fhir+json', 'application/json', 'application/json+fhir'];

declare module 'fastify' {
  interface FastifyRequest {
    /** Format of the parsed request body, when there was one. */
    fhirBodyFormat?: FhirFormat;
  }
  interface FastifyReply {
    /** Sends a FHIR resource in the format the client asked for. */
    fhir(resource: Resource, status?: number): FastifyReply;
  }
}

function mediaType(header: string | undefined): string | undefined {
  return header?.split(';')[0].trim().toLowerCase() || undefined;
}

function formatOfMediaType(type: string): FhirFormat | undefined {
  if (XML_TYPES.includes(type) || type === 'xml') return 'xml';
  if (JSON_TYPES.includes(type) || type === 'json') return 'json';
  return undefined;
}

/**
 * Chooses the response format: `_format` first, then `Accept` (first supported type, q-values honoured), then the
 * request body's format, then `fallback`. An explicit but unsupported choice is 406.
 */
export function negotiateFormat(request: FastifyRequest, fallback: FhirFormat = 'json'): FhirFormat {
  const query = request.query as Record<string, unknown> | undefined;
  const explicit = typeof query?._format === 'string' ? query._format.toLowerCase() : undefined;
  if (explicit) {
    const f = formatOfMediaType(explicit);
    if (!f) throw new FhirError(406, `Format ${explicit} wird nicht unterstützt`, { code: 'not-supported' });
    return f;
  }
  const accept = request.headers.accept;
  // the common case, one plain FHIR type, without splitting and sorting
  if (accept === FHIR_XML) return 'xml';
  if (accept === FHIR_JSON) return 'json';
  if (accept && accept.trim() !== '') {
    const ranges = accept
      .split(',')
      .map((part, index) => {
        const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
        const q = params.find((p) => p.startsWith('q='));
        return { type, q: q ? Number(q.slice(2)) : 1, index };
      })
      .filter((r) => r.q > 0)
      .sort((a, b) => b.q - a.q || a.index - b.index);
    for (const r of ranges) {
      const f = formatOfMediaType(r.type);
      if (f) return f;
      if (r.type === '*/*' || r.type === 'application/*') return request.fhirBodyFormat ?? fallback;
    }
    if (ranges.length > 0) throw new FhirError(406, `Accept ${accept} wird nicht unterstützt`, { code: 'not-supported' });
  }
  return request.fhirBodyFormat ?? fallback;
}

export function contentTypeOf(format: FhirFormat): string {
  return `${format === 'xml' ? FHIR_XML : FHIR_JSON};charset=utf-8`;
}

/** Serialises a resource in the negotiated format. If negotiation itself fails the error goes out as JSON. */
export function sendFhir(request: FastifyRequest, reply: FastifyReply, resource: Resource, status = 200): FastifyReply {
  const format = negotiateFormat(request);
  return reply.code(status).header('content-type', contentTypeOf(format)).send(serializeFhir(resource, format));
}

function checkCharset(header: string | undefined): void {
  const charset = header?.match(/charset=([^;]+)/i)?.[1]?.trim().replace(/"/g, '').toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    throw new FhirError(415, `Zeichensatz ${charset} wird nicht unterstützt (nur UTF-8)`, { code: 'not-supported' });
  }
}

/** Removes query values that are secrets (AccessCode, Secret) so a URL can be logged. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  const shown: string[] = [];
  for (const key of params.keys()) if (!shown.includes(key)) shown.push(key);
  return `${url.slice(0, q)}${shown.length ? '?' + shown.map((k) => `${k}=…`).join('&') : ''}`;
}

/** Log levels at which the per-request info line is not written. */
const QUIET_LEVELS = new Set(['warn', 'error', 'fatal', 'silent']);

export interface FhirServerOptions {
  /** pino options, or false for no logging (tests). */
  logger?: FastifyServerOptions['logger'];
  bodyLimit?: number;
  /** Response format when nothing else decides it. */
  defaultFormat?: FhirFormat;
  /** Readiness probe for GET /health; default: always ready. */
  ready?: () => boolean | Promise<boolean>;
}

/** A fastify instance that speaks FHIR: parsed bodies, negotiated responses, OperationOutcome errors, /health. */
export function createFhirServer(options: FhirServerOptions = {}): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // `$` in paths like /Task/$create stays literal; ids may contain dots.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // Our own onResponse line replaces fastify's request logging: it redacts AccessCodes and Secrets in URLs.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => Math.random().toString(36).slice(2, 10),
  });
  const defaultFormat = options.defaultFormat ?? 'json';

  // Only FHIR formats are bodies here; fastify's built-in text/plain parser would let plain text through.
  app.removeContentTypeParser('text/plain');
  for (const [types, format] of [[XML_TYPES, 'xml'], [JSON_TYPES, 'json']] as const) {
    app.addContentTypeParser([...types], { parseAs: 'string' }, (request, body, done) => {
      try {
        checkCharset(request.headers['content-type']);
        request.fhirBodyFormat = format;
        done(null, (body as string).trim() === '' ? undefined : parseFhir(body as string, format));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
  }
  // Anything else with a body is 415; the parser is only reached when a body is present.
  app.addContentTypeParser('*', (request, _payload, done) => {
    done(new FhirError(415, `Content-Type ${mediaType(request.headers['content-type']) ?? '(keiner)'} wird nicht unterstützt`, { code: 'not-supported' }), undefined);
  });

  // An Accept/_format we cannot serve is 406 before the route runs (the route's own errors come after).
  app.addHook('preHandler', (request, _reply, done) => {
    try {
      if (request.url !== '/health') negotiateFormat(request, defaultFormat);
    } catch (err) {
      done(err as Error);
      return;
    }
    done();
  });

  app.decorateReply('fhir', function (this: FastifyReply, resource: Resource, status = 200) {
    return sendFhir(this.request, this, resource, status);
  });

  app.addHook('onResponse', (request, reply, done) => {
    // Below level info (ERX_LOG_LEVEL=warn) the line is not built at all: redacting the URL costs per request.
    if (!QUIET_LEVELS.has(request.log.level)) {
      request.log.info({
        method: request.method, route: request.routeOptions?.url, url: redactUrl(request.url), status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      }, 'request');
    }
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const fhirError = toFhirError(error);
    if (fhirError.status >= 500) request.log.error({ err: { message: (error as Error).message, name: (error as Error).name } }, 'request failed');
    if (fhirError.headers) reply.headers(fhirError.headers);
    let format: FhirFormat;
    try {
      format = negotiateFormat(request, defaultFormat);
    } catch {
      format = request.fhirBodyFormat ?? defaultFormat;
    }
    return reply
      .code(fhirError.status)
      .header('content-type', contentTypeOf(format))
      .send(serializeFhir(fhirError.toOperationOutcome(), format));
  });

  app.setNotFoundHandler((request, reply) => {
    const err = new FhirError(404, `Kein Endpunkt für ${request.method} ${redactUrl(request.url).split('?')[0]}`, { code: 'not-found' });
    return reply.code(404).header('content-type', contentTypeOf(safeFormat(request, defaultFormat))).send(serializeFhir(err.toOperationOutcome(), safeFormat(request, defaultFormat)));
  });

  app.get('/health', async (_request, reply) => {
    const ready = options.ready ? await options.ready() : true;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'starting' });
  });

  return app;
}

function safeFormat(request: FastifyRequest, fallback: FhirFormat): FhirFormat {
  try {
    return negotiateFormat(request, fallback);
  } catch {
    return fallback;
  }
}

/** Maps anything thrown to the one error type; unknown errors become a 500 without details. */
export function toFhirError(error: unknown): FhirError {
  if (error instanceof FhirError) return error;
  const e = error as { statusCode?: number; code?: string; validation?: unknown; message?: string };
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new FhirError(413, 'Anfrage ist zu groß', { code: 'too-long' });
  if (e?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new FhirError(400, 'Anfrage-Body fehlt oder ist ungültig', { code: 'structure' });
  }
  if (e?.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return new FhirError(400, 'Content-Length passt nicht zum Body', { code: 'structure' });
  if (e?.validation) return new FhirError(400, `Ungültige Anfrage: ${e.message ?? ''}`.trim(), { code: 'invalid' });
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new FhirError(e.statusCode, e.statusCode === 429 ? 'Zu viele Anfragen' : 'Ungültige Anfrage', {
      code: e.statusCode === 429 ? 'throttled' : 'invalid',
    });
  }
  return new FhirError(500, 'Interner Fehler', { code: 'exception' });
}
