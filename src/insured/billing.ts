// PKV billing information as the insured's app handles it (gematik erpchrg): the CHARGCONS consent that lets the
// Fachdienst keep ChargeItems, and the readable summary of a ChargeItem. Shared by the Fachdienst and the web app,
// so both speak one shape.
import type { ChargeItem, Consent } from '../fhir/types.ts';
import { ERP_SYSTEM } from '../fhir/systems.ts';

export const CONSENT_TYPE_SYSTEM = 'https://gematik.de/fhir/erpchrg/CodeSystem/GEM_ERPCHRG_CS_ConsentType';
export const CHARGCONS = 'CHARGCONS';
/** Profiles of the PKV billing package (erpchrg), versioned like the workflow's. */
export const CHRG_PROFILE = (name: string) => `https://gematik.de/fhir/erpchrg/StructureDefinition/${name}|1.0`;
export const MARKING_FLAG = 'https://gematik.de/fhir/erpchrg/StructureDefinition/GEM_ERPCHRG_EX_MarkingFlag';

/** A CHARGCONS Consent as the insured's app posts it. */
export function chargconsConsent(kvnr: string): Consent {
  return {
    resourceType: 'Consent',
    meta: { profile: [CHRG_PROFILE('GEM_ERPCHRG_PR_Consent')] },
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy', display: 'Privacy Consent' }] },
    category: [{ coding: [{ system: CONSENT_TYPE_SYSTEM, code: CHARGCONS, display: 'Consent for saving electronic charge item' }] }],
    patient: { identifier: { system: ERP_SYSTEM.kvnr, value: kvnr } },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
  };
}

export interface ChargeItemSummary {
  id: string;
  prescriptionId?: string;
  enteredDate?: string;
  /** The insured's own marks: sent to the insurer, to the subsidy office (Beihilfe), to the tax office. */
  marks: { insuranceProvider: boolean; subsidy: boolean; taxOffice: boolean };
}

export function summarizeChargeItem(item: ChargeItem): ChargeItemSummary {
  const flags = new Map(item.extension?.find((e) => e.url === MARKING_FLAG)?.extension?.map((e) => [e.url, e.valueBoolean === true]));
  return {
    id: item.id ?? '',
    prescriptionId: item.identifier?.find((i) => i.system === ERP_SYSTEM.prescriptionId)?.value,
    enteredDate: item.enteredDate,
    marks: { insuranceProvider: flags.get('insuranceProvider') ?? false, subsidy: flags.get('subsidy') ?? false, taxOffice: flags.get('taxOffice') ?? false },
  };
}
