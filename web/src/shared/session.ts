// The signed-in identity and its access token, kept in sessionStorage (gone when the tab closes, never in
// localStorage or cookies). Dev sign-in tokens live 5 minutes; they are renewed from the identity id on demand.
export interface Session {
  identityId: string;
  name: string;
  role: string;
  /** KVNR (insured) or Telematik-ID (institutions), from the token. */
  idNummer: string;
  token: string;
  expiresAt: number;
}

const key = (app: string) => `erx.session.${app}`;

export function loadSession(app: string): Session | undefined {
  try {
    const raw = sessionStorage.getItem(key(app));
    return raw ? (JSON.parse(raw) as Session) : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(app: string, session: Session): void {
  sessionStorage.setItem(key(app), JSON.stringify(session));
}

export function clearSession(app: string): void {
  sessionStorage.removeItem(key(app));
}

/** Claims of a JWT, only for display (the services verify it). */
export function tokenClaims(token: string): Record<string, unknown> {
  const part = token.split('.')[1] ?? '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as Record<string, unknown>;
}

export async function signIn(app: string, identity: { id: string; name: string; role: string }): Promise<Session> {
  const response = await fetch('/api/idp/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: identity.id }) });
  const body = (await response.json()) as { access_token?: string; expires_in?: number; message?: string };
  if (!response.ok || !body.access_token) throw new Error(body.message ?? 'Anmeldung fehlgeschlagen');
  const claims = tokenClaims(body.access_token);
  const session: Session = {
    identityId: identity.id, name: identity.name, role: identity.role, idNummer: String(claims.idNummer ?? ''),
    token: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 300) * 1000,
  };
  saveSession(app, session);
  return session;
}

/** A token valid for at least 20 more seconds. */
export async function freshToken(app: string, session: Session): Promise<string> {
  if (session.expiresAt - Date.now() > 20_000) return session.token;
  const renewed = await signIn(app, { id: session.identityId, name: session.name, role: session.role });
  Object.assign(session, renewed);
  return renewed.token;
}
