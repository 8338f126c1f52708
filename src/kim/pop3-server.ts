// Our own RFC 1939 POP3 server (no maintained server library exists for Node), with the RFC 2449 CAPA command
// and response codes. Users log in with the KIM POP3 user name (./username.ts). A session works on a snapshot of
// the mailbox taken at login; DELE only marks, and the marked messages are removed when QUIT enters the UPDATE
// state. A dropped connection deletes nothing (RFC 1939 section 6).
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { encodeMultiline, LineSplitter, LineTooLongError, messageLines, topLines } from './pop3-codec.ts';
import type { MailStore, StoredMailInfo } from './store.ts';
import { KimUserNameError, parseKimUserName } from './username.ts';
import type { KimAccountDirectory } from './accounts.ts';

export interface Pop3ServerOptions {
  store: MailStore;
  accounts: KimAccountDirectory;
  host?: string;
  port?: number;
  /** Longest accepted command line in octets (RFC 2449 allows 255; KIM user names can be longer). */
  maxLineLength?: number;
  /** Autologout timer (RFC 1939: at least 10 minutes). */
  idleTimeoutMs?: number;
  /** Failed PASS attempts before the connection is closed. */
  maxAuthFailures?: number;
  log?: (message: string) => void;
}

export interface Pop3Server {
  port: number;
  close(): Promise<void>;
}

type State = 'AUTHORIZATION' | 'TRANSACTION' | 'UPDATE';

interface Session {
  state: State;
  user?: string;
  mailbox?: string;
  messages: StoredMailInfo[];
  deleted: Set<number>;
  authFailures: number;
}

const CAPABILITIES = ['USER', 'UIDL', 'TOP', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'EXPIRE NEVER', 'IMPLEMENTATION erx-kim'];

