// The pharmacy's dispense data for $dispense and $close (GEM_ERP_PR_PAR_DispenseOperation_Input /
// CloseOperation_Input): one rxDispensation with a MedicationDispense and its Medication (erp-api §8.3).
import { isValidKvnr, isValidPrescriptionId, isValidTelematikId } from '../fhir/identifiers.ts';
import type { Bundle, Parameters, Task } from '../fhir/types.ts';
import { SYSTEM, identifierValue } from '../insured/task-view.ts';

export interface DispenseInput {
  taskId: string;
  kvnr: string;
  telematikId: string;
  /** `YYYY-MM-DD` (the profile demands a date). */
  whenHandedOver: string;
  medicationText: string;
  pzn?: string;
  dosageText?: string;
}

export class DispenseInputError extends Error {
  override name = 'DispenseInputError';
}

export function dispenseParameters(input: DispenseInput): Parameters {
  if (!isValidPrescriptionId(input.taskId)) throw new DispenseInputError('Ungültige Rezept-ID');
  if (!isValidKvnr(input.kvnr)) throw new DispenseInputError('Ungültige KVNR des Versicherten');
  if (!isValidTelematikId(input.telematikId)) throw new DispenseInputError('Ungültige Telematik-ID der Apotheke');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(input.whenHandedOver)) throw new DispenseInputError('Abgabedatum im Format JJJJ-MM-TT angeben');
  const text = input.medicationText.trim();
  if (!text) throw new DispenseInputError('Bitte das abgegebene Arzneimittel angeben');
  if (input.pzn !== undefined && input.pzn !== '' && !/^\d{8}$/.test(input.pzn)) throw new DispenseInputError('Die PZN hat 8 Ziffern');
  const medication = {
    resourceType: 'Medication' as const,
    id: 'med-1',
    code: input.pzn ? { coding: [{ system: 'http://fhir.de/CodeSystem/ifa/pzn', code: input.pzn }], text } : { text },
  };
  const dispense = {
    resourceType: 'MedicationDispense' as const,
    id: 'md-1',
    identifier: [{ system: SYSTEM.prescriptionId, value: input.taskId }],
    status: 'completed' as const,
    subject: { identifier: { system: SYSTEM.kvnr, value: input.kvnr } },
    performer: [{ actor: { identifier: { system: SYSTEM.telematikId, value: input.telematikId } } }],
    whenHandedOver: input.whenHandedOver,
    medicationReference: { reference: 'Medication/med-1', display: text },
    ...(input.dosageText?.trim() ? { dosageInstruction: [{ text: input.dosageText.trim() }] } : {}),
  };
  return {
    resourceType: 'Parameters',
    parameter: [{ name: 'rxDispensation', part: [{ name: 'medicationDispense', resource: dispense }, { name: 'medication', resource: medication }] }],
  } as Parameters;
}

export interface AcceptedTask {
  task: Task;
  secret: string;
  /** base64 PKCS#7 of the QES-signed prescription. */
  prescriptionCms?: string;
}

/** The parts of the $accept answer (Bundle with Task incl. Secret and the Binary). */
export function readAcceptBundle(bundle: Bundle): AcceptedTask {
  const task = bundle.entry?.map((e) => e.resource).find((r): r is Task => r?.resourceType === 'Task');
  if (!task) throw new Error('Antwort von $accept enthält keinen Task');
  const secret = identifierValue(task, SYSTEM.secret);
  if (!secret) throw new Error('Antwort von $accept enthält kein Secret');
  const binary = bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'Binary') as { data?: string } | undefined;
  return { task, secret, prescriptionCms: binary?.data };
}

/** The receipt ($close answer): its id and the Fachdienst's signature time, for display. */
export function receiptSummary(bundle: Bundle): { id: string; prescriptionId?: string; when?: string; signed: boolean } {
  const composition = bundle.entry?.map((e) => e.resource).find((r) => r?.resourceType === 'Composition') as { date?: string } | undefined;
  return {
    id: bundle.id ?? '',
    prescriptionId: bundle.identifier?.value,
    when: composition?.date ?? bundle.timestamp,
    signed: Boolean(bundle.signature?.data),
  };
}
