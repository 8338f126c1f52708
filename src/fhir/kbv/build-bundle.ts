// Builds a KBV_PR_ERP_Bundle 1.3 (modelled on the KBV 1.3.2 examples) for the practice, Fachdienst tests and the
// demo seed. The practice fills PrescriptionID, authoredOn and the signing physician at signing time.
import { randomUUID } from 'node:crypto';
import { FhirError } from '../errors.ts';
import type { FlowType } from '../identifiers.ts';
import type {
  Bundle, BundleEntry, Composition, Coverage, DeviceRequest, Extension, Medication, MedicationRequest, Organization,
  Patient, Practitioner, Resource,
} from '../types.ts';
import { berlinDay } from './dates.ts';
import { EXT, PROFILE, SYSTEM } from './profiles.ts';

export const KBV_VERSION = '1.3';
const FOR_VERSION = '1.2';
/** Prüfnummer of this software as author Device (KBV_NS_FOR_Pruefnummer); a placeholder until certified. */
export const PRUEFNUMMER = 'Y/400/2107/36/999';

export interface AddressInput { line: string; postalCode: string; city: string }
export interface PatientInput { kvnr?: string; pkvId?: string; given?: string; family?: string; birthDate?: string; address?: AddressInput }
/** Compatible with the seeded insured `coverage` ({ type, ik, payer }). */
export interface CoverageInput { type: 'GKV' | 'PKV' | 'BG' | 'SEL' | 'SKT' | 'UK' | string; ik: string; payer: string; versichertenart?: string }
/** Compatible with the seeded physician identity. */
export interface PhysicianInput { lanr?: string; zanr?: string; telematikId?: string; given?: string; family?: string; name?: string; prefix?: string; qualificationType?: string; berufsbezeichnung?: string }
/** Compatible with the seeded practice identity. */
export interface PracticeInput { name: string; bsnr?: string; kzva?: string; telematikId?: string; address?: AddressInput; phone?: string; email?: string }

export type MedicationInput =
  | { kind: 'PZN'; pzn: string; display: string; normgroesse?: string; form?: string; category?: string }
  | { kind: 'Ingredient'; ingredient: string; askCode?: string; strength: { value: number; unit: string }; form: string; amount?: { value: string; unit: string }; normgroesse?: string; category?: string }
  | { kind: 'Compounding'; ingredients: { name: string; pzn?: string; amount?: { value: number; unit: string }; amountText?: string }[]; form: string; amount: { value: string; unit: string }; instructions?: string; category?: string }
  | { kind: 'FreeText'; text: string; form?: string; category?: string };

export interface BuildPrescriptionInput {
  flowType?: FlowType | string;
  prescriptionId?: string;
  authoredOn?: string;
  patient: PatientInput;
  coverage: CoverageInput;
  /** Omit for bundles without a known physician (RED $createerptask); set later with setPractitioner. */
  physician?: PhysicianInput;
  practice: PracticeInput;
  medication: MedicationInput;
  dosage?: string;
  quantity?: number;
  substitutionAllowed?: boolean;
  emergencyFee?: boolean;
  statusKennzeichen?: string;
  multiplePrescription?: { numerator: number; denominator: number; start: string; end?: string; id?: string };
  /** For reproducible output in tests. */
  newId?: () => string;
}

type HumanName = NonNullable<Patient['name']>[number];

const canonical = (url: string, version = KBV_VERSION) => `${url}|${version}`;
const coding = (system: string, code: string) => ({ coding: [{ system, code }] });
const urn = (id: string) => `urn:uuid:${id}`;

// FHIR JSON carries extensions of primitives in `_name` siblings, which the medplum types do not model.
function familyName(family: string): { extension: Extension[] } {
  return { extension: [{ url: EXT.ownName, valueString: family }] };
}

