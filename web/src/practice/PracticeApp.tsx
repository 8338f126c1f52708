// The physician's signing UI: pending prescription requests (from third-party systems through the RED API), a
// detail view with the bundle's facts and the pharmacy of a direct assignment (169/209), "Alle signieren" with one
// PIN entry (Stapelsignatur) or an active comfort signature, a progress bar while the batch runs, and the results
// with their printouts. Talks to the practice module's UI JSON API through /api/practice (tenant from the sign-in).
import { useCallback, useEffect, useId, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import type { Bundle } from '../../../src/fhir/types.ts';
import { germanDate } from '../../../src/insured/task-view.ts';
import {
  bundleFacts, flowTypeText, isSigned, needsPin, patientName, progressPercent, signatureModeText, statusText,
  type BatchProgress, type SignatureMode, type UiRequest,
} from '../../../src/practice/signing-view.ts';
import { createApi, errorText, type Api } from '../shared/api.ts';
import { pharmacyHits, type PharmacyHit } from '../shared/pharmacy-search.ts';
import { PharmacySearchForm } from '../shared/PharmacySearchForm.tsx';
import { freshToken, type Session } from '../shared/session.ts';
import { AppShell, Notice } from '../shared/ui.tsx';
import './practice.css';

const APP = 'practice';
const POLL_MS = 250;
const TELEMATIK_ID = 'https://gematik.de/fhir/sid/telematik-id';

export function PracticeApp() {
  return <AppShell app={APP} role="physician,practice" title="E-Rezept in der Praxis">{(session) => <Practice session={session} />}</AppShell>;
}

interface RunningBatch {
  ids: string[];
  progress: BatchProgress;
  /** Started with a PIN from this UI: a PIN error opens the dialog again. */
  withPin: boolean;
}

type PinPurpose = 'sign' | 'comfort';

const dateTime = (iso: string) => new Date(iso).toLocaleString('de-DE', { timeZone: 'Europe/Berlin', dateStyle: 'medium', timeStyle: 'short' });

function Practice({ session }: { session: Session }) {
  const api = useMemo(() => createApi(APP, session), [session]);
  const [pending, setPending] = useState<UiRequest[]>();
  const [deselected, setDeselected] = useState<Set<string>>(() => new Set());
  const [mode, setMode] = useState<SignatureMode>();
  const [detailId, setDetailId] = useState<string>();
  const [batch, setBatch] = useState<RunningBatch>();
  const [results, setResults] = useState<UiRequest[]>();
  const [pinDialog, setPinDialog] = useState<{ purpose: PinPurpose; error?: string }>();
  const [error, setError] = useState<string>();

  const loadPending = useCallback(async () => {
    try {
      setPending(await api.json<UiRequest[]>('GET', '/api/practice/requests?status=pending'));
    } catch (e) {
      setError(errorText(e));
    }
  }, [api]);
  const loadMode = useCallback(async () => {
    try {
      setMode(await api.json<SignatureMode>('GET', '/api/practice/signature-mode'));
    } catch (e) {
      setError(errorText(e));
    }
  }, [api]);
  useEffect(() => {
    void loadPending();
    void loadMode();
  }, [loadPending, loadMode]);

  const selected = (pending ?? []).filter((r) => !deselected.has(r.id)).map((r) => r.id);
  const running = batch?.progress.state === 'running';

  const startBatch = async (pin?: string) => {
    setError(undefined);
    setResults(undefined);
    setPinDialog(undefined);
    const ids = selected;
    try {
      const { batchId, total } = await api.json<{ batchId: string; total: number }>('POST', '/api/practice/sign', { ids, ...(pin ? { pin } : {}) });
      setBatch({ ids, withPin: !!pin, progress: { id: batchId, total, done: 0, failed: 0, state: 'running' } });
    } catch (e) {
      if (pin) setPinDialog({ purpose: 'sign', error: errorText(e) });
      else setError(errorText(e));
    }
  };

  // Poll the running batch; at its end show the outcome of its requests and refresh the list and the mode.
  useEffect(() => {
    if (!batch || batch.progress.state !== 'running') return;
    let stopped = false;
    const timer = window.setTimeout(async () => {
      try {
        const progress = await api.json<BatchProgress>('GET', `/api/practice/batches/${batch.progress.id}`);
        if (stopped) return;
        if (progress.state !== 'running') {
          const all = await api.json<UiRequest[]>('GET', '/api/practice/requests');
          if (progress.state === 'finished') setResults(all.filter((r) => batch.ids.includes(r.id)));
          else if (batch.withPin && /PIN/i.test(progress.error ?? '')) setPinDialog({ purpose: 'sign', error: progress.error });
          else setError(`Die Stapelsignatur wurde abgebrochen: ${progress.error ?? 'unbekannter Fehler'}`);
          await Promise.all([loadPending(), loadMode()]);
        }
        setBatch((b) => (b && b.progress.id === progress.id ? { ...b, progress } : b));
      } catch (e) {
        if (!stopped) setError(errorText(e));
      }
    }, POLL_MS);
    return () => {
      stopped = true;
      window.clearTimeout(timer);
    };
  }, [batch, api, loadPending, loadMode]);

  const signAll = () => {
    if (needsPin(mode)) setPinDialog({ purpose: 'sign' });
    else void startBatch();
  };

  const switchComfort = async (on: boolean, pin?: string) => {
    setError(undefined);
    try {
      setMode(await api.json<SignatureMode>('POST', '/api/practice/comfort', { on, ...(pin ? { pin } : {}) }));
      setPinDialog(undefined);
    } catch (e) {
      if (pin) setPinDialog({ purpose: 'comfort', error: errorText(e) });
      else setError(errorText(e));
    }
  };
  const toggleComfort = () => {
    const on = mode?.mode !== 'comfort';
    if (on && mode?.pinPrompt) setPinDialog({ purpose: 'comfort' });
    else void switchComfort(on);
  };

  const toggle = (id: string) => setDeselected((s) => {
    const next = new Set(s);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  });
  const allSelected = !!pending?.length && selected.length === pending.length;

  return (
    <>
      {error && <Notice kind="error">{error}</Notice>}
      <SignatureModeCard mode={mode} busy={running} onToggle={toggleComfort} />

      <section className="card" aria-labelledby="pending-h">
        <h2 id="pending-h">Offene Verordnungen</h2>
        {!pending && <p>Wird geladen …</p>}
        {pending && pending.length === 0 && <p>Keine offenen Verordnungen.</p>}
        {pending && pending.length > 0 && (
          <>
            <table>
              <thead>
                <tr>
                  <th scope="col">
                    <input type="checkbox" aria-label="Alle auswählen" checked={allSelected} disabled={running}
                      onChange={() => setDeselected(allSelected ? new Set(pending.map((r) => r.id)) : new Set())} />
                  </th>
                  <th scope="col">Patient</th>
                  <th scope="col">Medikament</th>
                  <th scope="col">Anfragendes System</th>
                  <th scope="col">Eingegangen</th>
                  <th scope="col"><span className="sr-only">Aktionen</span></th>
                </tr>
              </thead>
              <tbody>
                {pending.map((r) => (
                  <tr key={r.id} data-request={r.id}>
                    <td>
                      <input type="checkbox" checked={!deselected.has(r.id)} disabled={running} onChange={() => toggle(r.id)}
                        aria-label={`${patientName(r.patient)}, ${r.medication} signieren`} />
                    </td>
                    <td>{patientName(r.patient)}<br /><small className="nowrap">KVNR {r.patient.kvnr ?? '–'}</small></td>
                    <td>
                      {r.medication}
                      {r.pharmacy && <><br /><span className="badge">Direkte Zuweisung ({r.flowType})</span></>}
                      {r.error && <><br /><small className="hint-error">Letzter Versuch: {r.error}</small></>}
                    </td>
                    <td>{r.requestingSystem ?? '–'}</td>
                    <td>{dateTime(r.receivedAt)}</td>
                    <td>
                      <button type="button" className="secondary" aria-expanded={detailId === r.id}
                        aria-label={`Details zu ${patientName(r.patient)}, ${r.medication}`} onClick={() => setDetailId(detailId === r.id ? undefined : r.id)}>
                        Details
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p>{selected.length} von {pending.length} ausgewählt.</p>
            <button type="button" onClick={signAll} disabled={running || selected.length === 0}>Alle signieren ({selected.length})</button>
          </>
        )}
      </section>

      {detailId && <RequestDetail key={detailId} api={api} id={detailId} onChanged={loadPending} onClose={() => setDetailId(undefined)} />}
      {batch && <BatchProgressCard batch={batch} />}
      {results && <Results session={session} results={results} />}
      {pinDialog && (
        <PinDialog purpose={pinDialog.purpose} error={pinDialog.error} count={selected.length}
          onSubmit={(pin) => (pinDialog.purpose === 'sign' ? startBatch(pin) : switchComfort(true, pin))}
          onClose={() => setPinDialog(undefined)} />
      )}
    </>
  );
}

function SignatureModeCard({ mode, busy, onToggle }: { mode?: SignatureMode; busy: boolean; onToggle: () => void }) {
  const on = mode?.mode === 'comfort';
  return (
    <section className="card" aria-labelledby="mode-h">
      <h2 id="mode-h">Signaturmodus</h2>
      {mode && <p data-testid="signature-mode">{signatureModeText(mode)}</p>}
      <button type="button" role="switch" aria-checked={on} aria-label="Komfortsignatur" className={on ? '' : 'secondary'} disabled={!mode || busy} onClick={onToggle}>
        Komfortsignatur: {on ? 'an' : 'aus'}
      </button>
    </section>
  );
}

function BatchProgressCard({ batch }: { batch: RunningBatch }) {
  const p = batch.progress;
  const percent = progressPercent(p);
  const text = p.state === 'running'
    ? `Signatur läuft: ${p.done + p.failed} von ${p.total} verarbeitet`
    : p.state === 'finished'
      ? `Fertig: ${p.done} signiert${p.failed ? `, ${p.failed} fehlgeschlagen` : ''}`
      : `Abgebrochen${p.done ? ` nach ${p.done} signierten` : ''}; die übrigen Verordnungen sind wieder offen`;
  return (
    <section className="card" aria-labelledby="progress-h">
      <h2 id="progress-h">Signatur</h2>
      <div className="progress" role="progressbar" aria-label="Fortschritt der Stapelsignatur" aria-valuemin={0} aria-valuemax={100}
        aria-valuenow={percent} aria-valuetext={`${percent} % – ${text}`}>
        <div className="progress-bar" style={{ width: `${percent}%` }} />
      </div>
      <p role="status">{percent} % · {text}</p>
    </section>
  );
}

function Results({ session, results }: { session: Session; results: UiRequest[] }) {
  const [error, setError] = useState<string>();
  const download = async (r: UiRequest) => {
    setError(undefined);
    try {
      // A link cannot carry the bearer token: fetch the PDF and hand it to the browser as a download.
      const response = await fetch(`/api/practice/requests/${encodeURIComponent(r.id)}/printout.pdf`, { headers: { authorization: `Bearer ${await freshToken(APP, session)}` } });
      if (!response.ok) throw new Error(`Ausdruck nicht verfügbar (${response.status})`);
      const url = URL.createObjectURL(await response.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = `E-Rezept-${r.prescriptionId ?? r.id}.pdf`;
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 30_000);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section className="card" aria-labelledby="results-h">
      <h2 id="results-h">Ergebnis</h2>
      {error && <Notice kind="error">{error}</Notice>}
      <table>
        <thead>
          <tr><th scope="col">Patient</th><th scope="col">Medikament</th><th scope="col">Status</th><th scope="col">Rezept-ID</th><th scope="col">Ausdruck</th></tr>
        </thead>
        <tbody>
          {results.map((r) => (
            <tr key={r.id} data-result={r.id}>
              <td>{patientName(r.patient)}</td>
              <td>{r.medication}</td>
              <td>
                <span className={`badge ${isSigned(r.status) ? 'ready' : r.status === 'failed' ? 'failed' : ''}`}>{statusText(r.status)}</span>
                {r.error && <><br /><small className="hint-error">{r.error}</small></>}
              </td>
              <td>{r.prescriptionId ?? '–'}</td>
              <td>
                {isSigned(r.status)
                  ? <button type="button" className="secondary" onClick={() => download(r)} aria-label={`Ausdruck (PDF) für ${patientName(r.patient)}, ${r.medication} herunterladen`}>PDF herunterladen</button>
                  : '–'}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function RequestDetail({ api, id, onChanged, onClose }: { api: Api; id: string; onChanged: () => Promise<void>; onClose: () => void }) {
  const [request, setRequest] = useState<UiRequest & { bundle?: Bundle }>();
  const [pharmacyName, setPharmacyName] = useState<string>();
  const [hits, setHits] = useState<PharmacyHit[]>();
  const [message, setMessage] = useState<{ kind: 'error' | 'success'; text: string }>();
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    api.json<UiRequest & { bundle: Bundle }>('GET', `/api/practice/requests/${encodeURIComponent(id)}`)
      .then((r) => { setRequest(r); heading.current?.focus(); })
      .catch((e) => setMessage({ kind: 'error', text: errorText(e) }));
  }, [api, id]);
  useEffect(() => {
    const telematikId = request?.pharmacy;
    if (!telematikId) return setPharmacyName(undefined);
    api.json<Bundle>('GET', `/api/vzd/Organization?identifier=${encodeURIComponent(`${TELEMATIK_ID}|${telematikId}`)}`)
      .then((b) => setPharmacyName(pharmacyHits(b)[0]?.name))
      .catch(() => setPharmacyName(undefined));
  }, [api, request?.pharmacy]);

  const assign = async (telematikId: string | null, label?: string) => {
    setMessage(undefined);
    try {
      const updated = await api.json<UiRequest>('POST', `/api/practice/requests/${encodeURIComponent(id)}/pharmacy`, { telematikId });
      setRequest((r) => (r ? { ...r, ...updated } : r));
      setHits(undefined);
      setMessage({ kind: 'success', text: telematikId ? `Die Verordnung wird nach dem Signieren per KIM an ${label} gesendet (Flowtype ${updated.flowType}).` : `Zuweisung entfernt (Flowtype ${updated.flowType}).` });
      await onChanged();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };

  const facts = bundleFacts(request?.bundle);
  const editable = request?.status === 'pending';
  return (
    <section className="card" aria-labelledby="detail-h">
      <h2 id="detail-h" ref={heading} tabIndex={-1}>Verordnung {request ? `für ${patientName(request.patient)}` : ''}</h2>
      {request && (
        <dl className="facts">
          <dt>Patient</dt><dd>{patientName(request.patient)} (KVNR {request.patient.kvnr ?? '–'}){request.patient.birthDate ? `, geb. ${germanDate(request.patient.birthDate)}` : ''}</dd>
          <dt>Kostenträger</dt><dd>{facts.coverage}</dd>
          <dt>Medikament</dt><dd>{request.medication}{facts.pzn ? ` (PZN ${facts.pzn})` : ''}</dd>
          <dt>Dosierung</dt><dd>{facts.dosage}</dd>
          <dt>Menge</dt><dd>{facts.quantity ?? '–'} Packung{facts.quantity === 1 ? '' : 'en'}</dd>
          <dt>Flowtype</dt><dd>{flowTypeText(request.flowType)}</dd>
          <dt>Apotheke</dt><dd>{request.pharmacy ? `${pharmacyName ?? 'Apotheke'} (Telematik-ID ${request.pharmacy})` : 'keine (Versicherte/r wählt die Apotheke)'}</dd>
          <dt>Anfragendes System</dt><dd>{request.requestingSystem ?? '–'}</dd>
          <dt>Status</dt><dd>{statusText(request.status)}</dd>
        </dl>
      )}
      {request && editable && (
        <>
          <h3>Apotheke direkt zuweisen (Flowtype 169/209)</h3>
          {request.pharmacy && <button type="button" className="danger" onClick={() => assign(null)}>Zuweisung entfernen</button>}
          <PharmacySearchForm api={api} label="Apothekensuche im Verzeichnisdienst" onResults={setHits}
            onError={(text) => setMessage(text ? { kind: 'error', text } : undefined)} />
          {hits && hits.length === 0 && <p>Keine Apotheke gefunden.</p>}
          {hits && hits.length > 0 && (
            <ul className="plain" aria-label="Gefundene Apotheken">
              {hits.map((h) => (
                <li key={h.telematikId}>
                  <strong>{h.name}</strong><br /><small>{h.address}</small><br />
                  <button type="button" onClick={() => assign(h.telematikId, h.name)} aria-label={`${h.name} zuweisen`}>Zuweisen</button>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      <button type="button" className="secondary" onClick={onClose}>Details schließen</button>
    </section>
  );
}

/**
 * The HBA PIN entry as a modal dialog: focus moves in and stays in (Tab cycles), Escape and "Abbrechen" close it,
 * focus goes back to where it was. The PIN is sent once and kept nowhere.
 */
function PinDialog({ purpose, error, count, onSubmit, onClose }: {
  purpose: PinPurpose; error?: string; count: number; onSubmit: (pin: string) => Promise<void> | void; onClose: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const [pin, setPin] = useState('');
  const [busy, setBusy] = useState(false);
  const id = useId();
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const d = dialog.current!;
    if (!d.open) d.showModal();
    input.current?.focus();
    return () => {
      if (d.open) d.close();
      previous?.focus();
    };
  }, []);
  useEffect(() => {
    // A new error (wrong PIN): empty the field and put the focus back into it.
    setPin('');
    input.current?.focus();
  }, [error]);
  const trapTab = (event: KeyboardEvent<HTMLDialogElement>) => {
    if (event.key !== 'Tab') return;
    const focusable = Array.from(dialog.current!.querySelectorAll<HTMLElement>('input, button, select, textarea, a[href]')).filter((el) => !(el as HTMLButtonElement).disabled);
    if (focusable.length === 0) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    try {
      await onSubmit(pin);
    } finally {
      setBusy(false);
    }
  };
  const valid = /^\d{4,12}$/.test(pin);
  return (
    <dialog ref={dialog} className="pin-dialog" aria-modal="true" aria-labelledby={`${id}-h`} aria-describedby={`${id}-d`}
      onCancel={(e) => { e.preventDefault(); onClose(); }} onKeyDown={trapTab}>
      <h2 id={`${id}-h`}>{purpose === 'sign' ? 'HBA-PIN für die Stapelsignatur' : 'HBA-PIN für die Komfortsignatur'}</h2>
      <p id={`${id}-d`}>
        {purpose === 'sign'
          ? `Eine Eingabe der PIN.QES Ihres Heilberufsausweises signiert ${count === 1 ? 'die ausgewählte Verordnung' : `alle ${count} ausgewählten Verordnungen`}.`
          : 'Nach einer Eingabe der PIN.QES signieren Sie ohne weitere PIN, bis die Anzahl oder die Zeit der Komfortsignatur aufgebraucht ist.'}
      </p>
      <form onSubmit={submit}>
        <div className="field">
          <label htmlFor={`${id}-pin`}>PIN.QES</label>
          <input id={`${id}-pin`} ref={input} type="password" inputMode="numeric" autoComplete="off" value={pin}
            onChange={(e) => setPin(e.target.value.replace(/\D/g, ''))} aria-invalid={!!error} aria-describedby={error ? `${id}-e` : undefined} />
        </div>
        {error && <p id={`${id}-e`} className="notice notice-error" role="alert">{error}</p>}
        <button type="submit" disabled={!valid || busy}>{purpose === 'sign' ? 'Signieren' : 'Komfortsignatur einschalten'}</button>{' '}
        <button type="button" className="secondary" onClick={onClose}>Abbrechen</button>
      </form>
    </dialog>
  );
}
