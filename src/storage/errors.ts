// Classifies database errors the same way for PGlite and PostgreSQL (both carry the SQLSTATE in `code`).
import { FhirError } from '../fhir/errors.ts';

/** The SQLSTATE of err or of an error in its `cause` chain (a transient FhirError keeps the driver error as cause). */
export function sqlState(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** 23505: a unique or primary key constraint rejected the row (idempotent inserts, races on the same key). */
export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === '23505';
}

/** 40001 serialization failure or 40P01 deadlock: the transaction lost a race and may be retried as a whole. */
export function isSerializationFailure(err: unknown): boolean {
  const state = sqlState(err);
  return state === '40001' || state === '40P01';
}

const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
// pg reports a dropped socket or a connect timeout by message only.
const CONNECTION_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|not queryable|the database system is (shutting down|starting up)/i;

/**
 * True when the database could not be reached or dropped the connection: class 08 (connection exception),
 * 57P01/57P02/57P03 (admin shutdown, crash shutdown, cannot connect now), 53300 (too many connections),
 * or a socket error. Such a request may succeed when retried a moment later.
 */
export function isConnectionFailure(err: unknown): boolean {
  if (err instanceof FhirError) return err.status === 503 && err.code === 'transient';
  const state = sqlState(err);
  if (state) return state.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(state);
  const e = err as { code?: unknown; message?: unknown; errors?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && CONNECTION_ERRNOS.has(e.code)) return true;
  // Node's AggregateError for a host with several addresses (::1 and 127.0.0.1).
  if (Array.isArray(e.errors) && e.errors.some(isConnectionFailure)) return true;
  return typeof e.message === 'string' && CONNECTION_MESSAGES.test(e.message);
}

/** The 503 every route returns while the database is unreachable; the driver error stays as `cause` for the log. */
export function databaseUnavailable(cause: unknown): FhirError {
  return new FhirError(503, 'Datenbank vorübergehend nicht erreichbar', {
    code: 'transient',
    headers: { 'Retry-After': '1' },
    cause,
  });
}

/** Maps connection failures to the 503 FhirError; any other error is returned unchanged. */
export function mapConnectionFailure(err: unknown): unknown {
  return isConnectionFailure(err) && !(err instanceof FhirError) ? databaseUnavailable(err) : err;
}
