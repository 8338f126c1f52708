// The VZD's LDAP face (what a PVS/AVS reaches through the Konnektor's LDAP proxy): read-only, rooted at
// dc=data,dc=vzd. ldapjs 3.0.7 behind a thin adapter that fixes what the spec check found:
//   - Nagle off on accepted sockets (else ~44 ms per search);
//   - attribute selection and filter matching done here (ldapjs' are case-sensitive, the VZD schema is mixed-case);
//   - every complete request is pre-parsed, so a malformed one (bad base DN, unknown filter, SASL bind) gets a proper
//     LDAP result code instead of ldapjs silently dropping the connection.
import type { Socket } from 'node:net';
import ldapjsModule from 'ldapjs';
import { BASE_DN, seededDirectory, type Directory } from './directory.ts';
import { ldapAttributesOf, rootAttributes, rootDseAttributes, selectAttributes, type LdapAttributes } from './ldap-entry.ts';
import { matchesFilter, UnsupportedFilterError, type ParsedFilter } from './ldap-filter.ts';

/** LDAP result codes we send (RFC 4511 appendix A). */
export const RESULT = {
  success: 0,
  operationsError: 1,
  protocolError: 2,
  sizeLimitExceeded: 4,
  authMethodNotSupported: 7,
  noSuchObject: 32,
  invalidDNSyntax: 34,
  unwillingToPerform: 53,
} as const;

// --- the slice of ldapjs 3.0.7 we use (its bundled typings describe 2.x) ---
interface LdapDn {
  length: number;
  rdnAt(index: number): { keys(): Iterable<string>; getValue(name: string): string | undefined };
  toString(): string;
}
interface LdapResponse {
  messageId: number;
  status: number;
  matchedDN: string;
  diagnosticMessage: string;
  send(entry: unknown): void;
  end(status?: number): void;
}
interface LdapSearchRequest {
  baseObject: LdapDn;
  scope: number;
  sizeLimit: number;
  typesOnly: boolean;
  filter: ParsedFilter;
  attributes: string[];
}
interface LdapBindRequest {
  name: LdapDn;
  credentials: string;
  authentication: string;
}
type Handler<R> = (req: R, res: LdapResponse, next: () => void) => void;
interface LdapjsServer {
  newConnection(socket: Socket): void;
  search(base: string, handler: Handler<LdapSearchRequest>): void;
  bind(base: string, handler: Handler<LdapBindRequest>): void;
  add(base: string, handler: Handler<unknown>): void;
  del(base: string, handler: Handler<unknown>): void;
  modify(base: string, handler: Handler<unknown>): void;
  modifyDN(base: string, handler: Handler<unknown>): void;
  compare(base: string, handler: Handler<unknown>): void;
  listen(port: number, host: string, callback: () => void): void;
  close(callback?: () => void): void;
  address(): { port: number; address: string } | string | null;
  on(event: 'error' | 'clientError', listener: (err: Error) => void): void;
  once(event: 'error', listener: (err: Error) => void): void;
  off(event: 'error', listener: (err: Error) => void): void;
}
interface LdapjsParser {
  write(data: Buffer): boolean;
  on(event: 'message', listener: (message: unknown) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}
type ResultMessage = new (options: { messageId: number; status: number; diagnosticMessage?: string; matchedDN?: string }) => { toBer(): { buffer: Buffer } };
interface LdapjsModule {
  createServer(options: { log?: unknown; connectionRouter?: (socket: Socket) => void }): LdapjsServer;
  Parser: new (options: { log: unknown }) => LdapjsParser;
  SearchEntry: new (options: { messageId: number; objectName: string; attributes: unknown[] }) => unknown;
  Attribute: new (options: { type: string; values: (string | Buffer)[] }) => unknown;
  parseDN(dn: string): LdapDn;
  SearchResponse: ResultMessage;
  BindResponse: ResultMessage;
  AddResponse: ResultMessage;
  DeleteResponse: ResultMessage;
  ModifyResponse: ResultMessage;
  ModifyDNResponse: ResultMessage;
  CompareResponse: ResultMessage;
  ExtendedResponse: ResultMessage;
}
const ldapjs = ldapjsModule as unknown as LdapjsModule;

export interface LdapLogger {
  warn(obj: object | string, msg?: string): void;
}

export interface LdapServerOptions {
  directory?: Directory;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** Server-side size limit; the smaller of this and the client's sizeLimit applies. */
  maxResults?: number;
  /** Like the real VZD: entries without a certificate cannot be found. Off until the PKI supplies certificates. */
  requireCertificate?: boolean;
  log?: LdapLogger;
}

export interface RunningLdapServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

const SCOPE_BASE = 0;
const SCOPE_ONE = 1;
const MAX_REQUEST_BYTES = 256 * 1024;

const silentLog = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return silentLog; } };

