// The pharmacy: scan or paste a 2D code / token or read the insured's eGK, accept, see the verified prescription, reject, record dispense
// information, close and see the receipt; KIM inbox of direct assignments (169/209) and DispReq messages, answered
// with a Reply.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { Bundle, Communication } from '../../../src/fhir/types.ts';
import type { PrescriptionFacts } from '../../../src/fhir/kbv/prescription-bundle.ts';
import { germanDate } from '../../../src/insured/task-view.ts';
import { dispenseParameters, readAcceptBundle, receiptSummary } from '../../../src/pharmacy/dispense.ts';
import { pharmacyReply } from '../../../src/pharmacy/reply.ts';
import type { SupplyOption } from '../../../src/insured/dispense-request.ts';
import { parseScannedInput, parseToken, type ErezeptToken } from '../../../src/pharmacy/scanned-token.ts';
import { createApi, errorText, resourcesOf, type Api } from '../shared/api.ts';
import { decodeCodes } from '../shared/scan.ts';
import type { Session } from '../shared/session.ts';
import { AppShell, Field, Nav, Notice, Select } from '../shared/ui.tsx';

const APP = 'pharmacy';
type View = 'accept' | 'kim' | 'requests';

export function PharmacyApp() {
  return <AppShell app={APP} role="pharmacy" title="E-Rezept in der Apotheke">{(session) => <Pharmacy session={session} />}</AppShell>;
}

interface Verified {
  verified: boolean;
  signer: { name: string; telematikId?: string };
  signingTime?: string;
  facts: PrescriptionFacts;
}

/** A prescription this pharmacy has accepted in this session (its Secret stays in memory only). */
interface Accepted {
  token: ErezeptToken;
  secret: string;
  prescription?: Verified;
  prescriptionError?: string;
  state: 'in-progress' | 'dispensed' | 'completed' | 'rejected';
  receipt?: { id: string; when?: string; signed: boolean };
}

function Pharmacy({ session }: { session: Session }) {
  const api = useMemo(() => createApi(APP, session), [session]);
  const [view, setView] = useState<View>('accept');
  const [accepted, setAccepted] = useState<Accepted[]>([]);
  const [error, setError] = useState<string>();
  const update = (id: string, patch: Partial<Accepted>) => setAccepted((list) => list.map((a) => (a.token.taskId === id ? { ...a, ...patch } : a)));

  const accept = useCallback(async (token: ErezeptToken) => {
    setError(undefined);
    try {
      const { body } = await api.fhir<Bundle>('POST', `Task/${token.taskId}/$accept?ac=${token.accessCode}`);
      const { secret, prescriptionCms } = readAcceptBundle(body!);
      const entry: Accepted = { token, secret, state: 'in-progress' };
      if (prescriptionCms) {
        try {
          entry.prescription = await api.json<Verified>('POST', '/api/pharmacy/prescription', { data: prescriptionCms });
        } catch (e) {
          entry.prescriptionError = errorText(e);
        }
      }
      setAccepted((list) => [entry, ...list.filter((a) => a.token.taskId !== token.taskId)]);
      setView('accept');
    } catch (e) {
      setError(`Rezept ${token.taskId}: ${errorText(e)}`);
    }
  }, [api]);

  return (
    <>
      <Nav<View> views={[{ id: 'accept', label: 'Rezept annehmen' }, { id: 'kim', label: 'KIM-Posteingang' }, { id: 'requests', label: 'Zuweisungen von Versicherten' }]} current={view} onChange={setView} />
      {error && <Notice kind="error">{error}</Notice>}
      {view === 'accept' && <ScanOrPaste onAccept={accept} />}
      {view === 'accept' && <EgkReader api={api} onAccept={accept} />}
      {view === 'kim' && <KimInbox api={api} onAccept={accept} />}
      {view === 'requests' && <DispenseRequests api={api} onAccept={accept} />}
      {view === 'accept' && accepted.map((a) => <AcceptedPrescription key={a.token.taskId} api={api} session={session} item={a} update={(p) => update(a.token.taskId, p)} />)}
    </>
  );
}

interface EgkResult {
  insured: { name: string; kvnr: string };
  offline: boolean;
  tasks: { taskId: string; accessCode?: string; authoredOn?: string }[];
}

