// What the physician's signing UI (web/src/practice) shows, computed from the practice module's UI JSON API:
// the facts of a request's bundle, the signature mode line, the batch progress and German status texts.
// Pure functions without Node APIs, so the browser bundle and node:test share them.
import type { Bundle, Coverage, Medication, MedicationRequest, Resource } from '../fhir/types.ts';

export type RequestStatus = 'pending' | 'signing' | 'activated' | 'done' | 'failed';

/** One entry of `GET /{tenant}/ui/requests` (see README "Signing UI JSON API"). */
export interface UiRequest {
  id: string;
  status: RequestStatus;
  flowType: string;
  pharmacy: string | null;
  patient: { given?: string; family?: string; birthDate?: string; kvnr?: string };
  medication: string;
  requestingSystem: string | null;
  receivedAt: string;
  prescriptionId: string | null;
  authoredOn: string | null;
  completedAt: string | null;
  error: string | null;
}

export interface BatchProgress {
  id: string;
  total: number;
  done: number;
  failed: number;
  state: 'running' | 'finished' | 'failed';
  error?: string;
}

export interface SignatureMode {
  mode: 'pin' | 'comfort';
  pinPrompt: boolean;
  comfort?: {
    ComfortSignatureStatus: string;
    ComfortSignatureMax: number;
    ComfortSignatureTimer: string;
    SessionInfo?: { CountRemaining: number; TimeRemaining: string };
  } | null;
}

export interface BundleFacts {
  coverage: string;
  pzn?: string;
  dosage: string;
  quantity?: number;
  substitutionAllowed?: boolean;
}

const PZN_SYSTEM = 'http://fhir.de/CodeSystem/ifa/pzn';

const resourceOf = <T extends Resource>(bundle: Bundle | undefined, type: T['resourceType']) =>
  bundle?.entry?.find((e) => e.resource?.resourceType === type)?.resource as T | undefined;

/** Coverage, PZN, dosage and quantity of a request's bundle (as received; a pending one has no PrescriptionID). */
export function bundleFacts(bundle: Bundle | undefined): BundleFacts {
  const coverage = resourceOf<Coverage>(bundle, 'Coverage');
  const request = resourceOf<MedicationRequest>(bundle, 'MedicationRequest');
  const medication = resourceOf<Medication>(bundle, 'Medication');
  const payor = coverage?.payor?.[0];
  const type = coverage?.type?.coding?.[0]?.code;
  const ik = payor?.identifier?.value;
  return {
    coverage: [payor?.display, type && `(${type}${ik ? `, IK ${ik}` : ''})`].filter(Boolean).join(' ') || '–',
    pzn: medication?.code?.coding?.find((c) => c.system === PZN_SYSTEM)?.code,
    dosage: request?.dosageInstruction?.[0]?.text ?? 'keine Dosierungsangabe',
    quantity: request?.dispenseRequest?.quantity?.value,
    substitutionAllowed: request?.substitution?.allowedBoolean,
  };
}

export function flowTypeText(flowType: string): string {
  const texts: Record<string, string> = {
    '160': '160 – Muster 16 (GKV)',
    '169': '169 – Muster 16, direkte Zuweisung (GKV)',
    '200': '200 – PKV',
    '209': '209 – PKV, direkte Zuweisung',
  };
  return texts[flowType] ?? flowType;
}

export function statusText(status: RequestStatus): string {
  return { pending: 'Offen', signing: 'Wird signiert', activated: 'Signiert, Zuweisung unterwegs', done: 'Signiert und eingestellt', failed: 'Fehlgeschlagen' }[status];
}

export const isSigned = (status: RequestStatus) => status === 'activated' || status === 'done';

/** Share of the batch that reached a final state, 0…100 (an empty batch is complete). */
export function progressPercent(p: Pick<BatchProgress, 'total' | 'done' | 'failed'>): number {
  if (p.total <= 0) return 100;
  return Math.min(100, Math.round(((p.done + p.failed) / p.total) * 100));
}

/** `PT5H3M10S` → `5 h 3 min` (seconds only below a minute). */
export function durationText(iso: string | undefined): string {
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$/.exec(iso ?? '');
  if (!m) return iso ?? '–';
  const [h, min, s] = [Number(m[1] ?? 0), Number(m[2] ?? 0), Number(m[3] ?? 0)];
  if (h === 0 && min === 0) return `${s} s`;
  return [h ? `${h} h` : '', min ? `${min} min` : ''].filter(Boolean).join(' ');
}

/** The signature mode line: Stapelsignatur with PIN, or the comfort session's remaining count and time. */
export function signatureModeText(mode: SignatureMode): string {
  if (mode.mode === 'comfort') {
    const session = mode.comfort?.SessionInfo;
    if (!session) return 'Komfortsignatur eingeschaltet, aber keine aktive Sitzung am Konnektor (neu einschalten)';
    return `Komfortsignatur aktiv: noch ${session.CountRemaining} Signaturen, noch ${durationText(session.TimeRemaining)}`;
  }
  return mode.pinPrompt
    ? 'Stapelsignatur: eine PIN-Eingabe für alle ausgewählten Verordnungen'
    : 'Stapelsignatur: die PIN gibt das Kartenterminal ein (Entwicklungsmodus)';
}

/** Whether signing now needs the PIN from this UI. */
export const needsPin = (mode: SignatureMode | undefined) => !!mode?.pinPrompt && mode.mode !== 'comfort';

export function patientName(p: UiRequest['patient']): string {
  return [p.given, p.family].filter(Boolean).join(' ') || 'Unbekannt';
}
