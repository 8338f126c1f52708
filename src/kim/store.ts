// Mailboxes per KIM address. The protocol servers only see this interface; the durable implementation sits on the
// platform database (see ./store-kysely.ts), the in-memory one serves throw-away runs.
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

interface MemoryMail extends StoredMailInfo {
  raw: Buffer;
}

/** Keeps mail in process memory only: for tests of the protocol and for runs that need no durability. */
export class MemoryMailStore implements MailStore {
  private readonly boxes = new Map<string, MemoryMail[]>();

  async ensureMailboxes(addresses: string[]): Promise<void> {
    for (const a of addresses) if (!this.boxes.has(normalizeMailbox(a))) this.boxes.set(normalizeMailbox(a), []);
  }

  async hasMailbox(address: string): Promise<boolean> {
    return this.boxes.has(normalizeMailbox(address));
  }

  async deliver(raw: Buffer, recipients: string[]): Promise<Map<string, string>> {
    const boxes = recipients.map((r) => {
      const box = this.boxes.get(normalizeMailbox(r));
      if (!box) throw new UnknownMailboxError(r);
      return [normalizeMailbox(r), box] as const;
    });
    const uids = new Map<string, string>();
    for (const [address, box] of boxes) {
      const uid = newMailUid();
      box.push({ uid, size: raw.length, receivedAt: new Date(), raw: Buffer.from(raw) });
      uids.set(address, uid);
    }
    return uids;
  }

  async list(mailbox: string): Promise<StoredMailInfo[]> {
    const box = this.boxes.get(normalizeMailbox(mailbox));
    if (!box) throw new UnknownMailboxError(mailbox);
    return box.map(({ uid, size, receivedAt }) => ({ uid, size, receivedAt }));
  }

  async get(mailbox: string, uid: string): Promise<Buffer | undefined> {
    return this.boxes.get(normalizeMailbox(mailbox))?.find((m) => m.uid === uid)?.raw;
  }

  async delete(mailbox: string, uids: string[]): Promise<number> {
    const box = this.boxes.get(normalizeMailbox(mailbox));
    if (!box) return 0;
    const gone = new Set(uids);
    const keep = box.filter((m) => !gone.has(m.uid));
    const removed = box.length - keep.length;
    this.boxes.set(normalizeMailbox(mailbox), keep);
    return removed;
  }
}
