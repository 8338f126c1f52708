// Building blocks shared by the apps: page frame with sign-out, sign-in with a seeded identity, labelled fields,
// status messages announced to screen readers.
import { useEffect, useId, useState, type ReactNode } from 'react';
import { clearSession, loadSession, signIn, type Session } from './session.ts';
import './styles.css';

export function Notice({ kind, children }: { kind: 'error' | 'info' | 'success'; children: ReactNode }) {
  return <p className={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>{children}</p>;
}

export function Field({ label, value, onChange, type = 'text', placeholder, hint, multiline }: {
  label: string; value: string; onChange: (v: string) => void; type?: string; placeholder?: string; hint?: string; multiline?: boolean;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {multiline
        ? <textarea id={id} value={value} placeholder={placeholder} rows={4} onChange={(e) => onChange(e.target.value)} aria-describedby={hint ? `${id}-hint` : undefined} />
        : <input id={id} type={type} value={value} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} aria-describedby={hint ? `${id}-hint` : undefined} />}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
    </div>
  );
}

export function Select<T extends string>({ label, value, onChange, options }: { label: string; value: T; onChange: (v: T) => void; options: { value: T; label: string }[] }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as T)}>
        {options.map((o) => <option key={o.value} value={o.value}>{o.label}</option>)}
      </select>
    </div>
  );
}

interface IdentityItem { id: string; name: string; role: string; kvnr?: string; telematikId?: string }

function SignIn({ app, role, title, onSignedIn }: { app: string; role: string; title: string; onSignedIn: (s: Session) => void }) {
  const [identities, setIdentities] = useState<IdentityItem[]>([]);
  const [selected, setSelected] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const id = useId();
  useEffect(() => {
    fetch(`/api/idp/identities?role=${encodeURIComponent(role)}`)
      .then(async (r) => {
        const body = await r.json();
        if (!r.ok) throw new Error(body.message ?? 'Identitäten konnten nicht geladen werden');
        setIdentities(body);
        setSelected(body[0]?.id ?? '');
      })
      .catch((e: Error) => setError(e.message));
  }, [role]);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const identity = identities.find((i) => i.id === selected);
    if (!identity) return;
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(app, identity));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby={`${id}-h`} className="card">
      <h2 id={`${id}-h`}>Anmelden</h2>
      <p>{title}: Anmeldung über den IDP mit der Karte der gewählten Testidentität (simuliertes Kartenterminal, Entwicklungsmodus).</p>
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor={id}>Identität</label>
          <select id={id} value={selected} onChange={(e) => setSelected(e.target.value)}>
            {identities.map((i) => <option key={i.id} value={i.id}>{i.name}{i.kvnr ? ` (${i.kvnr})` : ''}</option>)}
          </select>
        </div>
        <button type="submit" disabled={busy || !selected}>Anmelden</button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
    </section>
  );
}

/** The page frame: title, the signed-in name with "Abmelden", and the sign-in form while signed out. */
export function AppShell({ app, role, title, children }: { app: string; role: string; title: string; children: (session: Session) => ReactNode }) {
  const [session, setSession] = useState<Session | undefined>(() => loadSession(app));
  return (
    <>
      <header className="top">
        <h1>{title}</h1>
        {session && (
          <div className="who">
            <span>Angemeldet als <strong>{session.name}</strong></span>
            <button type="button" className="secondary" onClick={() => { clearSession(app); setSession(undefined); }}>Abmelden</button>
          </div>
        )}
      </header>
      <main>{session ? children(session) : <SignIn app={app} role={role} title={title} onSignedIn={setSession} />}</main>
    </>
  );
}

/** Tab-like navigation between the views of an app (real buttons, current one marked). */
export function Nav<T extends string>({ views, current, onChange }: { views: { id: T; label: string }[]; current: T; onChange: (v: T) => void }) {
  return (
    <nav aria-label="Bereiche">
      {views.map((v) => (
        <button key={v.id} type="button" className={v.id === current ? 'nav current' : 'nav'} aria-current={v.id === current ? 'page' : undefined} onClick={() => onChange(v.id)}>
          {v.label}
        </button>
      ))}
    </nav>
  );
}