/** E-Rezepte with the insured's eGK: the counter's terminal reads it (ReadVSD), the Fachdienst lists what is redeemable. */
function EgkReader({ api, onAccept }: { api: Api; onAccept: (t: ErezeptToken) => Promise<void> }) {
  const [cards, setCards] = useState<{ handle: string; name: string }[]>();
  const [card, setCard] = useState('');
  const [result, setResult] = useState<EgkResult>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api.json<{ handle: string; name: string }[]>('GET', '/api/pharmacy/egk/cards')
      .then((list) => { setCards(list); setCard(list[0]?.handle ?? ''); })
      .catch((e) => setError(errorText(e)));
  }, [api]);
  const read = async () => {
    setError(undefined);
    setResult(undefined);
    setBusy(true);
    try {
      setResult(await api.json<EgkResult>('POST', '/api/pharmacy/egk', { cardHandle: card }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="egk-h">
      <h2 id="egk-h">Mit der Gesundheitskarte (eGK)</h2>
      {cards && cards.length > 0 && (
        <form onSubmit={(e) => { e.preventDefault(); void read(); }}>
          <Select label="Karte im Terminal am HV-Tisch" value={card} onChange={setCard} options={cards.map((c) => ({ value: c.handle, label: c.name }))} />
          <button type="submit" disabled={busy || !card}>eGK stecken</button>
        </form>
      )}
      {error && <Notice kind="error">{error}</Notice>}
      {result && (
        <>
          <p>E-Rezepte von {result.insured.name}{result.offline ? ' (ohne Online-Prüfung der Karte)' : ''}:</p>
          {result.tasks.length === 0 && <p>Keine einlösbaren E-Rezepte.</p>}
          <ul className="plain" aria-label="E-Rezepte der eGK">
            {result.tasks.map((t) => (
              <li key={t.taskId}>Rezept {t.taskId} <small>({germanDate(t.authoredOn)})</small>{' '}
                {t.accessCode && (
                  <button type="button" aria-label={`Rezept ${t.taskId} annehmen`}
                    onClick={() => onAccept({ taskId: t.taskId, accessCode: t.accessCode! })
                      .then(() => setResult((r) => r && { ...r, tasks: r.tasks.filter((x) => x.taskId !== t.taskId) }))}>Annehmen</button>
                )}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}

function ScanOrPaste({ onAccept }: { onAccept: (t: ErezeptToken) => Promise<void> }) {
  const [input, setInput] = useState('');
  const [tokens, setTokens] = useState<ErezeptToken[]>([]);
  const [error, setError] = useState<string>();
  const [camera, setCamera] = useState(false);
  const check = (text: string) => {
    setError(undefined);
    try {
      setTokens(parseScannedInput(text));
    } catch (e) {
      setTokens([]);
      setError(errorText(e));
    }
  };
  const upload = async (file: File | undefined) => {
    if (!file) return;
    try {
      const [text] = await decodeCodes(file);
      if (!text) throw new Error('Im Bild wurde kein 2D-Code gefunden');
      setInput(text);
      check(text);
    } catch (e) {
      setError(errorText(e));
    }
  };
  return (
    <section className="card" aria-labelledby="scan-h">
      <h2 id="scan-h">2D-Code scannen oder Token einfügen</h2>
      <form onSubmit={(e) => { e.preventDefault(); check(input); }}>
        <Field label="Inhalt des 2D-Codes oder E-Rezept-Token" value={input} onChange={setInput} multiline
          hint='Scanner-Eingabe, {"urls":[…]} oder Task/<Rezept-ID>/$accept?ac=<AccessCode>' />
        <div className="field">
          <label htmlFor="scan-file">Bild eines 2D-Codes hochladen</label>
          <input id="scan-file" type="file" accept="image/*" onChange={(e) => upload(e.target.files?.[0])} />
        </div>
        <button type="submit">Code prüfen</button>{' '}
        {'mediaDevices' in navigator && <button type="button" className="secondary" onClick={() => setCamera(!camera)}>{camera ? 'Kamera beenden' : 'Mit Kamera scannen'}</button>}
      </form>
      {camera && <CameraScanner onText={(text) => { setCamera(false); setInput(text); check(text); }} />}
      {error && <Notice kind="error">{error}</Notice>}
      {tokens.length > 0 && (
        <ul className="plain" aria-label="Erkannte Rezepte">
          {tokens.map((t) => (
            <li key={t.taskId}>Rezept {t.taskId}{' '}
              <button type="button" onClick={() => onAccept(t).then(() => setTokens((l) => l.filter((x) => x.taskId !== t.taskId)))} aria-label={`Rezept ${t.taskId} annehmen`}>Annehmen</button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function CameraScanner({ onText }: { onText: (text: string) => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<string>();
  useEffect(() => {
    let stream: MediaStream | undefined;
    let timer: number | undefined;
    let stopped = false;
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } })
      .then((s) => {
        stream = s;
        if (!video.current) return;
        video.current.srcObject = s;
        void video.current.play();
        const canvas = document.createElement('canvas');
        const tick = async () => {
          const v = video.current;
          if (stopped || !v || v.videoWidth === 0) { if (!stopped) timer = window.setTimeout(tick, 300); return; }
          canvas.width = v.videoWidth;
          canvas.height = v.videoHeight;
          const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
          ctx.drawImage(v, 0, 0);
          const [text] = await decodeCodes(ctx.getImageData(0, 0, canvas.width, canvas.height)).catch(() => []);
          if (text) onText(text);
          else if (!stopped) timer = window.setTimeout(tick, 300);
        };
        void tick();
      })
      .catch(() => setError('Die Kamera ist nicht verfügbar oder wurde nicht freigegeben.'));
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, [onText]);
  return (
    <div>
      <video ref={video} muted playsInline aria-label="Kamerabild" style={{ maxWidth: '100%' }} />
      {error && <Notice kind="error">{error}</Notice>}
    </div>
  );
}

function today(): string {
  return new Date().toLocaleDateString('sv-SE', { timeZone: 'Europe/Berlin' });
}

function AcceptedPrescription({ api, session, item, update }: { api: Api; session: Session; item: Accepted; update: (p: Partial<Accepted>) => void }) {
  const facts = item.prescription?.facts;
  const [medication, setMedication] = useState(facts?.medication.display ?? '');
  const [pzn, setPzn] = useState(facts?.medication.pzn ?? '');
  const [dosage, setDosage] = useState(facts?.medicationRequest.dosageText ?? '');
  const [handedOver, setHandedOver] = useState(today());
  const [message, setMessage] = useState<{ kind: 'error' | 'success' | 'info'; text: string }>();
  const id = item.token.taskId;
  const parameters = () => dispenseParameters({
    taskId: id, kvnr: facts?.patient.kvnr ?? '', telematikId: session.idNummer, whenHandedOver: handedOver, medicationText: medication, pzn: pzn || undefined, dosageText: dosage,
  });
  const run = async (what: () => Promise<void>) => {
    setMessage(undefined);
    try {
      await what();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };
  const reject = () => run(async () => {
    await api.fhir('POST', `Task/${id}/$reject?secret=${item.secret}`);
    update({ state: 'rejected' });
  });
  const dispense = () => run(async () => {
    await api.fhir('POST', `Task/${id}/$dispense?secret=${item.secret}`, { body: parameters() });
    update({ state: 'dispensed' });
    setMessage({ kind: 'success', text: 'Abgabeinformationen gespeichert; der Versicherte sieht sie in seiner App.' });
  });
  const close = () => run(async () => {
    const { body } = await api.fhir<Bundle>('POST', `Task/${id}/$close?secret=${item.secret}`, { body: parameters() });
    update({ state: 'completed', receipt: receiptSummary(body!) });
  });
  const open = item.state === 'in-progress' || item.state === 'dispensed';
  return (
    <section className="card" aria-label={`Rezept ${id}`} data-task={id}>
      <h2>Rezept {id}</h2>
      {item.prescriptionError && <Notice kind="error">{item.prescriptionError}</Notice>}
      {item.prescription && (
        <>
          <Notice kind="success">Qualifizierte Signatur geprüft: {item.prescription.signer.name}{item.prescription.signingTime ? `, signiert am ${germanDate(item.prescription.signingTime)}` : ''}</Notice>
          <dl className="facts">
            <dt>Patient</dt><dd>{[facts?.patient.given, facts?.patient.family].filter(Boolean).join(' ')} (KVNR {facts?.patient.kvnr ?? facts?.patient.pkvId}){facts?.patient.birthDate ? `, geb. ${germanDate(facts.patient.birthDate)}` : ''}</dd>
            <dt>Kostenträger</dt><dd>{facts?.coverage.payorName} ({facts?.coverage.type})</dd>
            <dt>Medikament</dt><dd>{facts?.medication.display}{facts?.medication.pzn ? ` (PZN ${facts.medication.pzn})` : ''}</dd>
            <dt>Dosierung</dt><dd>{facts?.medicationRequest.dosageText ?? '–'}</dd>
            <dt>Menge</dt><dd>{facts?.medicationRequest.quantity ?? '–'}</dd>
            <dt>Verordnet von</dt><dd>{facts?.practitioner?.name}{facts?.organization?.name ? `, ${facts.organization.name}` : ''}</dd>
            <dt>Ausgestellt</dt><dd>{germanDate(facts?.authoredOn)}</dd>
          </dl>
        </>
      )}
      {item.state === 'rejected' && <Notice kind="info">Das Rezept wurde zurückgegeben und ist wieder einlösbar.</Notice>}
      {item.state === 'completed' && item.receipt && (
        <div role="region" aria-label="Quittung">
          <Notice kind="success">Abgabe abgeschlossen. Quittung {item.receipt.id}{item.receipt.when ? ` vom ${germanDate(item.receipt.when)}` : ''}{item.receipt.signed ? ', vom Fachdienst signiert' : ''}.</Notice>
        </div>
      )}
      {open && (
        <form onSubmit={(e) => e.preventDefault()} aria-label="Abgabe dokumentieren">
          <h3>Abgabe</h3>
          <div className="row">
            <Field label="Abgegebenes Arzneimittel" value={medication} onChange={setMedication} />
            <Field label="PZN" value={pzn} onChange={setPzn} />
          </div>
          <div className="row">
            <Field label="Dosierung (Abgabe)" value={dosage} onChange={setDosage} />
            <Field label="Abgabedatum" type="date" value={handedOver} onChange={setHandedOver} />
          </div>
          <button type="button" className="secondary" onClick={dispense}>Abgabeinformationen speichern</button>{' '}
          <button type="button" onClick={close}>Abgabe abschließen</button>{' '}
          <button type="button" className="danger" onClick={reject}>Rezept zurückgeben</button>
        </form>
      )}
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
    </section>
  );
}

interface KimMessage { uid: string; kind: string; from?: string; subject?: string; date?: string; text?: string; token?: ErezeptToken }

function KimInbox({ api, onAccept }: { api: Api; onAccept: (t: ErezeptToken) => Promise<void> }) {
  const [inbox, setInbox] = useState<{ address: string; messages: KimMessage[] }>();
  const [error, setError] = useState<string>();
  const load = useCallback(() => {
    setError(undefined);
    api.json<{ address: string; messages: KimMessage[] }>('GET', '/api/kim/inbox').then(setInbox).catch((e) => setError(errorText(e)));
  }, [api]);
  useEffect(load, [load]);
  return (
    <section className="card" aria-labelledby="kim-h">
      <h2 id="kim-h">KIM-Posteingang</h2>
      {inbox && <p>Postfach {inbox.address}</p>}
      <button type="button" className="secondary" onClick={load}>Neue Nachrichten abrufen</button>
      {error && <Notice kind="error">{error}</Notice>}
      {inbox && inbox.messages.length === 0 && <p>Keine Nachrichten.</p>}
      <ul className="plain" aria-label="KIM-Nachrichten">
        {inbox?.messages.map((m) => (
          <li key={m.uid}>
            <strong>{m.subject ?? '(ohne Betreff)'}</strong> <span className="badge">{m.kind === 'zuweisung' ? 'Zuweisung' : m.kind === 'kommunikation' ? 'Nachricht' : 'ungültig'}</span><br />
            <small>von {m.from} {m.date ? `am ${germanDate(m.date)}` : ''}</small>
            {m.text && <p>{m.text}</p>}
            {m.token && <button type="button" onClick={() => onAccept(m.token!)} aria-label={`Zugewiesenes Rezept ${m.token.taskId} annehmen`}>Rezept annehmen</button>}
          </li>
        ))}
      </ul>
    </section>
  );
}

function DispenseRequests({ api, onAccept }: { api: Api; onAccept: (t: ErezeptToken) => Promise<void> }) {
  const [requests, setRequests] = useState<Communication[]>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    api.fhir<Bundle>('GET', 'Communication')
      .then(({ body }) => setRequests(resourcesOf<Communication>(body, 'Communication').filter((c) => c.meta?.profile?.[0]?.includes('_DispReq'))))
      .catch((e) => setError(errorText(e)));
  }, [api]);
  const payloadOf = (c: Communication) => {
    try {
      return JSON.parse(c.payload?.[0]?.contentString ?? '{}') as { supplyOptionsType?: string; name?: string; address?: string[]; hint?: string };
    } catch {
      return {};
    }
  };
  const supply: Record<string, string> = { onPremise: 'Abholung', delivery: 'Botendienst', shipment: 'Versand' };
  return (
    <section className="card" aria-labelledby="req-h">
      <h2 id="req-h">Zuweisungen von Versicherten</h2>
      {error && <Notice kind="error">{error}</Notice>}
      {requests && requests.length === 0 && <p>Keine Zuweisungen.</p>}
      <ul className="plain" aria-label="Zuweisungen">
        {requests?.map((c) => {
          const p = payloadOf(c);
          let token: ErezeptToken | undefined;
          try {
            token = parseToken(c.basedOn?.[0]?.reference ?? '');
          } catch {
            token = undefined;
          }
          return (
            <li key={c.id}>
              <strong>{p.name ?? `Versicherte/r ${c.sender?.identifier?.value ?? ''}`}</strong> – {supply[p.supplyOptionsType ?? ''] ?? p.supplyOptionsType} <small>({germanDate(c.sent)})</small>
              {p.address?.length ? <><br /><small>{p.address.join(', ')}</small></> : null}
              {p.hint && <p>{p.hint}</p>}
              <br />
              {token ? <button type="button" onClick={() => onAccept(token!)} aria-label={`Rezept ${token.taskId} von ${p.name ?? 'Versicherten'} annehmen`}>Rezept annehmen</button> : <Notice kind="error">Ungültiger Verweis auf das Rezept</Notice>}
              {token && c.sender?.identifier?.value && (
                <ReplyForm api={api} taskId={token.taskId} kvnr={c.sender.identifier.value} who={p.name ?? 'Versicherten'}
                  supply={(p.supplyOptionsType as SupplyOption | undefined) ?? 'onPremise'} />
              )}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

const SUPPLY_CHOICES: { value: SupplyOption; label: string }[] = [
  { value: 'onPremise', label: 'Abholung in der Apotheke' },
  { value: 'delivery', label: 'Botendienst' },
  { value: 'shipment', label: 'Versand' },
];

/** Answer to an insured's request (Communication Reply); the insured sees it in the app's messages. */
function ReplyForm({ api, taskId, kvnr, who, supply: requested }: { api: Api; taskId: string; kvnr: string; who: string; supply: SupplyOption }) {
  const [open, setOpen] = useState(false);
  const [supply, setSupply] = useState<SupplyOption>(requested);
  const [text, setText] = useState('');
  const [code, setCode] = useState('');
  const [message, setMessage] = useState<{ kind: 'error' | 'success'; text: string }>();
  if (!open) return <>{' '}<button type="button" className="secondary" onClick={() => setOpen(true)} aria-label={`${who} antworten`}>Antworten</button></>;
  const send = async () => {
    setMessage(undefined);
    try {
      const reply = pharmacyReply({ taskId, kvnr, supplyOptionsType: supply, infoText: text, pickUpCode: supply === 'onPremise' ? code : undefined });
      await api.fhir('POST', 'Communication', { body: reply });
      setText('');
      setCode('');
      setMessage({ kind: 'success', text: 'Antwort gesendet.' });
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };
  return (
    <form onSubmit={(e) => { e.preventDefault(); void send(); }} aria-label={`Antwort an ${who}`}>
      <Select<SupplyOption> label="Versorgung" value={supply} onChange={setSupply} options={SUPPLY_CHOICES} />
      <Field label="Nachricht an den Versicherten" value={text} onChange={setText} multiline hint="Höchstens 500 Zeichen" />
      {supply === 'onPremise' && <Field label="Abholcode (optional)" value={code} onChange={setCode} hint="Höchstens 8 Zeichen" />}
      <button type="submit">Antwort senden</button>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
    </form>
  );
}
