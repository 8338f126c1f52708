// SMTP submission as the KIM client module offers it to a primary system (ti-components.md §1.2–1.4), on
// smtp-server. It plays the sender's and the recipients' client module in one: it checks the KIM user name and
// password, the sender addresses, removes recipients without a mailbox, signs with the sender's key, verifies,
// and stores the message with the result headers in every recipient's mailbox. It answers 250 only after the
// store has committed.
import { randomUUID } from 'node:crypto';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { simpleParser, type AddressObject } from 'mailparser';
import type { KimAccount, KimAccountDirectory } from './accounts.ts';
import type { MailStore } from './store.ts';
import { KimUserNameError, parseKimUserName } from './username.ts';
import { toCrlf } from './pop3-codec.ts';
import { noIntegrity, type MailIntegrity } from './integrity.ts';

export const KIM_MAX_MESSAGE_SIZE = 15 * 1024 * 1024;
export const DEFAULT_DIENSTKENNUNG = 'KIM-Mail;Default;V1.0';
/** The text the PS must show when no recipient could be reached (api-kim Primaersystem.adoc). */
export const NO_RECIPIENT_TEXT =
  'Die Nachricht konnte nicht gesendet werden, weil für keinen Empfänger gültige Verschlüsselungszertifikate ermittelt werden konnten.';
const KIM_DOMAINS = /\.kim\.telematik(-test)?$/i;

export interface KimSmtpServerOptions {
  store: MailStore;
  accounts: KimAccountDirectory;
  host?: string;
  port?: number;
  /** Whole-mail limit in octets (KIM 1.0: 15 MiB); larger mail is refused with 451. */
  maxMessageSize?: number;
  integrity?: MailIntegrity;
  log?: (message: string) => void;
}

export interface KimSmtpServer {
  port: number;
  close(): Promise<void>;
}

interface KimSession extends SMTPServerSession {
  user?: unknown;
}

function smtpError(responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode });
}

function addresses(value: AddressObject | AddressObject[] | undefined): string[] {
  const list = Array.isArray(value) ? value : value ? [value] : [];
  const out: string[] = [];
  const walk = (entries: { address?: string; group?: unknown[] }[]) => {
    for (const e of entries) {
      if (e.address) out.push(e.address.toLowerCase());
      if (Array.isArray(e.group)) walk(e.group as { address?: string }[]);
    }
  };
  for (const a of list) walk(a.value);
  return out;
}

/** Header block and body of a CRLF message (the body keeps its leading blank line). */
function splitMessage(raw: Buffer): { head: string; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return { head: raw.toString('latin1'), body: Buffer.alloc(0) };
  return { head: raw.subarray(0, end + 2).toString('latin1'), body: raw.subarray(end + 2) };
}

function hasHeader(head: string, name: string): boolean {
  return new RegExp(`^${name}:`, 'im').test(head);
}

