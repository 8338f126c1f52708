// Placeholder for the practice signing UI (batch signing against the practice module's JSON API). It will live in
// this folder and reuse ../shared (AppShell sign-in, api.ts, ui.tsx) like the insured and pharmacy apps.
import { AppShell, Notice } from '../shared/ui.tsx';

export function PracticeApp() {
  return (
    <AppShell app="practice" role="physician" title="E-Rezept in der Praxis">
      {(session) => (
        <section className="card" aria-labelledby="practice-h">
          <h2 id="practice-h">Verordnungen signieren</h2>
          <Notice kind="info">Die Signaturliste der Praxis folgt. Angemeldet als {session.name}.</Notice>
        </section>
      )}
    </AppShell>
  );
}
