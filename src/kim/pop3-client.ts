// A small POP3 client (RFC 1939) on the shared line codec: it undoes dot-stuffing, which node-pop3 does not.
// Used by tests, the pharmacy backend and the practice to fetch KIM mail.
import { connect, type Socket } from 'node:net';
import { isTerminator, joinLines, LineSplitter, unstuffLine } from './pop3-codec.ts';

export class Pop3Error extends Error {
  override name = 'Pop3Error';
  constructor(
    readonly command: string,
    /** The server's text after `-ERR`, e.g. `[AUTH] invalid user name or password`. */
    readonly response: string,
  ) {
    super(`POP3 ${command} failed: -ERR ${response}`);
  }
}

export interface Pop3ConnectOptions {
  host?: string;
  port: number;
  /** Gives up on a silent server after this long (default 30 s). */
  timeoutMs?: number;
  /** Longest accepted line of a message (default 1 MiB; RFC 5322 allows 998 but real mail is sloppy). */
  maxLineLength?: number;
}

interface Waiter {
  command: string;
  multiline: boolean;
  status?: string;
  lines: Buffer[];
  resolve: (value: { status: string; lines: Buffer[] }) => void;
  reject: (error: Error) => void;
}

export class Pop3Client {
  private readonly splitter: LineSplitter;
  private readonly waiters: Waiter[] = [];
  private failure?: Error;
  /** The server greeting (text after +OK). */
  greeting = '';

  private constructor(private readonly socket: Socket, maxLineLength: number) {
    this.splitter = new LineSplitter(maxLineLength);
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const line of this.splitter.push(chunk)) this.onLine(line);
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        socket.destroy();
      }
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('POP3 connection closed')));
    socket.on('timeout', () => {
      this.fail(new Error('POP3 server did not answer in time'));
      socket.destroy();
    });
  }

  static async connect(options: Pop3ConnectOptions): Promise<Pop3Client> {
    const socket = connect({ host: options.host ?? '127.0.0.1', port: options.port });
    socket.setTimeout(options.timeoutMs ?? 30_000);
    socket.setNoDelay(true);
    const client = new Pop3Client(socket, options.maxLineLength ?? 1024 * 1024);
    const greeting = await client.expect('greeting', false);
    client.greeting = greeting.status;
    return client;
  }

  /** Connects and logs in with USER/PASS; closes the socket again when the login fails. */
  static async login(options: Pop3ConnectOptions & { user: string; password: string }): Promise<Pop3Client> {
    const client = await Pop3Client.connect(options);
    try {
      await client.command(`USER ${options.user}`);
      await client.command(`PASS ${options.password}`, 'PASS');
      return client;
    } catch (e) {
      client.destroy();
      throw e;
    }
  }

  private onLine(line: Buffer): void {
    const waiter = this.waiters[0];
    if (!waiter) return; // unsolicited line (e.g. after a timeout notice); nothing waits for it
    if (waiter.status === undefined) {
      const text = line.toString('utf8');
      if (text.startsWith('+OK')) {
        waiter.status = text.slice(4);
        if (!waiter.multiline) this.finish({ status: waiter.status, lines: [] });
      } else {
        this.waiters.shift();
        waiter.reject(new Pop3Error(waiter.command, text.startsWith('-ERR') ? text.slice(5) : text));
      }
      return;
    }
    if (isTerminator(line)) this.finish({ status: waiter.status, lines: waiter.lines });
    else waiter.lines.push(Buffer.from(unstuffLine(line)));
  }

  private finish(value: { status: string; lines: Buffer[] }): void {
    this.waiters.shift()!.resolve(value);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const w of this.waiters.splice(0)) w.reject(error);
  }

  private expect(command: string, multiline: boolean): Promise<{ status: string; lines: Buffer[] }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ command, multiline, lines: [], resolve, reject }));
  }

  /** Sends one command; `label` names it in errors (so a password never lands in a message). */
  command(line: string, label = line.split(' ')[0], multiline = false): Promise<{ status: string; lines: Buffer[] }> {
    if (/[\r\n]/.test(line)) return Promise.reject(new Error('POP3 command must not contain a line break'));
    const reply = this.expect(label, multiline);
    this.socket.write(`${line}\r\n`);
    return reply;
  }

  async capa(): Promise<string[]> {
    return (await this.command('CAPA', 'CAPA', true)).lines.map((l) => l.toString('utf8'));
  }

  async stat(): Promise<{ count: number; size: number }> {
    const [count, size] = (await this.command('STAT')).status.split(' ').map(Number);
    return { count, size };
  }

  async list(): Promise<{ n: number; size: number }[]> {
    return (await this.command('LIST', 'LIST', true)).lines.map((l) => {
      const [n, size] = l.toString('utf8').split(' ').map(Number);
      return { n, size };
    });
  }

  async uidl(): Promise<{ n: number; uid: string }[]> {
    return (await this.command('UIDL', 'UIDL', true)).lines.map((l) => {
      const [n, uid] = l.toString('utf8').split(' ');
      return { n: Number(n), uid };
    });
  }

  /** The whole message with CRLF line ends, dot-stuffing undone. */
  async retr(n: number): Promise<Buffer> {
    return joinLines((await this.command(`RETR ${n}`, 'RETR', true)).lines);
  }

  /** The header, the blank line and the first `lines` lines of the body. */
  async top(n: number, lines: number): Promise<Buffer> {
    return joinLines((await this.command(`TOP ${n} ${lines}`, 'TOP', true)).lines);
  }

  async dele(n: number): Promise<void> {
    await this.command(`DELE ${n}`);
  }

  async rset(): Promise<void> {
    await this.command('RSET');
  }

  async noop(): Promise<void> {
    await this.command('NOOP');
  }

  /** Ends the session; messages marked with DELE are removed now (UPDATE state). */
  async quit(): Promise<string> {
    const { status } = await this.command('QUIT');
    this.socket.end();
    return status;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * The KIM fetch procedure (api-kim Primaersystem.adoc "Ablauf"): UIDL, then RETR only for uids not seen before;
 * messages stay on the server unless `deleteAfterFetch` is set.
 */
export async function fetchNewMail(
  options: Pop3ConnectOptions & { user: string; password: string; knownUids?: Iterable<string>; deleteAfterFetch?: boolean },
): Promise<{ uid: string; raw: Buffer }[]> {
  const known = new Set(options.knownUids ?? []);
  const client = await Pop3Client.login(options);
  try {
    const fetched: { uid: string; raw: Buffer }[] = [];
    for (const { n, uid } of await client.uidl()) {
      if (known.has(uid)) continue;
      fetched.push({ uid, raw: await client.retr(n) });
      if (options.deleteAfterFetch) await client.dele(n);
    }
    await client.quit();
    return fetched;
  } catch (e) {
    client.destroy();
    throw e;
  }
}