function address(a: AddressInput | undefined) {
  if (!a) return undefined;
  const m = /^(.*\S)\s+(\d+\s*[a-zA-Z]?(?:-\d+)?)$/.exec(a.line);
  const lineExt: Extension[] = m
    ? [{ url: EXT.houseNumber, valueString: m[2] }, { url: EXT.streetName, valueString: m[1] }]
    : [{ url: EXT.streetName, valueString: a.line }];
  return [{ type: 'both' as const, line: [a.line], _line: [{ extension: lineExt }], city: a.city, postalCode: a.postalCode, country: 'D' }];
}

function practitionerResource(id: string, physician: PhysicianInput): Practitioner {
  const identifier: Practitioner['identifier'] = [];
  if (physician.lanr) identifier.push({ type: coding(SYSTEM.v2_0203, 'LANR'), system: SYSTEM.lanr, value: physician.lanr });
  if (physician.zanr) identifier.push({ type: coding(SYSTEM.identifierTypeDe, 'ZANR'), system: SYSTEM.zanr, value: physician.zanr });
  if (physician.telematikId) identifier.push({ type: coding(SYSTEM.v2_0203, 'PRN'), system: SYSTEM.telematikId, value: physician.telematikId });
  const given = physician.given;
  const family = physician.family ?? physician.name ?? 'Unbekannt';
  // The seeded identities carry the prefix only inside `name` ("Dr. med. Hanna Berger").
  const prefix = physician.prefix ?? (given && physician.name?.includes(given) ? physician.name.slice(0, physician.name.indexOf(given)).trim() : '');
  return {
    resourceType: 'Practitioner', id,
    meta: { profile: [canonical(PROFILE.practitioner, FOR_VERSION)] },
    identifier,
    name: [{
      use: 'official', family, _family: familyName(family), ...(given ? { given: [given] } : {}),
      ...(prefix ? { prefix: [prefix], _prefix: [{ extension: [{ url: EXT.enQualifier, valueCode: 'AC' }] }] } : {}),
    } as unknown as HumanName],
    qualification: [
      { code: coding(SYSTEM.qualificationType, physician.qualificationType ?? '00') },
      { code: { ...coding(SYSTEM.berufsbezeichnung, 'Berufsbezeichnung'), text: physician.berufsbezeichnung ?? 'Fachärztin/Facharzt für Allgemeinmedizin' } },
    ],
  };
}

function organizationResource(id: string, practice: PracticeInput): Organization {
  const identifier: Organization['identifier'] = [];
  if (practice.bsnr) identifier.push({ type: coding(SYSTEM.v2_0203, 'BSNR'), system: SYSTEM.bsnr, value: practice.bsnr });
  if (practice.kzva) identifier.push({ type: coding(SYSTEM.identifierTypeDe, 'KZVA'), system: SYSTEM.kzva, value: practice.kzva });
  if (practice.telematikId) identifier.push({ type: coding(SYSTEM.v2_0203, 'PRN'), system: SYSTEM.telematikId, value: practice.telematikId });
  const telecom: Organization['telecom'] = [];
  if (practice.phone) telecom.push({ system: 'phone', value: practice.phone });
  if (practice.email) telecom.push({ system: 'email', value: practice.email });
  return {
    resourceType: 'Organization', id,
    meta: { profile: [canonical(PROFILE.organization, FOR_VERSION)] },
    identifier, name: practice.name,
    ...(telecom.length ? { telecom } : {}),
    ...(practice.address ? { address: address(practice.address) } : {}),
  };
}