/** Normalised DN for comparisons: attribute types and values case-folded, one `type=value` per RDN. */
export function dnKey(dn: LdapDn): string {
  const parts: string[] = [];
  for (let i = 0; i < dn.length; i++) {
    const rdn = dn.rdnAt(i);
    parts.push([...rdn.keys()].map((k) => `${k.toLowerCase()}=${(rdn.getValue(k) ?? '').toLowerCase()}`).sort().join('+'));
  }
  return parts.join(',');
}

const SUFFIX_KEY = dnKey(ldapjs.parseDN(BASE_DN));

interface Candidate {
  dn: string;
  attrs: LdapAttributes;
}

// --- request pre-parsing: framing and error answers for requests ldapjs cannot parse ---

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** Reads one BER TLV at `pos`; undefined if incomplete, 'invalid' if it cannot be a definite-length element. */
function readTlv(buf: Buffer, pos: number): Tlv | undefined | 'invalid' {
  if (buf.length < pos + 2) return undefined;
  const tag = buf[pos];
  const first = buf[pos + 1];
  let length: number;
  let header = 2;
  if (first < 0x80) length = first;
  else {
    const n = first & 0x7f;
    if (n === 0 || n > 4) return 'invalid';
    if (buf.length < pos + 2 + n) return undefined;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[pos + 2 + i];
    header += n;
  }
  return { tag, start: pos + header, end: pos + header + length };
}

const RESPONSE_OF_REQUEST: Record<number, ResultMessage | undefined> = {
  0x60: ldapjs.BindResponse,
  0x63: ldapjs.SearchResponse,
  0x66: ldapjs.ModifyResponse,
  0x68: ldapjs.AddResponse,
  0x4a: ldapjs.DeleteResponse,
  0x6c: ldapjs.ModifyDNResponse,
  0x6e: ldapjs.CompareResponse,
  0x77: ldapjs.ExtendedResponse,
};

/** The answer to a request that did not parse, or undefined when the connection should just be dropped. */
function errorAnswer(message: Buffer, error: Error): Buffer | undefined {
  const outer = readTlv(message, 0);
  if (!outer || outer === 'invalid') return undefined;
  const id = readTlv(message, outer.start);
  if (!id || id === 'invalid' || id.tag !== 0x02 || id.end - id.start > 4) return undefined;
  const messageId = message.subarray(id.start, id.end).reduce((n, b) => n * 256 + b, 0);
  const op = readTlv(message, id.end);
  if (!op || op === 'invalid') return undefined;
  const Response = RESPONSE_OF_REQUEST[op.tag];
  if (!Response) return undefined;
  let status: number = RESULT.protocolError;
  let diagnosticMessage = `Malformed request: ${error.message}`;
  if (op.tag === 0x60 && /authentication/i.test(error.message)) {
    status = RESULT.authMethodNotSupported;
    diagnosticMessage = 'Only simple bind is supported';
  } else if (op.tag === 0x63) {
    const base = readTlv(message, op.start);
    if (base && base !== 'invalid' && base.tag === 0x04) {
      const dn = message.subarray(base.start, base.end).toString('utf8');
      try {
        ldapjs.parseDN(dn);
      } catch {
        status = RESULT.invalidDNSyntax;
        diagnosticMessage = `Invalid base DN: ${dn}`;
      }
    }
  }
  return new Response({ messageId, status, diagnosticMessage }).toBer().buffer;
}

/** Splits the byte stream into whole LDAP messages and hands ldapjs only those it can parse. */
function guardConnection(socket: Socket & { parser?: LdapjsParser }): void {
  const parser = socket.parser;
  if (!parser) return;
  const forward = parser.write.bind(parser);
  const check = new ldapjs.Parser({ log: silentLog });
  let verdict: Error | undefined;
  check.on('message', () => (verdict = undefined));
  check.on('error', (err) => (verdict = err));
  let pending: Buffer = Buffer.alloc(0);
  parser.write = (data: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    for (;;) {
      const frame = readTlv(pending, 0);
      if (frame === undefined) break;
      if (frame === 'invalid' || frame.tag !== 0x30 || frame.end > MAX_REQUEST_BYTES) {
        socket.destroy();
        return false;
      }
      if (pending.length < frame.end) break;
      const message = pending.subarray(0, frame.end);
      pending = pending.subarray(frame.end);
      verdict = new Error('no message');
      check.write(message);
      if (!verdict) {
        forward(message);
        continue;
      }
      const answer = errorAnswer(message, verdict);
      if (!answer) {
        socket.destroy();
        return false;
      }
      socket.write(answer);
    }
    return true;
  };
}

// --- the directory handlers ---