export async function startPop3Server(options: Pop3ServerOptions): Promise<Pop3Server> {
  const maxLineLength = options.maxLineLength ?? 1024;
  const idleTimeoutMs = options.idleTimeoutMs ?? 10 * 60_000;
  const maxAuthFailures = options.maxAuthFailures ?? 3;
  const log = options.log ?? (() => {});
  // Exclusive access per maildrop while a session is in TRANSACTION state (RFC 1939 section 4).
  const locked = new Set<string>();
  const sockets = new Set<Socket>();

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.setTimeout(idleTimeoutMs);
    const splitter = new LineSplitter(maxLineLength);
    const session: Session = { state: 'AUTHORIZATION', messages: [], deleted: new Set(), authFailures: 0 };
    let queue = Promise.resolve();
    let closed = false;

    const write = (data: string | Buffer) => {
      if (!closed && socket.writable) socket.write(data);
    };
    const ok = (text: string) => write(`+OK ${text}\r\n`);
    const err = (text: string) => write(`-ERR ${text}\r\n`);
    const end = () => {
      if (closed) return;
      closed = true;
      socket.end();
    };
    const release = () => {
      if (session.mailbox && session.state === 'TRANSACTION') locked.delete(session.mailbox);
    };

    socket.on('timeout', () => {
      err('autologout: idle too long');
      release();
      end();
    });
    socket.on('close', () => {
      sockets.delete(socket);
      release();
    });
    socket.on('error', (e) => log(`pop3 socket error: ${e.message}`));
    socket.on('data', (chunk: Buffer) => {
      let lines: Buffer[];
      try {
        lines = splitter.push(chunk);
      } catch (e) {
        if (e instanceof LineTooLongError) {
          err(`line too long (limit ${maxLineLength} octets)`);
          release();
          end();
          return;
        }
        throw e;
      }
      // Commands run one after the other, so a pipelining client gets its answers in order.
      for (const line of lines) {
        queue = queue.then(() => (closed ? undefined : handle(line.toString('utf8')))).catch((e: unknown) => {
          log(`pop3 command failed: ${e instanceof Error ? e.message : String(e)}`);
          err('internal error, try again later');
        });
      }
    });

    const message = (arg: string | undefined): { n: number; info: StoredMailInfo } | string => {
      if (arg === undefined || !/^\d{1,9}$/.test(arg)) return 'message number required';
      const n = Number(arg);
      const info = session.messages[n - 1];
      if (!info) return `no such message ${arg}`;
      if (session.deleted.has(n)) return `message ${n} already deleted`;
      return { n, info };
    };

    const load = async (info: StoredMailInfo): Promise<Buffer | undefined> => options.store.get(session.mailbox!, info.uid);

    async function handle(line: string): Promise<void> {
      const [rawCommand = '', ...args] = line.split(' ');
      const command = rawCommand.toUpperCase();
      if (command === '') return err('empty command');
      if (command === 'CAPA') {
        return write(`+OK capability list follows\r\n${CAPABILITIES.map((c) => `${c}\r\n`).join('')}.\r\n`);
      }
      if (command === 'NOOP' && session.state === 'TRANSACTION') return ok('');
      if (command === 'QUIT') return quit();
      if (session.state === 'AUTHORIZATION') return authorization(command, line.slice(rawCommand.length + 1), args);
      return transaction(command, args);
    }

    async function authorization(command: string, rest: string, args: string[]): Promise<void> {
      if (command === 'USER') {
        if (args.length === 0 || rest.length === 0) return err('USER needs the KIM POP3 user name');
        try {
          session.user = parseKimUserName(rest, 'pop3').address;
        } catch (e) {
          session.user = undefined;
          if (e instanceof KimUserNameError) return err(`[AUTH] ${e.message}`);
          throw e;
        }
        return ok('send PASS');
      }
      if (command === 'PASS') {
        if (!session.user) return err('USER first');
        const account = options.accounts.checkPassword(session.user, rest);
        if (!account || !(await options.store.hasMailbox(account.address))) {
          session.user = undefined;
          session.authFailures += 1;
          err('[AUTH] invalid user name or password');
          if (session.authFailures >= maxAuthFailures) end();
          return;
        }
        if (locked.has(account.address)) {
          session.user = undefined;
          return err('[IN-USE] mailbox is in use by another session, try again later');
        }
        locked.add(account.address);
        session.mailbox = account.address;
        session.state = 'TRANSACTION';
        try {
          session.messages = await options.store.list(account.address);
        } catch (e) {
          locked.delete(account.address);
          session.state = 'AUTHORIZATION';
          session.mailbox = undefined;
          throw e;
        }
        const octets = session.messages.reduce((sum, m) => sum + m.size, 0);
        return ok(`maildrop has ${session.messages.length} messages (${octets} octets)`);
      }
      if (['STAT', 'LIST', 'UIDL', 'TOP', 'RETR', 'DELE', 'RSET', 'NOOP'].includes(command)) {
        return err('not logged in: USER and PASS first');
      }
      return err(`unknown command ${command.slice(0, 16)}`);
    }

    async function transaction(command: string, args: string[]): Promise<void> {
      const live = () => session.messages.map((info, i) => ({ n: i + 1, info })).filter(({ n }) => !session.deleted.has(n));
      switch (command) {
        case 'STAT': {
          const l = live();
          return ok(`${l.length} ${l.reduce((s, m) => s + m.info.size, 0)}`);
        }
        case 'LIST':
        case 'UIDL': {
          const value = (m: { n: number; info: StoredMailInfo }) => (command === 'LIST' ? m.info.size : m.info.uid);
          if (args.length > 0) {
            const m = message(args[0]);
            return typeof m === 'string' ? err(m) : ok(`${m.n} ${value(m)}`);
          }
          const lines = live().map((m) => Buffer.from(`${m.n} ${value(m)}`));
          write(Buffer.concat([Buffer.from(`+OK ${lines.length} messages\r\n`), encodeMultiline(lines)]));
          return;
        }
        case 'RETR':
        case 'TOP': {
          const m = message(args[0]);
          if (typeof m === 'string') return err(m);
          let bodyLines = -1;
          if (command === 'TOP') {
            if (args[1] === undefined || !/^\d{1,9}$/.test(args[1])) return err('TOP needs a message number and a line count');
            bodyLines = Number(args[1]);
          }
          const raw = await load(m.info);
          if (!raw) return err(`message ${m.n} is no longer available`);
          const lines = bodyLines < 0 ? messageLines(raw) : topLines(raw, bodyLines);
          write(Buffer.concat([Buffer.from(`+OK ${command === 'RETR' ? `${m.info.size} octets` : 'top of message follows'}\r\n`), encodeMultiline(lines)]));
          return;
        }
        case 'DELE': {
          const m = message(args[0]);
          if (typeof m === 'string') return err(m);
          session.deleted.add(m.n);
          return ok(`message ${m.n} deleted`);
        }
        case 'RSET':
          session.deleted.clear();
          return ok(`maildrop has ${session.messages.length} messages`);
        case 'USER':
        case 'PASS':
          return err('already logged in');
        default:
          return err(`unknown command ${command.slice(0, 16)}`);
      }
    }

    async function quit(): Promise<void> {
      if (session.state !== 'TRANSACTION') {
        ok('bye');
        return end();
      }
      session.state = 'UPDATE';
      const uids = [...session.deleted].map((n) => session.messages[n - 1].uid);
      try {
        if (uids.length > 0) await options.store.delete(session.mailbox!, uids);
        ok(`bye (${uids.length} messages deleted)`);
      } catch (e) {
        log(`pop3 update failed: ${e instanceof Error ? e.message : String(e)}`);
        err('some deleted messages not removed');
      } finally {
        locked.delete(session.mailbox!);
        end();
      }
    }

    write('+OK KIM POP3 server ready\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
