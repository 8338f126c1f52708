// The two E-Rezept KIM messages of seed 003 (gematik api-erp erp_steuerung_durch_le.adoc, A_21870–A_21875):
//   eRezept;Zuweisung;V1.0     multipart/mixed: free text, the E-Rezept token as a link, optionally a therapy plan
//   eRezept;Kommunikation;V1.0 a single text/plain body; replies carry In-Reply-To
// Built with nodemailer's MimeNode (so each part has exactly the seed's headers, no Content-Disposition on the
// text parts), parsed with mailparser.
import { randomUUID } from 'node:crypto';
import MimeNode from 'nodemailer/lib/mime-node';
import { simpleParser, type AddressObject, type ParsedMail } from 'mailparser';

export const DIENSTKENNUNG = {
  zuweisung: 'eRezept;Zuweisung;V1.0',
  kommunikation: 'eRezept;Kommunikation;V1.0',
} as const;

export const DEFAULT_ZUWEISUNG_TEXT = 'direkte Zuweisung E-Rezept';
/** A_21874: the token line is broken with a CRLF after 45 characters; the receiver removes it again. */
export const TOKEN_LINE_BREAK_AFTER = 45;
const TEXT_PLAIN = 'text/plain;charset=UTF-8';

export class ErezeptMessageError extends Error {
  override name = 'ErezeptMessageError';
}

interface CommonInput {
  from: string;
  to: string | string[];
  subject: string;
  text: string;
  /** Ask for a read/delivery notification to the sender (Disposition-Notification-To), as the seed samples do. */
  dispositionNotification?: boolean;
  /** X-KIM-Sendersystem: `<system>;<version>` (required for primary systems). */
  senderSystem?: string;
  date?: Date;
  /** Default: `<uuid@localhost>`; Message-IDs must not carry an FQDN. */
  messageId?: string;
}

export interface ZuweisungInput extends Omit<CommonInput, 'subject' | 'text'> {
  subject?: string;
  /** Default: "direkte Zuweisung E-Rezept". */
  text?: string;
  taskId: string;
  accessCode: string;
  therapyPlan?: { filename: string; content: Buffer; contentType?: string };
}

export interface KommunikationInput extends CommonInput {
  /** Message-ID of the message this answers. */
  inReplyTo?: string;
}

export interface ErezeptToken {
  taskId: string;
  accessCode: string;
}

/** `Task/<id>/$accept?ac=<AccessCode>` (gemSpec_DM_eRp A_19554). */
export function formatErezeptToken({ taskId, accessCode }: ErezeptToken): string {
  if (!/^\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}$/.test(taskId)) throw new ErezeptMessageError(`"${taskId}" is not a Task id (PrescriptionID)`);
  if (!/^[0-9a-fA-F]{64}$/.test(accessCode)) throw new ErezeptMessageError('the AccessCode must be 64 hex characters');
  return `Task/${taskId}/$accept?ac=${accessCode}`;
}

export function parseErezeptToken(text: string): ErezeptToken {
  // The sender breaks the line after 45 characters (A_21874); any line break inside the token is not part of it.
  const joined = text.replace(/\s+/g, '');
  const m = /^Task\/(\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2})\/\$accept\?ac=([0-9a-fA-F]{64})$/.exec(joined);
  if (!m) throw new ErezeptMessageError('the token part is not Task/<id>/$accept?ac=<AccessCode>');
  return { taskId: m[1], accessCode: m[2] };
}

function newMessageId(): string {
  return `<${randomUUID()}@localhost>`;
}

function setCommonHeaders(root: MimeNode, input: CommonInput, dienstkennung: string, messageId: string): void {
  const to = Array.isArray(input.to) ? input.to : [input.to];
  // The seed's header order: Date, From, To, Subject, X-KIM-Dienstkennung, Disposition-Notification-To, Return-Path,
  // Message-ID, (In-Reply-To), MIME-Version, Content-Type.
  root.setHeader('Date', (input.date ?? new Date()).toUTCString().replace(/GMT$/, '+0000'));
  root.setHeader('From', input.from);
  root.setHeader('To', to.join(', '));
  root.setHeader('Subject', input.subject);
  root.setHeader('X-KIM-Dienstkennung', dienstkennung);
  if (input.dispositionNotification !== false) root.setHeader('Disposition-Notification-To', input.from);
  root.setHeader('Return-Path', `<${input.from}>`);
  root.setHeader('Message-ID', messageId);
  if (input.senderSystem) root.setHeader('X-KIM-Sendersystem', input.senderSystem);
}

async function render(root: MimeNode): Promise<Buffer> {
  const built: Buffer = await root.build();
  // nodemailer writes header names as Title-Case ("X-Kim-…"); KIM spells its headers X-KIM-…. Header names are
  // case-insensitive, but receivers that compare exactly should see the seed's spelling.
  const end = built.indexOf('\r\n\r\n');
  const head = built.subarray(0, end).toString('latin1').replace(/^X-Kim-/gim, 'X-KIM-');
  return Buffer.concat([Buffer.from(head, 'latin1'), built.subarray(end)]);
}

function textNode(parent: MimeNode, content: string): void {
  const part = parent.createChild(TEXT_PLAIN);
  part.setContent(content);
}