export async function startKimSmtpServer(options: KimSmtpServerOptions): Promise<KimSmtpServer> {
  const maxMessageSize = options.maxMessageSize ?? KIM_MAX_MESSAGE_SIZE;
  const integrity = options.integrity ?? noIntegrity;
  const log = options.log ?? (() => {});

  const accountOf = (session: KimSession): KimAccount => session.user as KimAccount;

  async function accept(raw: Buffer, session: KimSession): Promise<string> {
    const sender = accountOf(session);
    const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : '';
    const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
    // A_23421/A_23422: From and Sender must be the MAIL FROM address, Reply-To must stay inside KIM.
    const from = addresses(parsed.from);
    if (from.length !== 1 || from[0] !== envelopeFrom) {
      throw smtpError(553, `5.7.1 From header (${from.join(', ') || 'missing'}) must be the MAIL FROM address ${envelopeFrom}`);
    }
    const senderHeader = parsed.headers.get('sender') as AddressObject | undefined;
    const senders = addresses(senderHeader);
    if (senders.some((s) => s !== envelopeFrom)) {
      throw smtpError(553, `5.7.1 Sender header (${senders.join(', ')}) must be the MAIL FROM address ${envelopeFrom}`);
    }
    const replyTo = addresses(parsed.replyTo);
    const outside = replyTo.find((a) => !KIM_DOMAINS.test(a.split('@')[1] ?? ''));
    if (outside) throw smtpError(553, `5.7.1 Reply-To ${outside} is not a KIM address (*.kim.telematik)`);

    const recipients = [...new Set(session.envelope.rcptTo.map((r) => r.address.toLowerCase()))];
    const reachable: string[] = [];
    const unreachable: string[] = [];
    for (const r of recipients) ((await options.store.hasMailbox(r)) ? reachable : unreachable).push(r);
    if (reachable.length === 0) {
      throw smtpError(451, `4.1.1 ${NO_RECIPIENT_TEXT} (no KIM mailbox: ${unreachable.join(', ')})`);
    }

    // The sender's client module completes the header: Dienstkennung default and a Message-ID without FQDN.
    const { head } = splitMessage(raw);
    let completed = raw;
    const added: string[] = [];
    if (!hasHeader(head, 'X-KIM-Dienstkennung')) added.push(`X-KIM-Dienstkennung: ${DEFAULT_DIENSTKENNUNG}`);
    if (!hasHeader(head, 'Message-ID')) added.push(`Message-ID: <${randomUUID()}@kim>`);
    if (added.length > 0) completed = Buffer.concat([Buffer.from(added.map((h) => `${h}\r\n`).join('')), raw]);

    const signature = await integrity.sign(completed, sender);
    const check = await integrity.verify(completed, signature, sender.address);
    const delivered = Buffer.concat([
      Buffer.from(`X-KIM-DecryptionResult: 00\r\nX-KIM-IntegrityCheckResult: ${check}\r\n`),
      completed,
    ]);
    await options.store.deliver(delivered, reachable);
    if (unreachable.length > 0 && (await options.store.hasMailbox(sender.address))) {
      await options.store.deliver(deliveryStatusNotice(sender.address, unreachable, parsed.messageId), [sender.address]);
    }
    log(`kim smtp: ${sender.address} -> ${reachable.join(', ')} (${delivered.length} octets, integrity ${check})`);
    return unreachable.length > 0
      ? `2.0.0 accepted for ${reachable.length} of ${recipients.length} recipients; the Nachricht wurde nur an einen Teil der gewünschten Adressaten gesendet`
      : `2.0.0 accepted for ${reachable.length} recipient(s)`;
  }

  const server = new SMTPServer({
    name: 'kim-clientmodul',
    banner: 'KIM client module (erx)',
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    // The link to the client module is local; TLS terminates in front of it when needed.
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    size: maxMessageSize,
    logger: false,
    disableReverseLookup: true,

    onAuth(auth: SMTPServerAuthentication, _session, callback) {
      let address: string;
      try {
        address = parseKimUserName(auth.username ?? '', 'smtp').address;
      } catch (e) {
        if (e instanceof KimUserNameError) return callback(smtpError(535, `5.7.8 ${e.message}`));
        return callback(e as Error);
      }
      const account = options.accounts.checkPassword(address, auth.password ?? '');
      if (!account) return callback(smtpError(535, '5.7.8 invalid KIM user name or password'));
      callback(null, { user: account });
    },

    onMailFrom(from, session, callback) {
      const account = accountOf(session);
      if (from.address.toLowerCase() !== account.address) {
        return callback(smtpError(553, `5.7.1 MAIL FROM ${from.address} is not the authenticated KIM address ${account.address}`));
      }
      callback();
    },

    // From KIM 1.5 the client module answers RCPT TO with OK and sorts recipients out after DATA.
    onRcptTo(_to, _session, callback) {
      callback();
    },

    onData(stream: SMTPServerDataStream, session, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxMessageSize) chunks.push(chunk);
      });
      stream.on('error', (e) => callback(e));
      stream.on('end', () => {
        if (stream.sizeExceeded || size > maxMessageSize) {
          return callback(
            smtpError(451, `4.3.4 message of ${size} octets exceeds the KIM limit of ${maxMessageSize} octets; no recipient can take large mail`),
          );
        }
        accept(toCrlf(Buffer.concat(chunks)), session).then(
          (reply) => callback(null, reply),
          (e: unknown) => {
            if (e instanceof Error && 'responseCode' in e) return callback(e);
            log(`kim smtp: delivery failed: ${e instanceof Error ? e.stack : String(e)}`);
            callback(smtpError(451, '4.3.0 the message could not be stored, try again later'));
          },
        );
      });
    },
  });
  server.on('error', (e) => log(`kim smtp: ${e.message}`));

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as { port: number }).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A short RFC 3464 delivery status notification for recipients the client module removed. */
function deliveryStatusNotice(sender: string, failed: string[], originalMessageId: string | undefined): Buffer {
  const boundary = `dsn-${randomUUID()}`;
  const lines = [
    `From: mailer-daemon@${sender.split('@')[1]}`,
    `To: ${sender}`,
    `Subject: Zustellung fehlgeschlagen / Delivery Status Notification (Failure)`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${randomUUID()}@kim>`,
    ...(originalMessageId ? [`In-Reply-To: ${originalMessageId}`] : []),
    `X-KIM-Dienstkennung: ${DEFAULT_DIENSTKENNUNG}`,
    `MIME-Version: 1.0`,
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Die Nachricht wurde nur an einen Teil der gewünschten Adressaten gesendet. Ohne KIM-Postfach:',
    ...failed.map((f) => `  ${f}`),
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; kim`,
    `Arrival-Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    ...failed.flatMap((f) => ['', `Final-Recipient: rfc822; ${f}`, 'Action: failed', 'Status: 5.1.1']),
    '',
    `--${boundary}--`,
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'utf8');
}
