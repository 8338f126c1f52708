// Internal error of the codec while it walks a document. It collects where it happened as it unwinds
// (FHIRPath segments, XML child positions, a text offset) and becomes one FhirError(400) at the public API.
import { FhirError, type IssueType } from './errors.ts';

export class ParseError extends Error {
  /** FHIRPath segments from the root resource down to the element at fault, filled in while unwinding. */
  readonly path: string[] = [];
  /** XML only: child positions from the root element down to the node at fault (to find its line later). */
  readonly nodePath: number[] = [];

  constructor(
    message: string,
    readonly code: IssueType = 'structure',
    /** Offset in the text, when known. */
    public offset = -1,
  ) {
    super(message);
  }

  /** Prepends one level while the error travels up the walk. */
  within(segment: string, nodeIndex = -1): this {
    if (segment !== '') this.path.unshift(segment);
    if (nodeIndex >= 0) this.nodePath.unshift(nodeIndex);
    return this;
  }
}

/** 1-based line and column of an offset. */
export function lineColumn(text: string, offset: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

/** FHIRPath text of collected segments: `Bundle.entry[2].resource.name[0].given`. */
export function fhirPath(segments: string[]): string {
  let out = '';
  for (const s of segments) out += s.startsWith('[') || out === '' ? s : '.' + s;
  return out;
}

/** The public form: a 400 with the location in the message and as expression. */
export function toFhirError(error: ParseError, text: string | undefined, offset = error.offset): FhirError {
  const where = error.path.length ? fhirPath(error.path) : '';
  const expression: string[] = [];
  if (text !== undefined && offset >= 0) expression.push(lineColumn(text, offset));
  if (where) expression.push(where);
  const message = where ? `${error.message} (at ${where})` : error.message;
  return new FhirError(400, message, { code: error.code, expression: expression.length ? expression : undefined });
}
