// The pharmacy's answer to an insured's request (GEM_ERP_PR_Communication_Reply): basedOn = the Task (never the
// AccessCode), recipient = the insured's KVNR, payload JSON v1 with supply option, text and an optional pick-up code.
import { isValidKvnr, isValidPrescriptionId } from '../fhir/identifiers.ts';
import type { Communication } from '../fhir/types.ts';
import type { SupplyOption } from '../insured/dispense-request.ts';
import { SYSTEM } from '../insured/task-view.ts';

const PROFILE = 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Communication_Reply|1.5';

export interface ReplyInput {
  taskId: string;
  kvnr: string;
  supplyOptionsType: SupplyOption;
  infoText: string;
  /** Human-readable pick-up code (at most 8 characters); only for collection at the pharmacy. */
  pickUpCode?: string;
}

export class ReplyInputError extends Error {
  override name = 'ReplyInputError';
}

export function pharmacyReply(input: ReplyInput): Communication {
  if (!isValidPrescriptionId(input.taskId)) throw new ReplyInputError('Ungültige Rezept-ID');
  if (!isValidKvnr(input.kvnr)) throw new ReplyInputError('Die Anfrage nennt keine gültige KVNR des Versicherten');
  // The Fachdienst refuses control characters in payloads; a pasted text may carry some.
  const text = input.infoText.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF\uFFFD]/g, ' ').trim();
  if (!text) throw new ReplyInputError('Bitte eine Nachricht an den Versicherten eingeben');
  if (text.length > 500) throw new ReplyInputError('Die Nachricht darf höchstens 500 Zeichen lang sein');
  const payload: Record<string, unknown> = { version: 1, supplyOptionsType: input.supplyOptionsType, info_text: text };
  const code = input.pickUpCode?.trim();
  if (code) {
    if (input.supplyOptionsType !== 'onPremise') throw new ReplyInputError('Einen Abholcode gibt es nur bei Abholung in der Apotheke');
    if (code.length > 8) throw new ReplyInputError('Der Abholcode hat höchstens 8 Zeichen');
    payload.pickUpCodeHR = code;
  }
  return {
    resourceType: 'Communication',
    meta: { profile: [PROFILE] },
    status: 'unknown',
    basedOn: [{ reference: `Task/${input.taskId}` }],
    recipient: [{ identifier: { system: SYSTEM.kvnr, value: input.kvnr } }],
    payload: [{ contentString: JSON.stringify(payload) }],
  };
}
