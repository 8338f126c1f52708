// Canonical URLs and systems of the KBV e-prescription bundles (kbv.ita.erp, kbv.itv.evdga / kbv.ita.for), in one place.
import { ERP_SYSTEM } from '../systems.ts';

export const KBV_SD = 'https://fhir.kbv.de/StructureDefinition/';
export const PROFILE = {
  bundle: `${KBV_SD}KBV_PR_ERP_Bundle`,
  evdgaBundle: `${KBV_SD}KBV_PR_EVDGA_Bundle`,
  evdgaComposition: `${KBV_SD}KBV_PR_EVDGA_Composition`,
  healthAppRequest: `${KBV_SD}KBV_PR_EVDGA_HealthAppRequest`,
  composition: `${KBV_SD}KBV_PR_ERP_Composition`,
  prescription: `${KBV_SD}KBV_PR_ERP_Prescription`,
  medicationPzn: `${KBV_SD}KBV_PR_ERP_Medication_PZN`,
  medicationIngredient: `${KBV_SD}KBV_PR_ERP_Medication_Ingredient`,
  medicationCompounding: `${KBV_SD}KBV_PR_ERP_Medication_Compounding`,
  medicationFreeText: `${KBV_SD}KBV_PR_ERP_Medication_FreeText`,
  patient: `${KBV_SD}KBV_PR_FOR_Patient`,
  practitioner: `${KBV_SD}KBV_PR_FOR_Practitioner`,
  organization: `${KBV_SD}KBV_PR_FOR_Organization`,
  coverage: `${KBV_SD}KBV_PR_FOR_Coverage`,
} as const;

export const EXT = {
  legalBasis: `${KBV_SD}KBV_EX_FOR_Legal_basis`,
  alternativeIk: `${KBV_SD}KBV_EX_FOR_Alternative_IK`,
  statusCoPayment: `${KBV_SD}KBV_EX_FOR_StatusCoPayment`,
  emergencyFee: `${KBV_SD}KBV_EX_ERP_EmergencyServicesFee`,
  ser: `${KBV_SD}KBV_EX_FOR_SER`,
  multiplePrescription: `${KBV_SD}KBV_EX_ERP_Multiple_Prescription`,
  dosageFlag: `${KBV_SD}KBV_EX_ERP_DosageFlag`,
  medicationCategory: `${KBV_SD}KBV_EX_ERP_Medication_Category`,
  medicationVaccine: `${KBV_SD}KBV_EX_ERP_Medication_Vaccine`,
  medicationType: `${KBV_SD}KBV_EX_Base_Medication_Type`,
  packagingSize: `${KBV_SD}KBV_EX_ERP_Medication_PackagingSize`,
  ingredientAmount: `${KBV_SD}KBV_EX_ERP_Medication_Ingredient_Amount`,
  normgroesse: 'http://fhir.de/StructureDefinition/normgroesse',
  personengruppe: 'http://fhir.de/StructureDefinition/gkv/besondere-personengruppe',
  dmp: 'http://fhir.de/StructureDefinition/gkv/dmp-kennzeichen',
  wop: 'http://fhir.de/StructureDefinition/gkv/wop',
  versichertenart: 'http://fhir.de/StructureDefinition/gkv/versichertenart',
  ownName: 'http://hl7.org/fhir/StructureDefinition/humanname-own-name',
  enQualifier: 'http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier',
  streetName: 'http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName',
  houseNumber: 'http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber',
} as const;

export const SYSTEM = {
  prescriptionId: ERP_SYSTEM.prescriptionId,
  kvid10: ERP_SYSTEM.kvnr,
  pkvId: 'http://fhir.de/sid/pkv/kvid-10',
  iknr: 'http://fhir.de/sid/arge-ik/iknr',
  lanr: 'https://fhir.kbv.de/NamingSystem/KBV_NS_Base_ANR',
  zanr: 'http://fhir.de/sid/kzbv/zahnarztnummer',
  bsnr: 'https://fhir.kbv.de/NamingSystem/KBV_NS_Base_BSNR',
  kzva: 'http://fhir.de/sid/kzbv/kzvabrechnungsnummer',
  telematikId: ERP_SYSTEM.telematikId,
  pruefnummer: 'https://fhir.kbv.de/NamingSystem/KBV_NS_FOR_Pruefnummer',
  pzn: 'http://fhir.de/CodeSystem/ifa/pzn',
  ask: 'http://fhir.de/CodeSystem/ask',
  ucum: 'http://unitsofmeasure.org',
  formularArt: 'https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_KBV_FORMULAR_ART',
  statusKennzeichen: 'https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_KBV_STATUSKENNZEICHEN',
  sectionType: 'https://fhir.kbv.de/CodeSystem/KBV_CS_ERP_Section_Type',
  evdgaSectionType: 'https://fhir.kbv.de/CodeSystem/KBV_CS_EVDGA_Section_Type',
  medicationCategory: 'https://fhir.kbv.de/CodeSystem/KBV_CS_ERP_Medication_Category',
  medicationType: 'https://fhir.kbv.de/CodeSystem/KBV_CS_ERP_Medication_Type',
  darreichungsform: 'https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_KBV_DARREICHUNGSFORM',
  versicherungsart: 'http://fhir.de/CodeSystem/versicherungsart-de-basis',
  identifierTypeDe: 'http://fhir.de/CodeSystem/identifier-type-de-basis',
  v2_0203: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  qualificationType: 'https://fhir.kbv.de/CodeSystem/KBV_CS_FOR_Qualification_Type',
  berufsbezeichnung: 'https://fhir.kbv.de/CodeSystem/KBV_CS_FOR_Berufsbezeichnung',
  statusCoPayment: 'https://fhir.kbv.de/CodeSystem/KBV_CS_FOR_StatusCoPayment',
  personengruppe: 'https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_KBV_PERSONENGRUPPE',
  dmp: 'https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_KBV_DMP',
  wop: 'https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_ITA_WOP',
  versichertenstatus: 'https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_KBV_VERSICHERTENSTATUS',
  snomed: 'http://snomed.info/sct',
  rfc3986: 'urn:ietf:rfc:3986',
} as const;

/** Statuskennzeichen (legal basis) codes with a meaning for the Fachdienst (FD Composition.hxx). */
export const ENTLASSREZEPT_CODES = new Set(['04', '14']);
export const ERSATZVERORDNUNG_CODES = new Set(['10', '11', '14', '17']);

/** Splits `url|version` from meta.profile. */
export function splitCanonical(canonical: string): { url: string; version?: string } {
  const bar = canonical.indexOf('|');
  return bar < 0 ? { url: canonical } : { url: canonical.slice(0, bar), version: canonical.slice(bar + 1) };
}

/** The first meta.profile of a resource that starts with the given canonical URL. */
export function profileOf(resource: { meta?: { profile?: string[] } } | undefined, url: string): { url: string; version?: string } | undefined {
  for (const p of resource?.meta?.profile ?? []) {
    const c = splitCanonical(p);
    if (c.url === url) return c;
  }
  return undefined;
}
