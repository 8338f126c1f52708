// The insured's app: prescriptions with 2D code, representative access, pharmacy search and assignment,
// dispense information, messages, delete, access protocol, PKV billing information (consent, ChargeItems). All texts
// German.
import { useCallback, useEffect, useMemo, useState } from 'react';
import type { AuditEvent, Bundle, ChargeItem, Communication, Consent, MedicationDispense, Task } from '../../../src/fhir/types.ts';
import { chargconsConsent, summarizeChargeItem, type ChargeItemSummary } from '../../../src/insured/billing.ts';
import { groupForCodes } from '../../../src/insured/datamatrix-payload.ts';
import { dispenseRequest, replyText, type SupplyOption } from '../../../src/insured/dispense-request.ts';
import { abortRule, assignRule, germanDate, splitTaskBundle, summarizeTask, tokenOf, type TaskSummary } from '../../../src/insured/task-view.ts';
import { formatToken, parseScannedInput, type ErezeptToken } from '../../../src/pharmacy/scanned-token.ts';
import { createApi, errorText, nextPath, resourcesOf, type Api } from '../shared/api.ts';
import { DataMatrix } from '../shared/DataMatrix.tsx';
import type { PharmacyHit } from '../shared/pharmacy-search.ts';
import { PharmacySearchForm } from '../shared/PharmacySearchForm.tsx';
import { decodeCodes } from '../shared/scan.ts';
import type { Session } from '../shared/session.ts';
import { AppShell, Field, Nav, Notice, Select } from '../shared/ui.tsx';

const APP = 'insured';
type View = 'list' | 'representative' | 'billing' | 'protocol';

export function InsuredApp() {
  return <AppShell app={APP} role="insured" title="E-Rezept für Versicherte">{(session) => <Insured session={session} />}</AppShell>;
}

function Insured({ session }: { session: Session }) {
  const api = useMemo(() => createApi(APP, session), [session]);
  const [view, setView] = useState<View>('list');
  const [detail, setDetail] = useState<string>();
  return (
    <>
      <Nav<View>
        views={[{ id: 'list', label: 'Meine Rezepte' }, { id: 'representative', label: 'Vertreterzugriff' }, { id: 'billing', label: 'Abrechnungsinformationen' }, { id: 'protocol', label: 'Zugriffsprotokoll' }]}
        current={view}
        onChange={(v) => { setView(v); setDetail(undefined); }}
      />
      {view === 'list' && !detail && <PrescriptionList api={api} onOpen={setDetail} />}
      {view === 'list' && detail && <PrescriptionDetail api={api} session={session} taskId={detail} onBack={() => setDetail(undefined)} />}
      {view === 'representative' && <Representative api={api} />}
      {view === 'billing' && <Billing api={api} session={session} />}
      {view === 'protocol' && <Protocol api={api} />}
    </>
  );
}

async function loadSummaries(api: Api): Promise<TaskSummary[]> {
  const list = await api.fhir<Bundle>('GET', 'Task');
  const tasks = resourcesOf<Task>(list.body, 'Task');
  // The list carries Tasks only; medication and prescriber come from each prescription's insured copy.
  return Promise.all(tasks.map(async (t) => {
    try {
      const { body } = await api.fhir<Bundle>('GET', `Task/${t.id}`);
      const { task, prescription } = splitTaskBundle(body!);
      return summarizeTask(task ?? t, prescription);
    } catch {
      return summarizeTask(t);
    }
  }));
}

function StatusBadge({ s }: { s: TaskSummary }) {
  return <span className={`badge ${s.status}`}>{s.statusText}</span>;
}

