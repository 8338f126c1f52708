// The rxDispensation parts of $dispense / $close (GEM_ERP_PR_PAR_DispenseOperation_Input / CloseOperation_Input) and
// the FD's checks per MedicationDispense: PrescriptionID, KVNR and performer must match (400 otherwise).
import { randomUUID } from 'node:crypto';
import { badRequest } from '../../fhir/errors.ts';
import type { Medication, MedicationDispense, Parameters, Resource } from '../../fhir/types.ts';
import type { Caller } from '../auth.ts';
import { NS } from '../task-resource.ts';
import type { DispenseRecord, TaskRecord } from '../task-store.ts';

export type DispenseInput = Omit<DispenseRecord, 'prescriptionId' | 'seq'>;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** Parses and checks the dispenses of a Parameters body; `medicationRequired` false for $close (DiGA). */
export function dispensesOf(body: unknown, task: TaskRecord, caller: Caller, medicationRequired: boolean): DispenseInput[] {
  const params = body as Parameters | undefined;
  if (!params || params.resourceType !== 'Parameters') throw badRequest('Parameters mit rxDispensation erwartet');
  const groups = params.parameter ?? [];
  if (groups.some((p) => p.name !== 'rxDispensation')) throw badRequest('Parameters darf nur rxDispensation enthalten');
  return groups.map((group, index) => {
    const parts = group.part ?? [];
    const dispense = parts.find((p) => p.name === 'medicationDispense')?.resource as MedicationDispense | undefined;
    const medication = parts.find((p) => p.name === 'medication')?.resource as Medication | undefined;
    if (dispense?.resourceType !== 'MedicationDispense') throw badRequest(`rxDispensation[${index}]: medicationDispense fehlt`);
    if (medicationRequired && medication?.resourceType !== 'Medication') throw badRequest(`rxDispensation[${index}]: medication fehlt`);
    const prescriptionId = dispense.identifier?.find((i) => i.system === NS.prescriptionId)?.value;
    if (prescriptionId !== task.id) throw badRequest('Prescription ID in MedicationDispense does not match the one in the task');
    const kvnr = dispense.subject?.identifier?.value;
    if (kvnr !== task.kvnr) throw badRequest('KVNR in MedicationDispense does not match the one in the task');
    const performer = dispense.performer?.[0]?.actor?.identifier?.value;
    if (performer !== caller.id) throw badRequest('Telematik-ID in MedicationDispense does not match the one of the caller');
    if (!dispense.whenHandedOver || !DAY.test(dispense.whenHandedOver)) throw badRequest('MedicationDispense.whenHandedOver muss ein Datum YYYY-MM-DD sein');
    if (dispense.whenPrepared && !DAY.test(dispense.whenPrepared)) throw badRequest('MedicationDispense.whenPrepared muss ein Datum YYYY-MM-DD sein');
    // The FD names the dispenses after the Task (A_19248-05) and links the Medication by urn:uuid.
    const id = index === 0 ? task.id : `${task.id}-${index + 1}`;
    let storedMedication: Resource | null = null;
    const stored: MedicationDispense = { ...dispense, id };
    if (medication?.resourceType === 'Medication') {
      const medicationId = randomUUID();
      storedMedication = { ...medication, id: medicationId };
      stored.medicationReference = { reference: `urn:uuid:${medicationId}` };
    }
    return {
      id, kvnr, performer, whenHandedOver: dispense.whenHandedOver, whenPrepared: dispense.whenPrepared ?? null,
      resource: stored, medication: storedMedication,
    };
  });
}
