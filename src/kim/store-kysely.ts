// The durable MailStore on the platform database (PGlite or PostgreSQL through kysely). One row per message and
// recipient mailbox, the raw message as bytea; deliver() inserts all copies in one transaction.
import type { Generated, Kysely } from 'kysely';
import type { Database } from '../storage/database.ts';
import { newMailUid, normalizeMailbox, UnknownMailboxError, type MailStore, type StoredMailInfo } from './store.ts';

interface KimTables {
  kim_mailbox: { address: string; created_at: Generated<Date> };
  kim_message: { mailbox: string; uid: string; seq: Generated<number>; raw: Buffer; size: number; received_at: Generated<Date> };
}

export class KyselyMailStore implements MailStore {
  private readonly db: Kysely<KimTables>;

  constructor(private readonly database: Database) {
    this.db = database.db as Kysely<KimTables>;
  }

  async ensureMailboxes(addresses: string[]): Promise<void> {
    if (addresses.length === 0) return;
    await this.db
      .insertInto('kim_mailbox')
      .values([...new Set(addresses.map(normalizeMailbox))].map((address) => ({ address })))
      .onConflict((oc) => oc.column('address').doNothing())
      .execute();
  }

  async hasMailbox(address: string): Promise<boolean> {
    const row = await this.db.selectFrom('kim_mailbox').select('address').where('address', '=', normalizeMailbox(address)).executeTakeFirst();
    return row !== undefined;
  }

  async deliver(raw: Buffer, recipients: string[]): Promise<Map<string, string>> {
    const mailboxes = [...new Set(recipients.map(normalizeMailbox))];
    if (mailboxes.length === 0) return new Map();
    return this.database.transaction(async (trx) => {
      const t = trx as unknown as Kysely<KimTables>;
      const found = new Set((await t.selectFrom('kim_mailbox').select('address').where('address', 'in', mailboxes).execute()).map((r) => r.address));
      const missing = mailboxes.find((m) => !found.has(m));
      if (missing) throw new UnknownMailboxError(missing);
      const uids = new Map(mailboxes.map((m) => [m, newMailUid()]));
      await t
        .insertInto('kim_message')
        .values(mailboxes.map((mailbox) => ({ mailbox, uid: uids.get(mailbox)!, raw, size: raw.length })))
        .execute();
      return uids;
    });
  }

  async list(mailbox: string): Promise<StoredMailInfo[]> {
    const address = normalizeMailbox(mailbox);
    if (!(await this.hasMailbox(address))) throw new UnknownMailboxError(mailbox);
    const rows = await this.db
      .selectFrom('kim_message')
      .select(['uid', 'size', 'received_at'])
      .where('mailbox', '=', address)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ uid: r.uid, size: r.size, receivedAt: r.received_at }));
  }

  async get(mailbox: string, uid: string): Promise<Buffer | undefined> {
    const row = await this.db
      .selectFrom('kim_message')
      .select('raw')
      .where('mailbox', '=', normalizeMailbox(mailbox))
      .where('uid', '=', uid)
      .executeTakeFirst();
    return row ? Buffer.from(row.raw) : undefined;
  }

  async delete(mailbox: string, uids: string[]): Promise<number> {
    if (uids.length === 0) return 0;
    const result = await this.db
      .deleteFrom('kim_message')
      .where('mailbox', '=', normalizeMailbox(mailbox))
      .where('uid', 'in', uids)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
