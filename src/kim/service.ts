// The KIM service: SMTP submission and POP3 retrieval on the platform database, for every seeded KIM account;
// plus the small send helper the practice and pharmacy use.
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';
import type { Database } from '../storage/database.ts';
import type { LoadedPki } from '../crypto/pki.ts';
import type { ServiceDefinition } from '../cli/service.ts';
import { getDatabase, getPki } from '../cli/shared.ts';
import { KimAccountDirectory, kimAccounts, type KimAccount } from './accounts.ts';
import { startKimSmtpServer } from './smtp-server.ts';
import { startPop3Server } from './pop3-server.ts';
import { KyselyMailStore } from './store-kysely.ts';
import { cadesIntegrity, noIntegrity, type MailIntegrity } from './integrity.ts';

export interface KimServiceOptions {
  config: Pick<Config, 'host' | 'ports'>;
  database: Database;
  /** Test PKI with the seeded cards: mail is then signed with the sender's card and checked on delivery. */
  pki?: LoadedPki;
  /** Overrides the integrity step (default: CMS with `pki`, or none without it). */
  integrity?: MailIntegrity;
  /** Default 15 MiB (KIM 1.0). */
  maxMessageSize?: number;
  log?: (message: string) => void;
}

export interface KimService {
  smtpPort: number;
  pop3Port: number;
  /** The seeded accounts with user names for the ports actually bound. */
  accounts: KimAccount[];
  stop(): Promise<void>;
}

export async function startKimService(options: KimServiceOptions): Promise<KimService> {
  const { config, database } = options;
  const directory = new KimAccountDirectory(kimAccounts());
  const store = new KyselyMailStore(database);
  await store.ensureMailboxes(directory.addresses());
  const integrity = options.integrity ?? (options.pki ? cadesIntegrity(options.pki) : noIntegrity);
  const smtp = await startKimSmtpServer({
    store, accounts: directory, host: config.host, port: config.ports.kim_smtp,
    maxMessageSize: options.maxMessageSize, integrity, log: options.log,
  });
  let pop3;
  try {
    pop3 = await startPop3Server({ store, accounts: directory, host: config.host, port: config.ports.kim_pop3, log: options.log });
  } catch (e) {
    await smtp.close();
    throw e;
  }
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return {
    smtpPort: smtp.port,
    pop3Port: pop3.port,
    accounts: kimAccounts({ host, smtpPort: smtp.port, pop3Port: pop3.port }),
    async stop() {
      await Promise.all([smtp.close(), pop3.close()]);
    },
  };
}

/** `erx serve kim` / `erx start`: both servers on the shared database, signing with the shared test PKI. */
export const kimServiceDefinition: ServiceDefinition = {
  name: 'kim',
  description: 'KIM mail (SMTP submission and POP3) for the seeded KIM addresses',
  async start(ctx) {
    const [database, pki] = await Promise.all([getDatabase(ctx), getPki(ctx)]);
    const kim = await startKimService({ config: ctx.config, database, pki, log: (m) => ctx.log.info(m) });
    const host = ctx.config.host === '0.0.0.0' || ctx.config.host === '::' ? 'localhost' : ctx.config.host;
    return { name: 'kim', urls: [`smtp://${host}:${kim.smtpPort}`, `pop3://${host}:${kim.pop3Port}`], stop: kim.stop };
  },
};

export interface KimSmtpTarget {
  host?: string;
  port: number;
  /** The KIM SMTP user name (address#host:port#Mandant#Clientsystem#Workplace[#KonnektorId]). */
  user: string;
  password: string;
}

export interface KimSendResult {
  messageId: string;
  /** The server's final reply, e.g. `250 2.0.0 accepted for 1 recipient(s)`. */
  response: string;
  accepted: string[];
}

/**
 * Sends a ready-built message (e.g. from ./erezept-messages.ts) through the KIM SMTP service with the KIM user name.
 * Rejections come back as nodemailer errors carrying `responseCode` and `response` (e.g. 451 with the text to show).
 */
export async function sendKimMail(target: KimSmtpTarget, mail: { from: string; to: string | string[]; raw: Buffer }): Promise<KimSendResult> {
  const transport = nodemailer.createTransport({
    host: target.host ?? '127.0.0.1',
    port: target.port,
    secure: false,
    ignoreTLS: true,
    auth: { user: target.user, pass: target.password },
  });
  try {
    const info = await transport.sendMail({ envelope: { from: mail.from, to: mail.to }, raw: mail.raw });
    return { messageId: info.messageId, response: info.response, accepted: info.accepted.map(String) };
  } finally {
    transport.close();
  }
}