function candidatesFor(base: LdapDn, scope: number, directory: Directory, requireCertificate: boolean): Candidate[] | { status: number; matchedDN: string; message: string } {
  const key = dnKey(base);
  const entries = (): Candidate[] =>
    directory.entries
      .filter((e) => !requireCertificate || directory.certificatesOf(e.telematikID).length > 0)
      .map((e) => ({ dn: e.dn, attrs: ldapAttributesOf(e, directory) }));
  const root: Candidate = { dn: BASE_DN, attrs: rootAttributes() };
  if (key === '') {
    if (scope === SCOPE_BASE) return [{ dn: '', attrs: rootDseAttributes() }];
    return scope === SCOPE_ONE ? [root] : [root, ...entries()];
  }
  if (key === SUFFIX_KEY) {
    if (scope === SCOPE_BASE) return [root];
    return scope === SCOPE_ONE ? entries() : [root, ...entries()];
  }
  if (key.endsWith(`,${SUFFIX_KEY}`)) {
    const match = /^uid=([^,+]+)$/.exec(key.slice(0, -SUFFIX_KEY.length - 1));
    const entry = match ? directory.byUid(match[1]) : undefined;
    if (entry && (!requireCertificate || directory.certificatesOf(entry.telematikID).length > 0)) {
      return scope === SCOPE_ONE ? [] : [{ dn: entry.dn, attrs: ldapAttributesOf(entry, directory) }];
    }
    return { status: RESULT.noSuchObject, matchedDN: BASE_DN, message: `No such entry: ${base.toString()}` };
  }
  return { status: RESULT.noSuchObject, matchedDN: '', message: `Not in this directory (base is ${BASE_DN}): ${base.toString()}` };
}

function searchHandler(directory: Directory, maxResults: number, requireCertificate: boolean): Handler<LdapSearchRequest> {
  return (req, res, next) => {
    const found = candidatesFor(req.baseObject, req.scope, directory, requireCertificate);
    if (!Array.isArray(found)) {
      res.matchedDN = found.matchedDN;
      res.diagnosticMessage = found.message;
      res.end(found.status);
      return next();
    }
    const limit = req.sizeLimit > 0 ? Math.min(req.sizeLimit, maxResults) : maxResults;
    let sent = 0;
    for (const candidate of found) {
      let matches: boolean;
      try {
        matches = matchesFilter(req.filter, candidate.attrs);
      } catch (err) {
        if (!(err instanceof UnsupportedFilterError)) throw err;
        res.diagnosticMessage = err.message;
        res.end(RESULT.unwillingToPerform);
        return next();
      }
      if (!matches) continue;
      if (sent === limit) {
        res.diagnosticMessage = `More than ${limit} entries match`;
        res.end(RESULT.sizeLimitExceeded);
        return next();
      }
      const attributes = selectAttributes(candidate.attrs, req.attributes).map(
        (a) => new ldapjs.Attribute({ type: a.name, values: req.typesOnly ? [] : a.values }),
      );
      // A SearchEntry instance is sent as is: ldapjs' own (case-buggy) attribute filtering is skipped.
      res.send(new ldapjs.SearchEntry({ messageId: res.messageId, objectName: candidate.dn, attributes }));
      sent++;
    }
    res.end(RESULT.success);
    return next();
  };
}

const bindHandler: Handler<LdapBindRequest> = (req, res, next) => {
  // Any simple bind is accepted (the Konnektor's proxy allows anonymous reads), but not the "unauthenticated"
  // form, DN with empty password, which RFC 4513 §5.1.2 says to refuse.
  if (req.name.length > 0 && req.credentials === '') {
    res.diagnosticMessage = 'Unauthenticated bind (DN without password) is not allowed';
    res.end(RESULT.unwillingToPerform);
  } else {
    res.end(RESULT.success);
  }
  return next();
};

const readOnly: Handler<unknown> = (_req, res, next) => {
  res.diagnosticMessage = 'The directory is read-only';
  res.end(RESULT.unwillingToPerform);
  return next();
};

function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startLdapServer(options: LdapServerOptions = {}): Promise<RunningLdapServer> {
  const directory = options.directory ?? seededDirectory;
  const host = options.host ?? '127.0.0.1';
  const sockets = new Set<Socket>();
  const server: LdapjsServer = ldapjs.createServer({
    log: silentLog,
    connectionRouter: (socket) => {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      server.newConnection(socket);
      guardConnection(socket);
    },
  });
  server.on('clientError', (err) => options.log?.warn({ err: err.message }, 'ldap request failed'));
  server.search('', searchHandler(directory, options.maxResults ?? 500, options.requireCertificate ?? false));
  server.bind('', bindHandler);
  for (const mount of [server.add, server.del, server.modify, server.modifyDN, server.compare]) mount.call(server, '', readOnly);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.log?.warn({ err: err.message }, 'ldap server error'));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `ldap://${displayHost(host)}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
