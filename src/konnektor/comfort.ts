// Komfortsignatur (gemSpec_Kon TUC_KON_155 ff., SignatureService 7.5; ti-components.md §3.4).
// A session is keyed by CardHandle + ClientSystemId + UserId. It starts with ActivateComfortSignature (after one
// PIN.QES entry) and ends when its count (at most 250) is used up, its timer runs out, it is deactivated, or the
// card's security state is reset. Sessions live in memory: a Konnektor restart is like pulling the HBA.
import { KonnektorError } from './errors.ts';

/** SignatureService CountType: at most 250 signatures per comfort session. */
export const COMFORT_MAX_LIMIT = 250;
/** Commonly cited upper bound of SAK_COMFORT_SIGNATURE_TIMER. */
export const COMFORT_DEFAULT_TIMER_SECONDS = 24 * 3600;
/** A UserId may not be activated again within this many activations (error 4270). */
export const USER_ID_HISTORY = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export interface ComfortConfig {
  /** SAK_COMFORT_SIGNATURE: the admin switch (default on in this simulation). */
  enabled: boolean;
  /** SAK_COMFORT_SIGNATURE_MAX, 1..250. */
  max: number;
  /** SAK_COMFORT_SIGNATURE_TIMER in seconds. */
  timerSeconds: number;
}

export interface ComfortKey {
  cardHandle: string;
  clientSystemId: string;
  userId?: string;
}

export interface SessionInfo {
  SignatureMode: 'COMFORT';
  CountRemaining: number;
  /** xsd:duration */
  TimeRemaining: string;
}

export interface SignatureModeInfo {
  ComfortSignatureStatus: 'ENABLED' | 'DISABLED';
  ComfortSignatureMax: number;
  ComfortSignatureTimer: string;
  SessionInfo?: SessionInfo;
}


interface Session {
  remaining: number;
  expiresAt: number;
}

/** xsd:duration of whole seconds, e.g. PT23H59M10S. */
export function isoDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${rest || (!h && !m) ? `${rest}S` : ''}`;
}

export function checkComfortConfig(config: ComfortConfig): ComfortConfig {
  if (!Number.isInteger(config.max) || config.max < 1 || config.max > COMFORT_MAX_LIMIT) {
    throw new Error(`comfort signature max must be 1..${COMFORT_MAX_LIMIT}, got ${config.max}`);
  }
  if (!(config.timerSeconds > 0)) throw new Error('comfort signature timer must be positive');
  return config;
}

export class ComfortSignatures {
  private readonly sessions = new Map<string, Session>();
  private readonly usedUserIds: string[] = [];
  private readonly config: ComfortConfig;

  constructor(config: Partial<ComfortConfig> = {}, private readonly now: () => number = Date.now) {
    this.config = checkComfortConfig({ enabled: true, max: COMFORT_MAX_LIMIT, timerSeconds: COMFORT_DEFAULT_TIMER_SECONDS, ...config });
  }

  private static id(key: ComfortKey): string {
    return JSON.stringify([key.cardHandle, key.clientSystemId, key.userId ?? '']);
  }

  /** Checks that comfort may be activated for this key; call before asking for the PIN. Throws 4272 / 4270. */
  checkActivation(key: ComfortKey): void {
    if (!this.config.enabled) throw new KonnektorError(409, 'COMFORT_DISABLED', 'Komfortsignatur ist am Konnektor nicht freigeschaltet (SAK_COMFORT_SIGNATURE)');
    if (!key.userId || !UUID.test(key.userId)) {
      throw new KonnektorError(400, '4272', 'UserId nicht zulässig: für die Komfortsignatur muss Context.UserId eine UUID (RFC 4122) sein');
    }
    if (this.usedUserIds.includes(key.userId.toLowerCase())) {
      throw new KonnektorError(409, '4270', `UserId ${key.userId} wurde in den letzten ${USER_ID_HISTORY} Aktivierungen bereits verwendet; eine neue UUID erzeugen`);
    }
  }

  /** Starts a session (after the PIN was verified). */
  activate(key: ComfortKey): SignatureModeInfo {
    this.checkActivation(key);
    this.usedUserIds.push(key.userId!.toLowerCase());
    if (this.usedUserIds.length > USER_ID_HISTORY) this.usedUserIds.shift();
    this.sessions.set(ComfortSignatures.id(key), { remaining: this.config.max, expiresAt: this.now() + this.config.timerSeconds * 1000 });
    return this.mode(key);
  }

  /** Ends the sessions of a card: of one user when `userId` is given, else all of them. Returns how many ended. */
  deactivate(cardHandle: string, filter: { clientSystemId?: string; userId?: string } = {}): number {
    let ended = 0;
    for (const id of [...this.sessions.keys()]) {
      const [handle, clientSystemId, userId] = JSON.parse(id) as [string, string, string];
      if (handle !== cardHandle) continue;
      if (filter.clientSystemId && filter.clientSystemId !== clientSystemId) continue;
      if (filter.userId && filter.userId !== userId) continue;
      this.sessions.delete(id);
      ended++;
    }
    return ended;
  }

  private live(key: ComfortKey): Session | undefined {
    if (!key.userId) return undefined;
    const id = ComfortSignatures.id(key);
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (session.remaining <= 0 || this.now() >= session.expiresAt) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  mode(key: ComfortKey): SignatureModeInfo {
    const info: SignatureModeInfo = {
      ComfortSignatureStatus: this.config.enabled ? 'ENABLED' : 'DISABLED',
      ComfortSignatureMax: this.config.max,
      ComfortSignatureTimer: isoDuration(this.config.timerSeconds),
    };
    const session = this.live(key);
    if (session) {
      info.SessionInfo = {
        SignatureMode: 'COMFORT',
        CountRemaining: session.remaining,
        TimeRemaining: isoDuration((session.expiresAt - this.now()) / 1000),
      };
    }
    return info;
  }

  /** Remaining signatures of a live session, or 0 when there is none. */
  remaining(key: ComfortKey): number {
    return this.live(key)?.remaining ?? 0;
  }

  /**
   * Takes `count` signatures from the session if it covers all of them; returns false (and takes nothing) when
   * there is no live session or it has fewer left, so the caller falls back to PIN mode.
   */
  consume(key: ComfortKey, count: number): boolean {
    const session = this.live(key);
    if (!session || session.remaining < count) return false;
    session.remaining -= count;
    if (session.remaining === 0) this.sessions.delete(ComfortSignatures.id(key));
    return true;
  }
}