function medicationResource(id: string, input: MedicationInput): Medication {
  const category: Extension = {
    url: EXT.medicationCategory,
    valueCoding: { system: SYSTEM.medicationCategory, code: input.category ?? '00' },
  };
  const vaccine: Extension = { url: EXT.medicationVaccine, valueBoolean: false };
  const base = (profile: string, extension: Extension[]): Medication => ({
    resourceType: 'Medication', id, meta: { profile: [canonical(profile)] }, extension,
  });
  const snomedType = (code: string, display: string): Extension => ({
    url: EXT.medicationType,
    valueCodeableConcept: { coding: [{ system: SYSTEM.snomed, version: 'http://snomed.info/sct/11000274103/version/20240515', code, display }] },
  });
  switch (input.kind) {
    case 'PZN': {
      const ext = [snomedType('763158003', 'Medicinal product (product)'), category, vaccine];
      if (input.normgroesse) ext.push({ url: EXT.normgroesse, valueCode: input.normgroesse });
      return {
        ...base(PROFILE.medicationPzn, ext),
        code: { coding: [{ system: SYSTEM.pzn, code: input.pzn }], text: input.display },
        form: coding(SYSTEM.darreichungsform, input.form ?? 'TAB'),
      };
    }
    case 'Ingredient': {
      const ext = [category, vaccine];
      if (input.normgroesse) ext.push({ url: EXT.normgroesse, valueCode: input.normgroesse });
      return {
        ...base(PROFILE.medicationIngredient, ext),
        code: coding(SYSTEM.medicationType, 'wirkstoff'),
        form: { text: input.form },
        ...(input.amount ? { amount: packagingAmount(input.amount) } : {}),
        ingredient: [{
          itemCodeableConcept: { ...(input.askCode ? coding(SYSTEM.ask, input.askCode) : {}), text: input.ingredient },
          strength: { numerator: { value: input.strength.value, unit: input.strength.unit }, denominator: { value: 1 } },
        }],
      };
    }
    case 'Compounding':
      return {
        ...base(PROFILE.medicationCompounding, [snomedType('1208954007', 'Extemporaneous preparation (product)'), category, vaccine]),
        code: coding(SYSTEM.medicationType, 'rezeptur'),
        form: { text: input.form },
        amount: packagingAmount(input.amount),
        ingredient: input.ingredients.map((i) => ({
          itemCodeableConcept: { ...(i.pzn ? coding(SYSTEM.pzn, i.pzn) : {}), text: i.name },
          strength: i.amount
            ? { numerator: { value: i.amount.value, unit: i.amount.unit }, denominator: { value: 1 } }
            : { extension: [{ url: EXT.ingredientAmount, valueString: i.amountText ?? 'q.s.' }] },
        })),
      };
    case 'FreeText':
      return {
        ...base(PROFILE.medicationFreeText, [category, vaccine]),
        code: { ...coding(SYSTEM.medicationType, 'freitext'), text: input.text },
        ...(input.form ? { form: { text: input.form } } : {}),
      };
  }
}

function packagingAmount(amount: { value: string; unit: string }) {
  return {
    numerator: { extension: [{ url: EXT.packagingSize, valueString: amount.value }], unit: amount.unit },
    denominator: { value: 1 },
  };
}

