// Checks a prescription request from a third-party system the way a manual entry is checked: the KBV rules of the
// Fachdienst with the fields that only exist at signing time (PrescriptionID, authoredOn, the physician) filled
// with stand-ins on a copy. Decides the flowtype: 160 GKV / 200 PKV, 169 / 209 when a pharmacy is named.
import { FhirError, badRequest } from '../fhir/errors.ts';
import { formatPrescriptionId, isValidTelematikId } from '../fhir/identifiers.ts';
import { setAuthoredOn, setPrescriptionId } from '../fhir/kbv/build-bundle.ts';
import { berlinDay } from '../fhir/kbv/dates.ts';
import { readBundleParts, validatePrescriptionBundle, type PrescriptionFacts } from '../fhir/kbv/prescription-bundle.ts';
import { SYSTEM } from '../fhir/kbv/profiles.ts';
import type { Bundle, MedicationRequest } from '../fhir/types.ts';
import type { PatientSummary } from './store.ts';

export interface CheckedRequest {
  id: string;
  flowType: string;
  facts: PrescriptionFacts;
  patient: PatientSummary;
  medication: string;
}

export function flowTypeOf(coverageType: string, pharmacy: string | undefined): string {
  const pkv = coverageType === 'PKV';
  if (pharmacy) return pkv ? '209' : '169';
  return pkv ? '200' : '160';
}

export function checkPrescriptionRequest(body: unknown, options: { pharmacy?: string; now?: Date } = {}): CheckedRequest {
  const bundle = body as Bundle;
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw badRequest('Erwartet wird ein KBV_PR_ERP_Bundle (FHIR XML)', { code: 'structure', expression: ['Bundle'] });
  }
  if (options.pharmacy !== undefined && !isValidTelematikId(options.pharmacy)) {
    throw badRequest(`pharmacy=${options.pharmacy} ist keine gültige Telematik-ID`, { code: 'value', expression: ['pharmacy'] });
  }
  const parts = readBundleParts(bundle);
  const mrId = parts.medicationRequest.resource.id;
  if (!mrId) throw badRequest('MedicationRequest.id fehlt: sie ist der Schlüssel, unter dem das Ergebnis abgefragt wird', { expression: [`Bundle.entry[${parts.medicationRequest.index}].resource.id`] });
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(mrId)) throw badRequest('MedicationRequest.id ist keine gültige FHIR-id', { expression: [`Bundle.entry[${parts.medicationRequest.index}].resource.id`] });
  const coverageType = parts.coverage.resource.type?.coding?.find((c) => c.system === SYSTEM.versicherungsart)?.code ?? '';
  const flowType = flowTypeOf(coverageType, options.pharmacy);

  // The Fachdienst's rules on a copy carrying stand-ins for what the signing step fills in.
  const now = options.now ?? new Date();
  const probe = structuredClone(bundle);
  setPrescriptionId(probe, formatPrescriptionId(flowType, 1));
  const probeRequest = probe.entry!.find((e) => e.resource?.resourceType === 'MedicationRequest')!.resource as MedicationRequest;
  if (!probeRequest.authoredOn) setAuthoredOn(probe, berlinDay(now));
  let facts: PrescriptionFacts;
  try {
    facts = validatePrescriptionBundle(probe, { flowType, requirePractitioner: false, now }).facts;
  } catch (err) {
    if (err instanceof FhirError) throw err;
    throw badRequest(`Verordnung ungültig: ${(err as Error).message}`);
  }
  return {
    id: mrId,
    flowType,
    facts,
    patient: { given: facts.patient.given, family: facts.patient.family, birthDate: facts.patient.birthDate, kvnr: facts.patient.kvnr ?? facts.patient.pkvId },
    medication: facts.medication.display,
  };
}
