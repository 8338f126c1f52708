// What the insured app shows for a Task, in German: status, flowtype, dates, medication and prescriber from the
// insured's copy of the prescription, and the rules for deleting and assigning. No DOM and no Node APIs.
import { extractPrescriptionFacts } from '../fhir/kbv/prescription-bundle.ts';
import { ERP_SYSTEM } from '../fhir/systems.ts';
import type { Bundle, Task } from '../fhir/types.ts';
import type { ErezeptToken } from '../pharmacy/scanned-token.ts';

export const SYSTEM = ERP_SYSTEM;

const EXT = {
  prescriptionType: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_PrescriptionType',
  acceptDate: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_AcceptDate',
  expiryDate: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_ExpiryDate',
  lastMedicationDispense: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_LastMedicationDispense',
} as const;

export const STATUS_TEXT: Record<string, string> = {
  draft: 'In Vorbereitung',
  ready: 'Einlösbar',
  'in-progress': 'In Abgabe (Apotheke)',
  completed: 'Eingelöst',
  cancelled: 'Gelöscht',
};

export const FLOW_TYPE_TEXT: Record<string, string> = {
  '160': 'Muster 16 (apothekenpflichtige Arzneimittel)',
  '162': 'Digitale Gesundheitsanwendung (DiGA)',
  '166': 'Arzneimittel nach § 3a AMVV (T-Rezept)',
  '169': 'Direkte Zuweisung durch die Praxis',
  '200': 'PKV (apothekenpflichtige Arzneimittel)',
  '209': 'PKV, direkte Zuweisung durch die Praxis',
};

/** Flowtypes where the practice chooses the pharmacy (KIM); the insured may neither assign nor delete them early. */
export const PROVIDER_STEERED = ['169', '209'];

export interface TaskSummary {
  id: string;
  status: string;
  statusText: string;
  flowType: string;
  flowTypeText: string;
  accessCode?: string;
  kvnr?: string;
  authoredOn?: string;
  lastModified?: string;
  acceptDate?: string;
  expiryDate?: string;
  lastMedicationDispense?: string;
  /** Telematik-ID of the pharmacy working on it (in-progress/completed). */
  owner?: string;
  medication?: string;
  dosage?: string;
  quantity?: number;
  prescriber?: string;
  practice?: string;
  patientName?: string;
}

export function identifierValue(task: Task, system: string): string | undefined {
  return task.identifier?.find((i) => i.system === system)?.value;
}

/** The Task and, when the Bundle carries it, the insured's copy of the prescription (GET /Task/{id}). */
export function splitTaskBundle(bundle: Bundle): { task?: Task; prescription?: Bundle } {
  const resources = (bundle.entry ?? []).map((e) => e.resource);
  return {
    task: resources.find((r): r is Task => r?.resourceType === 'Task'),
    prescription: resources.find((r): r is Bundle => r?.resourceType === 'Bundle'),
  };
}

export function summarizeTask(task: Task, prescription?: Bundle): TaskSummary {
  const ext = (url: string) => task.extension?.find((e) => e.url === url);
  const flowType = ext(EXT.prescriptionType)?.valueCoding?.code ?? task.id?.slice(0, 3) ?? '';
  const summary: TaskSummary = {
    id: task.id ?? '',
    status: task.status ?? '',
    statusText: STATUS_TEXT[task.status ?? ''] ?? task.status ?? '',
    flowType,
    flowTypeText: FLOW_TYPE_TEXT[flowType] ?? `Flowtype ${flowType}`,
    accessCode: identifierValue(task, SYSTEM.accessCode),
    kvnr: task.for?.identifier?.value,
    authoredOn: task.authoredOn,
    lastModified: task.lastModified,
    acceptDate: ext(EXT.acceptDate)?.valueDate,
    expiryDate: ext(EXT.expiryDate)?.valueDate,
    lastMedicationDispense: ext(EXT.lastMedicationDispense)?.valueInstant ?? ext(EXT.lastMedicationDispense)?.valueDateTime,
    owner: task.owner?.identifier?.value,
  };
  if (prescription) {
    try {
      const facts = extractPrescriptionFacts(prescription);
      summary.medication = facts.medication.display;
      summary.dosage = facts.medicationRequest.dosageText;
      summary.quantity = facts.medicationRequest.quantity;
      summary.prescriber = facts.practitioner?.name;
      summary.practice = facts.organization?.name;
      summary.patientName = [facts.patient.given, facts.patient.family].filter(Boolean).join(' ') || undefined;
    } catch {
      // A copy we cannot read still leaves the Task itself to show.
    }
  }
  return summary;
}

/** The token of a Task, when its AccessCode is known (not for 169/209, whose AccessCode the insured never sees). */
export function tokenOf(summary: TaskSummary): ErezeptToken | undefined {
  return summary.accessCode ? { taskId: summary.id, accessCode: summary.accessCode } : undefined;
}

/** `2025-06-02` or an instant -> `02.06.2025` (German display; the day as Berlin sees it for instants). */
export function germanDate(value: string | undefined): string {
  if (!value) return '–';
  const day = /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : new Date(value).toLocaleDateString('sv-SE', { timeZone: 'Europe/Berlin' });
  const [y, m, d] = day.split('-');
  return y && m && d ? `${d}.${m}.${y}` : value;
}

export interface Rule {
  allowed: boolean;
  /** Why (shown next to the button). */
  reason: string;
}

/** May the insured (or a representative) delete ($abort) this prescription now? (erp-api §2.1) */
export function abortRule(status: string, flowType: string): Rule {
  if (status === 'in-progress') return { allowed: false, reason: 'Eine Apotheke bearbeitet das Rezept gerade; löschen ist erst möglich, wenn sie es zurückgibt oder abschließt.' };
  if (status === 'cancelled') return { allowed: false, reason: 'Das Rezept ist bereits gelöscht.' };
  if (status === 'draft') return { allowed: false, reason: 'Das Rezept ist noch nicht ausgestellt.' };
  if (PROVIDER_STEERED.includes(flowType) && status !== 'completed') {
    return { allowed: false, reason: 'Dieses Rezept hat die Praxis direkt einer Apotheke zugewiesen; löschen können Sie es erst nach der Einlösung.' };
  }
  if (status === 'completed') return { allowed: true, reason: 'Das eingelöste Rezept und die Abgabedaten werden gelöscht; das Zugriffsprotokoll bleibt.' };
  return { allowed: true, reason: 'Das Rezept wird endgültig gelöscht und kann danach nicht mehr eingelöst werden.' };
}

/** May the insured send this prescription to a pharmacy (DispReq)? */
export function assignRule(status: string, flowType: string, expiryDate?: string, today = new Date()): Rule {
  if (PROVIDER_STEERED.includes(flowType)) {
    return { allowed: false, reason: 'Dieses Rezept hat die Praxis bereits direkt einer Apotheke zugewiesen (Flowtype ' + flowType + '); Sie können es keiner anderen Apotheke zuweisen.' };
  }
  if (flowType === '162') return { allowed: false, reason: 'DiGA-Verordnungen lösen Sie bei Ihrer Krankenkasse ein, nicht in der Apotheke.' };
  if (status !== 'ready') return { allowed: false, reason: 'Nur einlösbare Rezepte können einer Apotheke zugewiesen werden.' };
  if (expiryDate && expiryDate < today.toISOString().slice(0, 10)) return { allowed: false, reason: `Das Rezept war nur bis ${germanDate(expiryDate)} einlösbar.` };
  return { allowed: true, reason: 'Die Apotheke erhält das Rezept und kann es sofort beliefern.' };
}
