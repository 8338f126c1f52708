// The one error type every route throws; rendered as a FHIR OperationOutcome with its HTTP status.
import type { OperationOutcome, OperationOutcomeIssue } from './types.ts';

export type IssueType =
  | 'invalid' | 'structure' | 'required' | 'value' | 'invariant' | 'security' | 'login' | 'unknown' | 'expired'
  | 'forbidden' | 'suppressed' | 'processing' | 'not-supported' | 'duplicate' | 'multiple-matches' | 'not-found'
  | 'deleted' | 'too-long' | 'code-invalid' | 'extension' | 'too-costly' | 'business-rule' | 'conflict'
  | 'transient' | 'lock-error' | 'no-store' | 'exception' | 'timeout' | 'incomplete' | 'throttled' | 'informational';

const DEFAULT_CODE: Record<number, IssueType> = {
  400: 'invalid', 401: 'login', 403: 'forbidden', 404: 'not-found', 405: 'not-supported', 406: 'not-supported',
  409: 'conflict', 410: 'deleted', 412: 'conflict', 413: 'too-long', 415: 'not-supported', 429: 'throttled',
  500: 'exception', 503: 'transient', 512: 'exception',
};

export interface FhirErrorOptions {
  /** FHIR issue type; defaults by status. */
  code?: IssueType;
  /** Further explanation (OperationOutcome.issue.diagnostics). */
  diagnostics?: string;
  /** FHIRPath of the element at fault, or `line X, column Y` for a parse error. */
  expression?: string[];
  /** Extra response headers (e.g. Retry-After, WWW-Authenticate). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class FhirError extends Error {
  override name = 'FhirError';
  readonly status: number;
  readonly code: IssueType;
  readonly diagnostics?: string;
  readonly expression?: string[];
  readonly headers?: Record<string, string>;

  constructor(status: number, message: string, options: FhirErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = options.code ?? DEFAULT_CODE[status] ?? (status >= 500 ? 'exception' : 'invalid');
    this.diagnostics = options.diagnostics;
    this.expression = options.expression;
    this.headers = options.headers;
  }

  toOperationOutcome(): OperationOutcome {
    const issue: OperationOutcomeIssue = {
      severity: this.status >= 500 ? 'fatal' : 'error',
      code: this.code,
      details: { text: this.message },
    };
    if (this.diagnostics) issue.diagnostics = this.diagnostics;
    if (this.expression?.length) issue.expression = this.expression;
    return { resourceType: 'OperationOutcome', issue: [issue] };
  }
}

/** Shorthands for the common cases, so call sites read like the gematik tables. */
export const badRequest = (message: string, o?: FhirErrorOptions) => new FhirError(400, message, o);
export const unauthorized = (message: string, o?: FhirErrorOptions) => new FhirError(401, message, o);
export const forbidden = (message: string, o?: FhirErrorOptions) => new FhirError(403, message, o);
export const notFound = (message: string, o?: FhirErrorOptions) => new FhirError(404, message, o);
export const conflict = (message: string, o?: FhirErrorOptions) => new FhirError(409, message, o);
export const gone = (message: string, o?: FhirErrorOptions) => new FhirError(410, message, o);
export const preconditionFailed = (message: string, o?: FhirErrorOptions) => new FhirError(412, message, o);

/** Information-only OperationOutcome (e.g. success with warning, 252/253/254). */
export function informationOutcome(severity: 'warning' | 'information', text: string, code: IssueType = 'informational'): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}
