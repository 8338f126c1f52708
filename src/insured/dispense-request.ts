// The Communication the insured sends to assign a prescription to a pharmacy (GEM_ERP_PR_Communication_DispReq):
// basedOn = the E-Rezept token, recipient = the pharmacy's Telematik-ID, payload JSON v1 (erp-api §8.2).
import type { Communication } from '../fhir/types.ts';
import { formatToken, type ErezeptToken } from '../pharmacy/scanned-token.ts';
import { SYSTEM } from './task-view.ts';

const PROFILE = (kind: string) => `https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_PR_Communication_${kind}|1.5`;

export type SupplyOption = 'onPremise' | 'shipment' | 'delivery';

export interface DispenseRequestInput {
  token: ErezeptToken;
  flowType: string;
  pharmacyTelematikId: string;
  supplyOptionsType: SupplyOption;
  name?: string;
  address?: string[];
  phone?: string;
  hint?: string;
}

/** Removes control characters the Fachdienst rejects and cuts to the schema's length. */
function clean(value: string | undefined, max: number): string | undefined {
  const v = value?.replace(/[\u0000-\u001F\u007F-\u009F\uFEFF\uFFFD]/g, ' ').trim();
  return v ? v.slice(0, max) : undefined;
}

export function dispenseRequest(input: DispenseRequestInput): Communication {
  const payload: Record<string, unknown> = { version: 1, supplyOptionsType: input.supplyOptionsType };
  const name = clean(input.name, 100);
  if (name) payload.name = name;
  const address = (input.address ?? []).map((l) => clean(l, 100)).filter((l): l is string => !!l);
  if (address.length) payload.address = address;
  const phone = clean(input.phone, 32);
  if (phone) payload.phone = phone;
  const hint = clean(input.hint, 500);
  if (hint) payload.hint = hint;
  return {
    resourceType: 'Communication',
    meta: { profile: [PROFILE('DispReq')] },
    status: 'unknown',
    extension: [{
      url: 'https://gematik.de/fhir/erp/StructureDefinition/GEM_ERP_EX_PrescriptionType',
      valueCoding: { system: SYSTEM.flowType, code: input.flowType },
    }],
    basedOn: [{ reference: formatToken(input.token) }],
    recipient: [{ identifier: { system: SYSTEM.telematikId, value: input.pharmacyTelematikId } }],
    payload: [{ contentString: JSON.stringify(payload) }],
  };
}

/** Reply payload (pharmacy -> insured) as text for the message list; unknown shapes shown as they are. */
export function replyText(contentString: string | undefined): string {
  if (!contentString) return '';
  try {
    const p = JSON.parse(contentString) as { info_text?: string; supplyOptionsType?: string; pickUpCodeHR?: string };
    const parts = [p.info_text];
    if (p.pickUpCodeHR) parts.push(`Abholcode: ${p.pickUpCodeHR}`);
    return parts.filter(Boolean).join(' · ') || contentString;
  } catch {
    return contentString;
  }
}
