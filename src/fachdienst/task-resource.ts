// The FHIR shapes the Fachdienst answers with (GEM_ERP_PR_Task, Device, Bundles), as in the gematik examples.
import type { Bundle, BundleEntry, Device, Extension, Identifier, Resource, Task } from '../fhir/types.ts';
import { ERP_SYSTEM } from '../fhir/systems.ts';
import type { TaskRecord } from './task-store.ts';

export const WORKFLOW_VERSION = '1.6';
export const PROFILE = (name: string) => `https://gematik.de/fhir/erp/StructureDefinition/${name}|${WORKFLOW_VERSION}`;

export const NS = ERP_SYSTEM;

export const EXT = {
  prescriptionType: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_PrescriptionType',
  acceptDate: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_AcceptDate',
  expiryDate: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_ExpiryDate',
  lastMedicationDispense: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_LastMedicationDispense',
  beneficiary: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_Beneficiary',
} as const;

/** Flowtype display texts as the FD sends them from workflow 1.6 on (erp-api §3). */
export const FLOW_TYPE_DISPLAY: Record<string, string> = {
  '160': 'Flowtype für Apothekenpflichtige Arzneimittel',
  '162': 'Flowtype für Digitale Gesundheitsanwendungen',
  '166': 'Flowtype für Arzneimittel nach § 3a AMVV',
  '169': 'Flowtype zur Workflow-Steuerung durch Leistungserbringer',
  '200': 'Flowtype für Apothekenpflichtige Arzneimittel (PKV)',
  '209': 'Flowtype zur Workflow-Steuerung durch Leistungserbringer (PKV)',
};

/** Who reads the Task decides which identifiers and inputs it shows (A_21360-01, A_21532-02). */
export type TaskView = 'prescriber' | 'pharmacy' | 'insured' | 'representative';

export interface RenderOptions {
  view: TaskView;
  /** Show the Secret (only to the pharmacy that holds it). */
  withSecret?: boolean;
}

/** FHIR instant with milliseconds and +00:00, like the FD. */
export function instant(date: Date): string {
  return date.toISOString().replace('Z', '+00:00');
}

function identifier(system: string, value: string): Identifier {
  return { use: 'official', system, value };
}

export function renderTask(task: TaskRecord, options: RenderOptions): Task {
  const extension: Extension[] = [
    { url: EXT.prescriptionType, valueCoding: { system: NS.flowType, code: task.flowType, display: FLOW_TYPE_DISPLAY[task.flowType] } },
  ];
  if (task.acceptDate) extension.push({ url: EXT.acceptDate, valueDate: task.acceptDate });
  if (task.expiryDate) extension.push({ url: EXT.expiryDate, valueDate: task.expiryDate });
  if (task.lastMedicationDispense) extension.push({ url: EXT.lastMedicationDispense, valueInstant: instant(task.lastMedicationDispense) });

  const identifiers: Identifier[] = [identifier(NS.prescriptionId, task.id)];
  const providerSteered = task.flowType === '169' || task.flowType === '209';
  const showAccessCode = options.view === 'prescriber' || options.view === 'pharmacy' || (options.view === 'insured' && !providerSteered);
  if (task.accessCode && showAccessCode) identifiers.push(identifier(NS.accessCode, task.accessCode));
  if (task.secret && options.withSecret && options.view === 'pharmacy') identifiers.push(identifier(NS.secret, task.secret));

  const isDiga = task.flowType === '162';
  const performer = isDiga ? { code: 'urn:oid:1.2.276.0.76.4.59', display: 'Kostenträger' } : { code: 'urn:oid:1.2.276.0.76.4.54', display: 'Öffentliche Apotheke' };

  const resource: Task = {
    resourceType: 'Task',
    id: task.id,
    meta: { profile: [PROFILE('GEM_ERP_PR_Task')] },
    extension,
    identifier: identifiers,
    status: task.status,
    intent: 'order',
  };
  if (task.kvnr) resource.for = { identifier: { system: NS.kvnr, value: task.kvnr } };
  resource.authoredOn = instant(task.authoredOn);
  resource.lastModified = instant(task.lastModified);
  resource.performerType = [{ coding: [{ system: NS.organizationType, ...performer }], text: performer.display }];
  if (task.owner) resource.owner = { identifier: { system: NS.telematikId, value: task.owner } };

  const input: NonNullable<Task['input']> = [];
  const documentType = (code: string, display: string) => ({ coding: [{ system: NS.documentType, code, display }] });
  if (task.prescriptionBinaryId && (options.view === 'prescriber' || options.view === 'pharmacy')) {
    const ref = options.view === 'pharmacy' ? `Binary/${task.prescriptionBinaryId}` : task.prescriptionBinaryId;
    input.push({ type: documentType('1', 'Health Care Provider Prescription'), valueReference: { reference: ref } });
  }
  if (task.patientConfirmationId && options.view !== 'pharmacy') {
    input.push({ type: documentType('2', 'Patient Confirmation'), valueReference: { reference: task.patientConfirmationId } });
  }
  if (input.length) resource.input = input;
  if (task.receipt?.id && options.view === 'pharmacy') {
    resource.output = [{ type: documentType('3', 'Receipt'), valueReference: { reference: task.receipt.id } }];
  }
  return resource;
}

/** GEM_ERP_PR_Device: the Fachdienst itself, author of receipts and source of AuditEvents. */
export function fachdienstDevice(version: string): Device {
  return {
    resourceType: 'Device',
    id: '1',
    meta: { profile: [PROFILE('GEM_ERP_PR_Device')] },
    status: 'active',
    serialNumber: version,
    deviceName: [{ name: 'E-Rezept-Fachdienst', type: 'user-friendly-name' }],
    version: [{ value: version }],
    contact: [{ system: 'email', value: 'betrieb@gematik.de' }],
  };
}

export function collectionBundle(id: string, selfUrl: string, entries: BundleEntry[], now: Date): Bundle {
  return {
    resourceType: 'Bundle',
    id,
    meta: { lastUpdated: instant(now) },
    type: 'collection',
    timestamp: instant(now),
    link: [{ relation: 'self', url: selfUrl }],
    ...(entries.length ? { entry: entries } : {}),
  };
}

export function entry(fullUrl: string, resource: Resource): BundleEntry {
  return { fullUrl, resource };
}