/** Builds the assignment message (Zuweisung) of seed 003. */
export async function buildZuweisung(input: ZuweisungInput): Promise<{ raw: Buffer; messageId: string }> {
  const token = formatErezeptToken(input);
  const broken = `${token.slice(0, TOKEN_LINE_BREAK_AFTER)}\r\n${token.slice(TOKEN_LINE_BREAK_AFTER)}`;
  const messageId = input.messageId ?? newMessageId();
  const root = new MimeNode('multipart/mixed', { newline: '\r\n' } as never);
  setCommonHeaders(root, { ...input, subject: input.subject ?? 'E-Rezept direkte Zuweisung', text: '' }, DIENSTKENNUNG.zuweisung, messageId);
  textNode(root, input.text ?? DEFAULT_ZUWEISUNG_TEXT);
  textNode(root, broken);
  if (input.therapyPlan) {
    const plan = root.createChild(input.therapyPlan.contentType ?? 'application/pdf', { filename: input.therapyPlan.filename });
    plan.setHeader('Content-Disposition', 'attachment');
    plan.setHeader('Content-Transfer-Encoding', 'base64');
    plan.setContent(input.therapyPlan.content);
  }
  return { raw: await render(root), messageId };
}

/** Builds the free communication message (Kommunikation) of seed 003; set inReplyTo to answer one. */
export async function buildKommunikation(input: KommunikationInput): Promise<{ raw: Buffer; messageId: string }> {
  const messageId = input.messageId ?? newMessageId();
  const root = new MimeNode(TEXT_PLAIN, { newline: '\r\n' } as never);
  setCommonHeaders(root, input, DIENSTKENNUNG.kommunikation, messageId);
  if (input.inReplyTo) root.setHeader('In-Reply-To', input.inReplyTo);
  root.setContent(input.text);
  return { raw: await render(root), messageId };
}

interface ParsedCommon {
  dienstkennung?: string;
  from?: string;
  to: string[];
  subject?: string;
  date?: Date;
  messageId?: string;
  inReplyTo?: string;
  dispositionNotificationTo?: string;
  senderSystem?: string;
  /** X-KIM-IntegrityCheckResult set by the receiving client module ('00' = valid). */
  integrityCheckResult?: string;
}

export type ParsedErezeptMessage =
  | (ParsedCommon & { kind: 'zuweisung'; text: string; token: ErezeptToken; therapyPlan?: { filename?: string; contentType: string; content: Buffer } })
  | (ParsedCommon & { kind: 'kommunikation'; text: string })
  | (ParsedCommon & { kind: 'other'; text: string });

function list(value: AddressObject | AddressObject[] | undefined): string[] {
  const all = Array.isArray(value) ? value : value ? [value] : [];
  return all.flatMap((a) => a.value.map((v) => v.address ?? '')).filter(Boolean);
}

function header(mail: ParsedMail, name: string): string | undefined {
  const v = mail.headers.get(name);
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && 'text' in v) return String((v as { text: string }).text);
  return String(v);
}

/** Parses a received KIM message; Zuweisung and Kommunikation are recognised by X-KIM-Dienstkennung. */
export async function parseErezeptMessage(raw: Buffer | string): Promise<ParsedErezeptMessage> {
  const mail = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const common: ParsedCommon = {
    dienstkennung: header(mail, 'x-kim-dienstkennung'),
    from: list(mail.from)[0],
    to: list(mail.to),
    subject: mail.subject,
    date: mail.date,
    messageId: mail.messageId,
    inReplyTo: mail.inReplyTo,
    dispositionNotificationTo: header(mail, 'disposition-notification-to')?.replace(/^.*<([^>]+)>.*$/, '$1'),
    senderSystem: header(mail, 'x-kim-sendersystem'),
    integrityCheckResult: header(mail, 'x-kim-integritycheckresult'),
  };
  // The builder ends the body with one line break; it is not part of the text.
  const text = (mail.text ?? '').replace(/\r?\n$/, '');
  if (common.dienstkennung === DIENSTKENNUNG.kommunikation) return { ...common, kind: 'kommunikation', text };
  if (common.dienstkennung !== DIENSTKENNUNG.zuweisung) return { ...common, kind: 'other', text };
  const parts = await mixedTextParts(raw);
  if (parts.length < 2) throw new ErezeptMessageError('a Zuweisung needs a text part and a token part');
  const plan = mail.attachments.find((a) => a.filename || a.contentDisposition === 'attachment');
  return {
    ...common,
    kind: 'zuweisung',
    text: parts[0],
    token: parseErezeptToken(parts[1]),
    therapyPlan: plan ? { filename: plan.filename, contentType: plan.contentType, content: plan.content } : undefined,
  };
}

/** The decoded text/plain parts directly below the top-level multipart/mixed, in order. */
async function mixedTextParts(raw: Buffer | string): Promise<string[]> {
  const buf = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  const headEnd = buf.indexOf('\r\n\r\n') >= 0 ? buf.indexOf('\r\n\r\n') : buf.indexOf('\n\n');
  const head = buf.subarray(0, headEnd).toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const boundary = /^content-type:\s*multipart\/mixed\s*;(?:.*;)?\s*boundary="?([^";\r\n]+)"?/im.exec(head)?.[1];
  if (!boundary) throw new ErezeptMessageError('a Zuweisung must be multipart/mixed with a boundary');
  const body = buf.subarray(headEnd).toString('latin1');
  const sections = body.split(new RegExp(`\\r?\\n--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*(?=\\r?\\n|$)`));
  const texts: string[] = [];
  for (const section of sections.slice(1)) {
    const part = section.replace(/^\r?\n/, '');
    if (part.trim() === '') continue;
    // Each part is a small MIME entity of its own: let mailparser decode its transfer encoding and charset.
    const parsed = await simpleParser(Buffer.from(`${part}\r\n`, 'latin1'), { skipHtmlToText: true, skipTextToHtml: true });
    const type = (parsed.headers.get('content-type') as { value?: string } | undefined)?.value ?? 'text/plain';
    if (type === 'text/plain' && !parsed.headers.has('content-disposition')) texts.push((parsed.text ?? '').replace(/\r?\n$/, ''));
  }
  return texts;
}

