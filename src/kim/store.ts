// Mailboxes per KIM address. The protocol servers only see this interface; the durable implementation sits on the
// platform database (./store-kysely.ts).
import { randomUUID } from 'node:crypto';

export interface StoredMailInfo {
  /** Unique per mailbox and never reused: the POP3 UIDL value. */
  uid: string;
  /** Octets of the stored message (CRLF line ends), as POP3 LIST reports it. */
  size: number;
  receivedAt: Date;
}

export interface MailStore {
  /** Creates the mailboxes that do not exist yet (idempotent). */
  ensureMailboxes(addresses: string[]): Promise<void>;
  hasMailbox(address: string): Promise<boolean>;
  /**
   * Stores one copy of `raw` in each recipient's mailbox, all or nothing, and resolves only once that is committed
   * (SMTP answers 250 after this). Resolves to the new uid per recipient.
   */
  deliver(raw: Buffer, recipients: string[]): Promise<Map<string, string>>;
  /** The mailbox content, oldest first. */
  list(mailbox: string): Promise<StoredMailInfo[]>;
  get(mailbox: string, uid: string): Promise<Buffer | undefined>;
  /** Removes the given messages; returns how many were there. */
  delete(mailbox: string, uids: string[]): Promise<number>;
  close?(): Promise<void>;
}

export class UnknownMailboxError extends Error {
  override name = 'UnknownMailboxError';
  constructor(readonly mailbox: string) {
    super(`no KIM mailbox ${mailbox}`);
  }
}

export function newMailUid(): string {
  return randomUUID().replaceAll('-', '');
}

export function normalizeMailbox(address: string): string {
  return address.trim().toLowerCase();
}