/** Builds the bundle; every reference is an urn:uuid fullUrl (as in KBV Beispiel_1). */
export function buildPrescriptionBundle(input: BuildPrescriptionInput): Bundle {
  const newId = input.newId ?? randomUUID;
  const ids = {
    composition: newId(), request: newId(), medication: newId(), patient: newId(), practitioner: newId(),
    organization: newId(), coverage: newId(),
  };
  const authoredOn = input.authoredOn ?? berlinDay(new Date());
  const p = input.patient;
  const patientIdentifier: Patient['identifier'] = [];
  if (p.kvnr) patientIdentifier.push({ type: coding(SYSTEM.identifierTypeDe, 'KVZ10'), system: SYSTEM.kvid10, value: p.kvnr });
  else if (p.pkvId) patientIdentifier.push({ type: coding(SYSTEM.identifierTypeDe, 'PKV'), system: SYSTEM.pkvId, value: p.pkvId });
  const family = p.family ?? 'Unbekannt';
  const patient: Patient = {
    resourceType: 'Patient', id: ids.patient,
    meta: { profile: [canonical(PROFILE.patient, FOR_VERSION)] },
    identifier: patientIdentifier,
    name: [{ use: 'official', family, _family: familyName(family), ...(p.given ? { given: [p.given] } : {}) } as unknown as HumanName],
    ...(p.birthDate ? { birthDate: p.birthDate } : {}),
    ...(p.address ? { address: address(p.address) } : {}),
  };

  const c = input.coverage;
  const gkvLike = c.type === 'GKV';
  const coverage: Coverage = {
    resourceType: 'Coverage', id: ids.coverage,
    meta: { profile: [canonical(PROFILE.coverage, FOR_VERSION)] },
    extension: [
      { url: EXT.personengruppe, valueCoding: { system: SYSTEM.personengruppe, code: '00' } },
      { url: EXT.dmp, valueCoding: { system: SYSTEM.dmp, code: '00' } },
      ...(gkvLike ? [{ url: EXT.wop, valueCoding: { system: SYSTEM.wop, code: '72' } }] : []),
      { url: EXT.versichertenart, valueCoding: { system: SYSTEM.versichertenstatus, code: c.versichertenart ?? '1' } },
    ],
    status: 'active',
    type: coding(SYSTEM.versicherungsart, c.type),
    beneficiary: { reference: urn(ids.patient) },
    payor: [{ identifier: { system: SYSTEM.iknr, value: c.ik }, display: c.payer }],
  };

  const mvo = input.multiplePrescription;
  const mvoExtension: Extension = {
    url: EXT.multiplePrescription,
    extension: mvo
      ? [
          { url: 'Kennzeichen', valueBoolean: true },
          { url: 'Nummerierung', valueRatio: { numerator: { value: mvo.numerator }, denominator: { value: mvo.denominator } } },
          { url: 'Zeitraum', valuePeriod: { start: mvo.start, ...(mvo.end ? { end: mvo.end } : {}) } },
          { url: 'ID', valueIdentifier: { system: SYSTEM.rfc3986, value: mvo.id ?? urn(newId()) } },
        ]
      : [{ url: 'Kennzeichen', valueBoolean: false }],
  };
  const quantity = input.quantity ?? 1;
  const request: MedicationRequest = {
    resourceType: 'MedicationRequest', id: ids.request,
    meta: { profile: [canonical(PROFILE.prescription)] },
    extension: [
      { url: EXT.statusCoPayment, valueCoding: { system: SYSTEM.statusCoPayment, code: '0' } },
      { url: EXT.emergencyFee, valueBoolean: input.emergencyFee ?? false },
      { url: EXT.ser, valueBoolean: false },
      mvoExtension,
    ],
    status: 'active', intent: 'order',
    medicationReference: { reference: urn(ids.medication) },
    subject: { reference: urn(ids.patient) },
    authoredOn,
    ...(input.physician ? { requester: { reference: urn(ids.practitioner) } } : {}),
    insurance: [{ reference: urn(ids.coverage) }],
    dosageInstruction: [input.dosage
      ? { extension: [{ url: EXT.dosageFlag, valueBoolean: true }], text: input.dosage }
      : { extension: [{ url: EXT.dosageFlag, valueBoolean: false }] }],
    dispenseRequest: { quantity: { value: quantity, unit: 'Packung' } },
    substitution: { allowedBoolean: input.substitutionAllowed ?? input.medication.kind !== 'Compounding' },
  };

  const composition: Composition = {
    resourceType: 'Composition', id: ids.composition,
    meta: { profile: [canonical(PROFILE.composition)] },
    extension: [{ url: EXT.legalBasis, valueCoding: { system: SYSTEM.statusKennzeichen, code: input.statusKennzeichen ?? '00' } }],
    status: 'final',
    type: coding(SYSTEM.formularArt, 'e16A'),
    subject: { reference: urn(ids.patient) },
    date: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    author: [
      ...(input.physician ? [{ reference: urn(ids.practitioner), type: 'Practitioner' as const }] : []),
      { type: 'Device' as const, identifier: { system: SYSTEM.pruefnummer, value: PRUEFNUMMER } },
    ],
    title: 'elektronische Arzneimittelverordnung',
    custodian: { reference: urn(ids.organization) },
    section: [
      { code: coding(SYSTEM.sectionType, 'Prescription'), entry: [{ reference: urn(ids.request) }] },
      { code: coding(SYSTEM.sectionType, 'Coverage'), entry: [{ reference: urn(ids.coverage) }] },
    ],
  };

  const resources: Resource[] = [
    composition, request, medicationResource(ids.medication, input.medication), patient,
    ...(input.physician ? [practitionerResource(ids.practitioner, input.physician)] : []),
    organizationResource(ids.organization, input.practice), coverage,
  ];
  const bundle: Bundle = {
    resourceType: 'Bundle', id: newId(),
    meta: { profile: [canonical(PROFILE.bundle)] },
    ...(input.prescriptionId ? { identifier: { system: SYSTEM.prescriptionId, value: input.prescriptionId } } : {}),
    type: 'document',
    timestamp: new Date().toISOString(),
    entry: resources.map((resource): BundleEntry => ({ fullUrl: urn(resource.id!), resource })),
  };
  return bundle;
}