function PrescriptionList({ api, onOpen }: { api: Api; onOpen: (id: string) => void }) {
  const [items, setItems] = useState<TaskSummary[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    loadSummaries(api).then(setItems).catch((e) => setError(errorText(e)));
  }, [api]);
  const redeemable = (items ?? []).filter((s) => s.status === 'ready' && tokenOf(s));
  return (
    <section className="card" aria-labelledby="list-h">
      <h2 id="list-h">Meine E-Rezepte</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {!items && !error && <p>Rezepte werden geladen …</p>}
      {items && items.length === 0 && <p>Sie haben keine E-Rezepte.</p>}
      {items && items.length > 0 && (
        <table>
          <thead>
            <tr><th scope="col">Medikament</th><th scope="col">Status</th><th scope="col">Verordnet von</th><th scope="col">Ausgestellt</th><th scope="col">Einlösbar bis</th><th scope="col"><span className="sr-only">Aktion</span></th></tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <tr key={s.id} data-task={s.id}>
                <td>{s.medication ?? 'Verordnung'}<br /><small>{s.id}</small></td>
                <td><StatusBadge s={s} /></td>
                <td>{s.prescriber ?? '–'}{s.practice ? <><br /><small>{s.practice}</small></> : null}</td>
                <td>{germanDate(s.authoredOn)}</td>
                <td>{germanDate(s.expiryDate)}</td>
                <td><button type="button" onClick={() => onOpen(s.id)} aria-label={`Details zu ${s.medication ?? s.id}`}>Details</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {redeemable.length > 1 && (
        <section aria-labelledby="sammel-h">
          <h3 id="sammel-h">Sammelcode für die Apotheke</h3>
          <p>Ein Code enthält bis zu drei einlösbare Rezepte.</p>
          {groupForCodes(redeemable.map((s) => tokenOf(s)!)).map((group, i) => (
            <DataMatrix key={i} tokens={group} label={`Sammelcode ${i + 1} mit ${group.length} Rezepten`} />
          ))}
        </section>
      )}
    </section>
  );
}

function Facts({ s }: { s: TaskSummary }) {
  return (
    <dl className="facts">
      <dt>Medikament</dt><dd>{s.medication ?? '–'}</dd>
      {s.dosage && <><dt>Dosierung</dt><dd>{s.dosage}</dd></>}
      <dt>Status</dt><dd><StatusBadge s={s} /></dd>
      <dt>Rezept-ID</dt><dd>{s.id}</dd>
      <dt>Art</dt><dd>{s.flowTypeText}</dd>
      <dt>Verordnet von</dt><dd>{[s.prescriber, s.practice].filter(Boolean).join(', ') || '–'}</dd>
      {s.patientName && <><dt>Für</dt><dd>{s.patientName}</dd></>}
      <dt>Ausgestellt am</dt><dd>{germanDate(s.authoredOn)}</dd>
      <dt>Zuzahlungsfrei einlösbar bis</dt><dd>{germanDate(s.acceptDate)}</dd>
      <dt>Einlösbar bis</dt><dd>{germanDate(s.expiryDate)}</dd>
    </dl>
  );
}

function PrescriptionDetail({ api, session, taskId, onBack }: { api: Api; session: Session; taskId: string; onBack: () => void }) {
  const [summary, setSummary] = useState<TaskSummary>();
  const [error, setError] = useState<string>();
  const [deleted, setDeleted] = useState(false);
  const reload = useCallback(() => {
    api.fhir<Bundle>('GET', `Task/${taskId}`)
      .then(({ body }) => {
        const { task, prescription } = splitTaskBundle(body!);
        if (task) setSummary(summarizeTask(task, prescription));
      })
      .catch((e) => setError(errorText(e)));
  }, [api, taskId]);
  useEffect(reload, [reload]);
  if (deleted) {
    return (
      <section className="card">
        <Notice kind="success">Das Rezept wurde gelöscht.</Notice>
        <button type="button" onClick={onBack}>Zurück zur Übersicht</button>
      </section>
    );
  }
  const token = summary && tokenOf(summary);
  return (
    <>
      <section className="card" aria-labelledby="detail-h">
        <button type="button" className="secondary no-print" onClick={onBack}>Zurück zur Übersicht</button>
        <h2 id="detail-h">{summary?.medication ?? 'Rezept'}</h2>
        {error && <Notice kind="error">{error}</Notice>}
        {summary && <Facts s={summary} />}
      </section>
      {summary && token && summary.status === 'ready' && (
        <section className="card" aria-labelledby="code-h">
          <h3 id="code-h">2D-Code für die Apotheke</h3>
          <p>Zeigen Sie diesen Code in der Apotheke vor oder drucken Sie ihn aus.</p>
          <DataMatrix tokens={[token]} label={`2D-Code für ${summary.medication ?? summary.id}`} />
          <p><strong>E-Rezept-Token</strong> (für Ausdruck und Vertreter):</p>
          <code className="token" data-testid="token-text">{formatToken(token)}</code>
          <button type="button" className="secondary no-print" onClick={() => window.print()}>Drucken</button>
        </section>
      )}
      {summary && !token && summary.status === 'ready' && (
        <section className="card"><Notice kind="info">Für dieses Rezept gibt es keinen 2D-Code: die Praxis hat es direkt einer Apotheke zugewiesen.</Notice></section>
      )}
      {summary && <AssignToPharmacy api={api} summary={summary} session={session} onAssigned={reload} />}
      {summary && <DispenseInfo api={api} taskId={taskId} />}
      {summary && <PharmacyMessages api={api} taskId={taskId} />}
      {summary && <DeletePrescription api={api} summary={summary} onDeleted={() => setDeleted(true)} />}
    </>
  );
}

function AssignToPharmacy({ api, summary, session, onAssigned }: { api: Api; summary: TaskSummary; session: Session; onAssigned: () => void }) {
  const rule = assignRule(summary.status, summary.flowType, summary.expiryDate);
  const [hits, setHits] = useState<PharmacyHit[]>();
  const [option, setOption] = useState<SupplyOption>('onPremise');
  const [message, setMessage] = useState<{ kind: 'error' | 'success'; text: string }>();
  const assign = async (hit: PharmacyHit) => {
    const token = tokenOf(summary);
    if (!token) return;
    try {
      await api.fhir('POST', 'Communication', {
        body: dispenseRequest({ token, flowType: summary.flowType, pharmacyTelematikId: hit.telematikId, supplyOptionsType: option, name: session.name }),
      });
      setMessage({ kind: 'success', text: `Das Rezept wurde an ${hit.name} gesendet.` });
      onAssigned();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };
  return (
    <section className="card no-print" aria-labelledby="assign-h">
      <h3 id="assign-h">Apotheke suchen und Rezept zuweisen</h3>
      {!rule.allowed ? <Notice kind="info">{rule.reason}</Notice> : (
        <>
          <PharmacySearchForm api={api} label="Apothekensuche" onResults={setHits}
            onError={(text) => setMessage(text ? { kind: 'error', text } : undefined)} />
          <Select<SupplyOption> label="Wie möchten Sie das Medikament erhalten?" value={option} onChange={setOption}
            options={[{ value: 'onPremise', label: 'Abholung in der Apotheke' }, { value: 'delivery', label: 'Botendienst' }, { value: 'shipment', label: 'Versand' }]} />
          {hits && hits.length === 0 && <p>Keine Apotheke gefunden.</p>}
          {hits && hits.length > 0 && (
            <ul className="plain" aria-label="Gefundene Apotheken">
              {hits.map((h) => (
                <li key={h.telematikId}>
                  <strong>{h.name}</strong><br /><small>{h.address}</small><br />
                  <button type="button" onClick={() => assign(h)} aria-label={`Rezept an ${h.name} senden`}>Rezept zuweisen</button>
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
    </section>
  );
}

function DispenseInfo({ api, taskId }: { api: Api; taskId: string }) {
  const [dispenses, setDispenses] = useState<{ md: MedicationDispense; medication?: string }[]>();
  useEffect(() => {
    const identifier = encodeURIComponent(`https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_PrescriptionId|${taskId}`);
    api.fhir<Bundle>('GET', `MedicationDispense?identifier=${identifier}`)
      .then(({ body }) => {
        const medications = new Map((body?.entry ?? []).filter((e) => e.resource?.resourceType === 'Medication').map((e) => [e.fullUrl ?? '', e.resource as { code?: { text?: string }; id?: string }]));
        setDispenses(resourcesOf<MedicationDispense>(body, 'MedicationDispense').map((md) => {
          const ref = md.medicationReference?.reference ?? '';
          const med = medications.get(ref) ?? [...medications.values()].find((m) => ref.endsWith(`/${m.id}`));
          return { md, medication: md.medicationReference?.display ?? med?.code?.text ?? md.medicationCodeableConcept?.text };
        }));
      })
      .catch(() => setDispenses([]));
  }, [api, taskId]);
  return (
    <section className="card" aria-labelledby="md-h">
      <h3 id="md-h">Abgabeinformationen</h3>
      {!dispenses?.length ? <p>Noch keine Abgabe durch eine Apotheke.</p> : (
        <ul className="plain">
          {dispenses.map(({ md, medication }, i) => (
            <li key={md.id ?? i} data-testid="dispense">
              <strong>{medication ?? 'Arzneimittel'}</strong> – abgegeben am {germanDate(md.whenHandedOver)}
              {md.performer?.[0]?.actor?.identifier?.value && <> von Apotheke {md.performer[0].actor.display ?? md.performer[0].actor.identifier.value}</>}
              {md.dosageInstruction?.[0]?.text && <><br />Dosierung: {md.dosageInstruction[0].text}</>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function PharmacyMessages({ api, taskId }: { api: Api; taskId: string }) {
  const [messages, setMessages] = useState<Communication[]>();
  useEffect(() => {
    api.fhir<Bundle>('GET', 'Communication')
      .then(({ body }) => setMessages(resourcesOf<Communication>(body, 'Communication').filter((c) => (c.basedOn?.[0]?.reference ?? '').startsWith(`Task/${taskId}`))))
      .catch(() => setMessages([]));
  }, [api, taskId]);
  const replies = (messages ?? []).filter((c) => c.meta?.profile?.[0]?.includes('_Reply'));
  const sent = (messages ?? []).filter((c) => c.meta?.profile?.[0]?.includes('_DispReq'));
  return (
    <section className="card" aria-labelledby="msg-h">
      <h3 id="msg-h">Nachrichten</h3>
      {sent.map((c) => <p key={c.id}>Zugewiesen an Apotheke {c.recipient?.[0]?.identifier?.value} am {germanDate(c.sent)}.</p>)}
      {replies.length === 0 ? <p>Keine Nachrichten von Apotheken.</p> : (
        <ul className="plain">{replies.map((c) => <li key={c.id}><strong>Apotheke {c.sender?.identifier?.value}</strong> ({germanDate(c.sent)}): {replyText(c.payload?.[0]?.contentString)}</li>)}</ul>
      )}
    </section>
  );
}

function DeletePrescription({ api, summary, onDeleted }: { api: Api; summary: TaskSummary; onDeleted: () => void }) {
  const rule = abortRule(summary.status, summary.flowType);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const remove = async () => {
    try {
      await api.fhir('POST', `Task/${summary.id}/$abort`);
      onDeleted();
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section className="card no-print" aria-labelledby="del-h">
      <h3 id="del-h">Rezept löschen</h3>
      <p>{rule.reason}</p>
      <details><summary>Wann kann ich ein Rezept löschen?</summary>
        <ul>
          <li>Einlösbare Rezepte: jederzeit, danach kann keine Apotheke es mehr einlösen.</li>
          <li>In Abgabe: nicht, solange eine Apotheke es bearbeitet.</li>
          <li>Eingelöste Rezepte: ja, mit den Abgabedaten.</li>
          <li>Von der Praxis direkt zugewiesene Rezepte (Flowtype 169/209): erst nach der Einlösung.</li>
        </ul>
      </details>
      {rule.allowed && !confirming && <button type="button" className="danger" onClick={() => setConfirming(true)}>Rezept löschen</button>}
      {confirming && (
        <div role="group" aria-label="Löschen bestätigen">
          <p><strong>Wirklich löschen?</strong> Das kann nicht rückgängig gemacht werden.</p>
          <button type="button" className="danger" onClick={remove}>Ja, endgültig löschen</button>{' '}
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>Abbrechen</button>
        </div>
      )}
      {error && <Notice kind="error">{error}</Notice>}
    </section>
  );
}

function Representative({ api }: { api: Api }) {
  const [prescriptionId, setPrescriptionId] = useState('');
  const [accessCode, setAccessCode] = useState('');
  const [pasted, setPasted] = useState('');
  const [summary, setSummary] = useState<TaskSummary>();
  const [error, setError] = useState<string>();
  const read = async (token: ErezeptToken) => {
    setError(undefined);
    setSummary(undefined);
    try {
      const { body } = await api.fhir<Bundle>('GET', `Task/${token.taskId}`, { accessCode: token.accessCode });
      const { task, prescription } = splitTaskBundle(body!);
      if (task) setSummary(summarizeTask(task, prescription));
    } catch (e) {
      setError(errorText(e));
    }
  };
  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    try {
      const token = pasted.trim()
        ? parseScannedInput(pasted)[0]
        : parseScannedInput(`Task/${prescriptionId.trim()}/$accept?ac=${accessCode.trim()}`)[0];
      void read(token);
    } catch (e) {
      setError(errorText(e));
    }
  };
  const upload = async (file: File | undefined) => {
    if (!file) return;
    try {
      const [text] = await decodeCodes(file);
      if (!text) throw new Error('Im Bild wurde kein 2D-Code gefunden');
      setPasted(text);
      await read(parseScannedInput(text)[0]);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section className="card" aria-labelledby="rep-h">
      <h2 id="rep-h">Rezept als Vertreter einsehen</h2>
      <p>Mit der Rezept-ID und dem AccessCode (oder dem 2D-Code) einer anderen Person können Sie deren Rezept einsehen, z. B. für Ihr Kind.</p>
      <form onSubmit={submit}>
        <div className="row">
          <Field label="Rezept-ID" value={prescriptionId} onChange={setPrescriptionId} placeholder="160.000.000.000.000.00" />
          <Field label="AccessCode" value={accessCode} onChange={setAccessCode} hint="64 Zeichen (0–9, a–f)" />
        </div>
        <Field label="Oder: E-Rezept-Token bzw. Inhalt des 2D-Codes" value={pasted} onChange={setPasted} multiline />
        <div className="field">
          <label htmlFor="rep-file">Oder: Foto des 2D-Codes</label>
          <input id="rep-file" type="file" accept="image/*" onChange={(e) => upload(e.target.files?.[0])} />
        </div>
        <button type="submit">Rezept abrufen</button>
      </form>
      {error && <Notice kind="error">{error}</Notice>}
      {summary && <div aria-label="Rezept des Vertretenen" role="region"><h3>{summary.medication ?? 'Rezept'}</h3><Facts s={summary} /></div>}
    </section>
  );
}

function Protocol({ api }: { api: Api }) {
  const [events, setEvents] = useState<AuditEvent[]>([]);
  const [next, setNext] = useState<string | undefined>('AuditEvent?_sort=-date&_count=10');
  const [error, setError] = useState<string>();
  const [loaded, setLoaded] = useState(false);
  const load = useCallback(async (path: string) => {
    try {
      const { body } = await api.fhir<Bundle>('GET', path);
      setEvents((old) => [...old, ...resourcesOf<AuditEvent>(body, 'AuditEvent')]);
      setNext(nextPath(body));
      setLoaded(true);
    } catch (e) {
      setError(errorText(e));
    }
  }, [api]);
  useEffect(() => { void load('AuditEvent?_sort=-date&_count=10'); }, [load]);
  const text = (e: AuditEvent) => new DOMParser().parseFromString(e.text?.div ?? '', 'text/html').body.textContent?.trim() || e.entity?.[0]?.description || '';
  return (
    <section className="card" aria-labelledby="audit-h">
      <h2 id="audit-h">Zugriffsprotokoll</h2>
      <p>Wer wann auf Ihre E-Rezepte zugegriffen hat (neueste zuerst).</p>
      {error && <Notice kind="error">{error}</Notice>}
      {loaded && events.length === 0 && <p>Noch keine Zugriffe.</p>}
      <ul className="plain" aria-label="Protokolleinträge">
        {events.map((e, i) => (
          <li key={e.id ?? i} data-testid="audit-event">
            <time dateTime={e.recorded}>{new Date(e.recorded ?? '').toLocaleString('de-DE', { timeZone: 'Europe/Berlin' })}</time>: {text(e)}
          </li>
        ))}
      </ul>
      {next && loaded && <button type="button" onClick={() => load(next)}>Weitere Einträge laden</button>}
    </section>
  );
}

/**
 * PKV billing information: with the consent (CHARGCONS) the Fachdienst keeps the pharmacy's billing data for the
 * insurer; revoking it deletes all of them. GKV insured have nothing to bill themselves.
 */
function Billing({ api, session }: { api: Api; session: Session }) {
  const [consent, setConsent] = useState<Consent | null>();
  const [items, setItems] = useState<ChargeItemSummary[]>([]);
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string>();
  const load = useCallback(async () => {
    setError(undefined);
    try {
      const [c, i] = await Promise.all([api.fhir<Bundle>('GET', 'Consent'), api.fhir<Bundle>('GET', 'ChargeItem')]);
      setConsent(resourcesOf<Consent>(c.body, 'Consent')[0] ?? null);
      setItems(resourcesOf<ChargeItem>(i.body, 'ChargeItem').map(summarizeChargeItem));
    } catch (e) {
      setError(errorText(e));
    }
  }, [api]);
  useEffect(() => { void load(); }, [load]);
  const act = async (what: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await what();
      setConfirming(false);
      await load();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const give = () => act(() => api.fhir('POST', 'Consent', { body: chargconsConsent(session.idNummer) }));
  const revoke = () => act(() => api.fhir('DELETE', 'Consent?category=CHARGCONS'));
  const remove = (id: string) => act(() => api.fhir('DELETE', `ChargeItem/${id}`));
  const marks = (s: ChargeItemSummary) => [s.marks.insuranceProvider && 'an Versicherung', s.marks.subsidy && 'an Beihilfe', s.marks.taxOffice && 'für Steuer'].filter(Boolean).join(', ');
  return (
    <section className="card" aria-labelledby="bill-h">
      <h2 id="bill-h">Abrechnungsinformationen (Privatversicherte)</h2>
      <p>Mit Ihrer Einwilligung speichert der Fachdienst die Abrechnungsdaten Ihrer Apotheke, damit Sie die Kosten bei Ihrer privaten Krankenversicherung einreichen können. Gesetzlich Versicherte brauchen das nicht.</p>
      {error && <Notice kind="error">{error}</Notice>}
      {consent === null && <button type="button" onClick={give}>Einwilligung erteilen</button>}
      {consent && (
        <>
          <Notice kind="success">Einwilligung erteilt{consent.dateTime ? ` am ${germanDate(consent.dateTime)}` : ''}.</Notice>
          {!confirming && <button type="button" className="danger" onClick={() => setConfirming(true)}>Einwilligung widerrufen</button>}
          {confirming && (
            <div role="group" aria-label="Widerruf bestätigen">
              <p><strong>Wirklich widerrufen?</strong> Alle gespeicherten Abrechnungsinformationen werden gelöscht.</p>
              <button type="button" className="danger" onClick={revoke}>Ja, widerrufen und löschen</button>{' '}
              <button type="button" className="secondary" onClick={() => setConfirming(false)}>Abbrechen</button>
            </div>
          )}
        </>
      )}
      {consent && items.length === 0 && <p>Keine Abrechnungsinformationen gespeichert.</p>}
      {items.length > 0 && (
        <ul className="plain" aria-label="Abrechnungsinformationen">
          {items.map((s) => (
            <li key={s.id} data-charge-item={s.id}>
              Rezept {s.prescriptionId ?? s.id}{s.enteredDate ? `, abgegeben am ${germanDate(s.enteredDate)}` : ''}{marks(s) ? ` (${marks(s)})` : ''}{' '}
              <button type="button" className="secondary" onClick={() => remove(s.id)} aria-label={`Abrechnungsinformation zu Rezept ${s.prescriptionId ?? s.id} löschen`}>Löschen</button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
