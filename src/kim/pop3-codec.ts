// The one POP3 line codec, shared by our server and our client (RFC 1939 section 3):
// lines end in CRLF; a multi-line response ends with a line holding a single "."; a line of the content that
// starts with "." gets one more "." in front (dot-stuffing), which the receiver removes again.

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('.\r\n');

export class LineTooLongError extends Error {
  override name = 'LineTooLongError';
  constructor(readonly limit: number) {
    super(`line longer than ${limit} octets`);
  }
}

/**
 * Cuts a byte stream into lines (without their line end). A bare LF also ends a line, as robust readers accept it.
 * A line over `maxLineLength` octets throws, so a peer cannot make us buffer without bound.
 */
export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLength = 0;

  constructor(private readonly maxLineLength: number) {}

  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) break;
      let line = this.take(chunk.subarray(start, lf));
      if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
      if (line.length > this.maxLineLength) throw new LineTooLongError(this.maxLineLength);
      lines.push(line);
      start = lf + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pending.push(rest);
      this.pendingLength += rest.length;
      // +1: the CR of a CRLF may already be buffered.
      if (this.pendingLength > this.maxLineLength + 1) throw new LineTooLongError(this.maxLineLength);
    }
    return lines;
  }

  private take(tail: Buffer): Buffer {
    if (this.pending.length === 0) return tail;
    const line = Buffer.concat([...this.pending, tail]);
    this.pending = [];
    this.pendingLength = 0;
    return line;
  }
}

/** Splits a message into its lines, accepting CRLF or bare LF; a final line end does not start an empty line. */
export function messageLines(message: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  while (start < message.length) {
    const lf = message.indexOf(LF, start);
    const end = lf < 0 ? message.length : lf;
    const cut = end > start && message[end - 1] === CR ? end - 1 : end;
    lines.push(message.subarray(start, cut));
    start = end + 1;
  }
  return lines;
}

/** Rewrites a message with CRLF line ends (the form POP3 sizes and transfers). */
export function toCrlf(message: Buffer): Buffer {
  const lines = messageLines(message);
  const parts: Buffer[] = [];
  for (const line of lines) parts.push(line, CRLF);
  return Buffer.concat(parts);
}

/** Encodes the body of a multi-line response: dot-stuffed lines, CRLF each, then the "." terminator line. */
export function encodeMultiline(lines: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const line of lines) {
    if (line.length > 0 && line[0] === DOT) parts.push(Buffer.from('.'));
    parts.push(line, CRLF);
  }
  parts.push(TERMINATOR);
  return Buffer.concat(parts);
}

/** True for the line that ends a multi-line response. */
export function isTerminator(line: Buffer): boolean {
  return line.length === 1 && line[0] === DOT;
}

/** Undoes dot-stuffing of one received line of a multi-line response. */
export function unstuffLine(line: Buffer): Buffer {
  return line.length > 0 && line[0] === DOT ? line.subarray(1) : line;
}

/** Joins received (already un-stuffed) lines back into a CRLF message. */
export function joinLines(lines: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const line of lines) parts.push(line, CRLF);
  return Buffer.concat(parts);
}

/** The header lines, the empty separator line and the first `bodyLines` lines of the body (TOP). */
export function topLines(message: Buffer, bodyLines: number): Buffer[] {
  const lines = messageLines(message);
  const blank = lines.findIndex((l) => l.length === 0);
  if (blank < 0) return lines;
  return lines.slice(0, blank + 1 + bodyLines);
}