function findResource<R extends Resource>(bundle: Bundle, type: R['resourceType']): R {
  const found = bundle.entry?.find((e) => e.resource?.resourceType === type)?.resource;
  if (!found) throw new FhirError(400, `Bundle enthält keine ${type}-Ressource`, { expression: ['Bundle.entry'] });
  return found as R;
}

/** Sets Bundle.identifier to the PrescriptionID returned by $create. */
export function setPrescriptionId(bundle: Bundle, prescriptionId: string): Bundle {
  bundle.identifier = { system: SYSTEM.prescriptionId, value: prescriptionId };
  return bundle;
}

/** Sets authoredOn of the MedicationRequest (DiGA: DeviceRequest; must be the signing day, A_22487) and Composition.date. */
export function setAuthoredOn(bundle: Bundle, day: string): Bundle {
  // the prescribing request: a MedicationRequest, or the DeviceRequest of a DiGA bundle (KBV_PR_EVDGA_Bundle)
  const request = bundle.entry?.find((e) => e.resource?.resourceType === 'DeviceRequest')?.resource as DeviceRequest | undefined;
  (request ?? findResource<MedicationRequest>(bundle, 'MedicationRequest')).authoredOn = day;
  const composition = findResource<Composition>(bundle, 'Composition');
  composition.date = composition.date && composition.date.slice(0, 10) === day ? composition.date : `${day}T00:00:00+00:00`;
  return bundle;
}

/** Puts the signing physician and the practice into the bundle (replacing earlier ones); requester and author follow. */
export function setPractitioner(bundle: Bundle, physician: PhysicianInput, practice: PracticeInput): Bundle {
  const entries = bundle.entry ?? (bundle.entry = []);
  const composition = findResource<Composition>(bundle, 'Composition');
  const request = findResource<MedicationRequest>(bundle, 'MedicationRequest');
  const oldPractitioner = entries.find((e) => e.resource?.resourceType === 'Practitioner');
  const practitionerId = oldPractitioner?.resource?.id ?? randomUUID();
  const practitioner = practitionerResource(practitionerId, physician);
  const practitionerUrl = oldPractitioner?.fullUrl ?? urn(practitionerId);
  if (oldPractitioner) oldPractitioner.resource = practitioner;
  else {
    const orgIndex = entries.findIndex((e) => e.resource?.resourceType === 'Organization');
    entries.splice(orgIndex < 0 ? entries.length : orgIndex, 0, { fullUrl: practitionerUrl, resource: practitioner });
  }
  // Keep relative references relative when the bundle uses RESTful fullUrls (KBV examples do both).
  const ref = (fullUrl: string) => (fullUrl.startsWith('urn:') ? fullUrl : fullUrl.split('/').slice(-2).join('/'));
  request.requester = { reference: ref(practitionerUrl) };
  const authors = (composition.author ?? []).filter((a) => a.type !== 'Practitioner');
  composition.author = [{ reference: ref(practitionerUrl), type: 'Practitioner' as const }, ...authors];

  const oldOrg = entries.find((e) => e.resource?.resourceType === 'Organization');
  if (oldOrg?.resource) {
    oldOrg.resource = organizationResource(oldOrg.resource.id!, practice);
  } else {
    const id = randomUUID();
    entries.push({ fullUrl: urn(id), resource: organizationResource(id, practice) });
    composition.custodian = { reference: urn(id) };
  }
  return bundle;
}
