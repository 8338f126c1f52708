// Reads and validates the KBV prescription bundles the way the Fachdienst does on $activate (erp-api §7.1,
// ti-components §3.5) and extracts the facts the Fachdienst and the practice need: KBV_PR_ERP_Bundle (medicines,
// MedicationRequest + Medication) and KBV_PR_EVDGA_Bundle (DiGA, flowtype 162, one DeviceRequest). Both share
// Composition, Patient, Coverage, Practitioner and Organization, and so the rules on them.
import { FhirError, type IssueType } from '../errors.ts';
import { FLOW_TYPES, isValidKvnr, isValidLanr, isValidPzn, parsePrescriptionId } from '../identifiers.ts';
import type {
  Bundle, CodeableConcept, Coding, Composition, Coverage, DeviceRequest, Extension, Identifier, Medication,
  MedicationRequest, Organization, Patient, Practitioner, Reference, Resource,
} from '../types.ts';
import { berlinDay, isCalendarDay } from './dates.ts';
import { ENTLASSREZEPT_CODES, ERSATZVERORDNUNG_CODES, EXT, PROFILE, SYSTEM, profileOf, splitCanonical } from './profiles.ts';
import { checkReferences, EntryResolver, indexEntries, type BundleWarning, type IndexedEntry } from './references.ts';
import { configWindowAt, isVersionAccepted, majorMinor, versionAtLeast } from './versions.ts';

/** What is prescribed: a medicine by one of the four KBV Medication profiles, or a DiGA (health app) by its PZN. */
export type MedicationKind = 'PZN' | 'Ingredient' | 'Compounding' | 'FreeText' | 'DiGA';

export interface PrescriptionFacts {
  prescriptionId: string;
  kbvVersion: string;
  profile: string;
  authoredOn: string;
  patient: { kvnr?: string; kvnrSystem?: string; pkvId?: string; given?: string; family?: string; birthDate?: string };
  coverage: { type: string; payorIk?: string; payorName?: string };
  practitioner?: { lanr?: string; zanr?: string; telematikId?: string; name?: string; qualificationType?: string };
  organization?: { bsnr?: string; kzva?: string; telematikId?: string; name?: string };
  /** For a DiGA: kind 'DiGA', its name and PZN. */
  medication: { kind: MedicationKind; display: string; pzn?: string; category?: string };
  /** The prescribing request: MedicationRequest, or for a DiGA the DeviceRequest (only `id` then). */
  medicationRequest: {
    id: string;
    dosageText?: string;
    quantity?: number;
    substitutionAllowed?: boolean;
    multiplePrescription?: { numerator: number; denominator: number; start?: string; end?: string; id?: string };
    emergencyFee?: boolean;
  };
  statusKennzeichen?: string;
  formularArt?: string;
}

export interface ValidationContext {
  flowType: string;
  taskPrescriptionId?: string;
  signingTime?: Date;
  now?: Date;
  /** false for bundles a third party sends before a physician is known (RED $createerptask). */
  requirePractitioner?: boolean;
}

export interface ValidationResult {
  facts: PrescriptionFacts;
  warnings: BundleWarning[];
}

// ---------------------------------------------------------------------------------------------------------------
// Small readers

const fail = (message: string, expression: string, code: IssueType = 'invalid') => new FhirError(400, message, { code, expression: [expression] });

/** A PZN: 8 digits (A_22925) with a valid check digit (A_24033 Medication_PZN, A_24034 Compounding, DiGA). */
function checkPzn(pzn: string, expression: string): void {
  if (!/^[0-9]{8}$/.test(pzn)) throw fail('Länge PZN unzulässig (muss 8-stellig sein)', expression, 'value');
  if (!isValidPzn(pzn)) {
    throw fail('Ungültige PZN: Die übergebene Pharmazentralnummer entspricht nicht den vorgeschriebenen Prüfziffer-Validierungsregeln.', expression, 'value');
  }
}

const extension = (el: { extension?: Extension[] } | undefined, url: string) => el?.extension?.find((e) => e.url === url);
const codingOf = (cc: CodeableConcept | undefined, system: string): Coding | undefined => cc?.coding?.find((c) => c.system === system);
const identifierOf = (ids: Identifier[] | undefined, system: string) => ids?.find((i) => i.system === system)?.value;
const at = (e: IndexedEntry) => `Bundle.entry[${e.index}].resource`;

/** The two KBV prescription documents: what tells them apart and which version column of versions.ts applies. */
export interface BundleSpec {
  name: 'KBV_PR_ERP_Bundle' | 'KBV_PR_EVDGA_Bundle';
  bundleProfile: string;
  compositionProfile: string;
  formularArt: string;
  sectionSystem: string;
  /** Composition section code that points at the Coverage. */
  coverageSection: string;
  versions: 'erp' | 'evdga';
}

export const ERP_BUNDLE: BundleSpec = {
  name: 'KBV_PR_ERP_Bundle', bundleProfile: PROFILE.bundle, compositionProfile: PROFILE.composition, formularArt: 'e16A',
  sectionSystem: SYSTEM.sectionType, coverageSection: 'Coverage', versions: 'erp',
};
export const EVDGA_BUNDLE: BundleSpec = {
  name: 'KBV_PR_EVDGA_Bundle', bundleProfile: PROFILE.evdgaBundle, compositionProfile: PROFILE.evdgaComposition, formularArt: 'e16D',
  sectionSystem: SYSTEM.evdgaSectionType, coverageSection: 'HealthInsurance', versions: 'evdga',
};

/** A_25991: the FD's text when a flowtype 162 prescription is not a DiGA prescription (DeviceRequest, e16D). */
export const DIGA_ONLY = 'Für diesen Workflowtypen sind nur Verordnungen für Digitale Gesundheitsanwendungen zulässig';

/** The resources every KBV prescription bundle has, located as the FD does: exactly one of each, resolved by reference. */
export interface CommonParts<R extends MedicationRequest | DeviceRequest = MedicationRequest | DeviceRequest> {
  resolver: EntryResolver;
  warnings: BundleWarning[];
  composition: IndexedEntry<Composition>;
  /** The prescribing request: MedicationRequest (ERP) or DeviceRequest (eVDGA). */
  request: IndexedEntry<R>;
  patient: IndexedEntry<Patient>;
  coverage: IndexedEntry<Coverage>;
  practitioner?: IndexedEntry<Practitioner>;
  organization?: IndexedEntry<Organization>;
}

/** KBV_PR_ERP_Bundle: the request is a MedicationRequest pointing at its Medication. */
export interface BundleParts extends CommonParts<MedicationRequest> {
  medicationRequest: IndexedEntry<MedicationRequest>;
  medication: IndexedEntry<Medication>;
}

/** KBV_PR_EVDGA_Bundle: the request is a DeviceRequest (KBV_PR_EVDGA_HealthAppRequest), no Medication. */
export type EvdgaParts = CommonParts<DeviceRequest>;

function exactlyOne<R extends Resource>(resolver: EntryResolver, type: R['resourceType'], prefix = ''): IndexedEntry<R> {
  const found = resolver.ofType<R>(type);
  if (found.length !== 1) {
    throw fail(`${prefix}Das Bundle muss genau eine ${type}-Ressource enthalten (gefunden: ${found.length})`, `Bundle.entry.resource.ofType(${type})`);
  }
  return found[0];
}

function resolveAs<R extends Resource>(resolver: EntryResolver, ref: Reference | undefined, from: IndexedEntry, type: R['resourceType']): IndexedEntry<R> | undefined {
  if (!ref?.reference) return undefined;
  const target = resolver.resolve(ref.reference, from);
  return target?.resource.resourceType === type ? (target as IndexedEntry<R>) : undefined;
}

function readCommonParts<R extends MedicationRequest | DeviceRequest>(bundle: Bundle, requestType: R['resourceType'], missingRequest = ''): CommonParts<R> {
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw fail('Die Verordnung muss eine Bundle-Ressource sein', 'Bundle');
  }
  const { entries, warnings } = indexEntries(bundle);
  const resolver = new EntryResolver(entries);
  checkReferences(resolver);
  const composition = exactlyOne<Composition>(resolver, 'Composition');
  const request = exactlyOne<R>(resolver, requestType, missingRequest);
  const patient = exactlyOne<Patient>(resolver, 'Patient');
  const coverage = exactlyOne<Coverage>(resolver, 'Coverage');
  const practitioner = resolveAs<Practitioner>(resolver, request.resource.requester, request, 'Practitioner');
  const organization = resolveAs<Organization>(resolver, composition.resource.custodian, composition, 'Organization')
    ?? (resolver.ofType<Organization>('Organization').length === 1 ? resolver.ofType<Organization>('Organization')[0] : undefined);
  return { resolver, warnings, composition, request, patient, coverage, practitioner, organization };
}

export function readBundleParts(bundle: Bundle): BundleParts {
  const common = readCommonParts<MedicationRequest>(bundle, 'MedicationRequest');
  exactlyOne<Medication>(common.resolver, 'Medication');
  const medicationRequest = common.request;
  const medication = resolveAs<Medication>(common.resolver, medicationRequest.resource.medicationReference, medicationRequest, 'Medication');
  if (!medication) throw fail('MedicationRequest.medicationReference muss auf die Medication im Bundle verweisen', `${at(medicationRequest)}.medicationReference`);
  return { ...common, medicationRequest, medication };
}

/** A_25991: a DiGA prescription has exactly one DeviceRequest (and no Medication to dispense). */
export function readEvdgaParts(bundle: Bundle): EvdgaParts {
  return readCommonParts<DeviceRequest>(bundle, 'DeviceRequest', `${DIGA_ONLY}: `);
}

// ---------------------------------------------------------------------------------------------------------------
// Facts

function personName(name: Practitioner['name']): string | undefined {
  const n = name?.find((x) => x.use === 'official') ?? name?.[0];
  if (!n) return undefined;
  const parts = [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean);
  return parts.length ? parts.join(' ') : n.text;
}

export function medicationKind(medication: Medication): MedicationKind | undefined {
  const byProfile: [string, MedicationKind][] = [
    [PROFILE.medicationPzn, 'PZN'], [PROFILE.medicationIngredient, 'Ingredient'],
    [PROFILE.medicationCompounding, 'Compounding'], [PROFILE.medicationFreeText, 'FreeText'],
  ];
  for (const [url, kind] of byProfile) if (profileOf(medication, url)) return kind;
  return undefined;
}

function strengthText(ingredient: NonNullable<Medication['ingredient']>[number]): string | undefined {
  const num = ingredient.strength?.numerator;
  if (num?.value !== undefined) return `${num.value}${num.unit ? ` ${num.unit}` : ''}`;
  return extension(ingredient.strength, EXT.ingredientAmount)?.valueString;
}

function medicationDisplay(kind: MedicationKind, m: Medication): string | undefined {
  if (kind === 'PZN' || kind === 'FreeText') return m.code?.text;
  const ingredients = (m.ingredient ?? [])
    .map((i) => [i.itemCodeableConcept?.text, strengthText(i)].filter(Boolean).join(' '))
    .filter(Boolean);
  if (kind === 'Compounding') {
    const form = m.form?.text;
    return m.code?.text ?? ([ingredients.join(', '), form].filter(Boolean).join(' – ') || undefined);
  }
  return ingredients.length ? [ingredients.join(', '), m.form?.text].filter(Boolean).join(', ') : undefined;
}

function multiplePrescription(mr: MedicationRequest): PrescriptionFacts['medicationRequest']['multiplePrescription'] {
  const mvo = extension(mr, EXT.multiplePrescription);
  if (extension(mvo, 'Kennzeichen')?.valueBoolean !== true) return undefined;
  const ratio = extension(mvo, 'Nummerierung')?.valueRatio;
  const period = extension(mvo, 'Zeitraum')?.valuePeriod;
  return {
    numerator: ratio?.numerator?.value ?? NaN,
    denominator: ratio?.denominator?.value ?? NaN,
    start: period?.start,
    end: period?.end,
    id: extension(mvo, 'ID')?.valueIdentifier?.value,
  };
}

/** Reads the facts of either bundle; throws FhirError(400) naming the element that is missing or unreadable. */
export function extractPrescriptionFacts(bundle: Bundle): PrescriptionFacts {
  return bundleProfile(bundle).spec === EVDGA_BUNDLE ? evdgaFacts(bundle, readEvdgaParts(bundle)) : erpFacts(bundle, readBundleParts(bundle));
}

function bundleProfile(bundle: Bundle): { spec: BundleSpec; url: string; version?: string; canonical: string } {
  for (const canonical of bundle.meta?.profile ?? []) {
    const c = splitCanonical(canonical);
    const spec = [ERP_BUNDLE, EVDGA_BUNDLE].find((k) => k.bundleProfile === c.url);
    if (spec) return { spec, ...c, canonical };
  }
  throw fail(`meta.profile muss ${PROFILE.bundle} mit Version angeben (DiGA: ${PROFILE.evdgaBundle})`, 'Bundle.meta.profile');
}

/** What both bundles say alike: identifiers, people, insurance, issue day and legal basis. */
function commonFacts(bundle: Bundle, p: CommonParts): Omit<PrescriptionFacts, 'medication' | 'medicationRequest'> {
  const profile = bundleProfile(bundle);
  const kbvVersion = majorMinor(profile.version);
  if (!kbvVersion) throw fail(`meta.profile ${profile.canonical}: Profilversion fehlt oder ist ungültig`, 'Bundle.meta.profile');
  const prescriptionId = bundle.identifier?.value;
  if (!prescriptionId) throw fail('Bundle.identifier (PrescriptionID) fehlt', 'Bundle.identifier');

  const request = p.request.resource;
  if (!request.id) throw fail(`${request.resourceType}.id fehlt`, `${at(p.request)}.id`);
  const authoredOn = request.authoredOn;
  if (!authoredOn || !isCalendarDay(authoredOn)) {
    throw fail(`${request.resourceType}.authoredOn fehlt oder ist kein Datum (YYYY-MM-DD)`, `${at(p.request)}.authoredOn`);
  }

  const patient = p.patient.resource;
  const patientName = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  const kvnrIdentifier = patient.identifier?.find((i) => i.system === SYSTEM.kvid10);

  const coverage = p.coverage.resource;
  const coverageType = codingOf(coverage.type, SYSTEM.versicherungsart)?.code;
  if (!coverageType) throw fail(`Coverage.type (${SYSTEM.versicherungsart}) fehlt`, `${at(p.coverage)}.type`);
  const payor = coverage.payor?.[0];

  const practitioner = p.practitioner?.resource;
  const organization = p.organization?.resource;
  const composition = p.composition.resource;
  return {
    prescriptionId,
    kbvVersion,
    profile: profile.canonical,
    authoredOn,
    patient: {
      kvnr: kvnrIdentifier?.value,
      kvnrSystem: kvnrIdentifier?.system,
      pkvId: identifierOf(patient.identifier, SYSTEM.pkvId),
      given: patientName?.given?.join(' '),
      family: patientName?.family,
      birthDate: patient.birthDate,
    },
    coverage: { type: coverageType, payorIk: payor?.identifier?.value, payorName: payor?.display },
    practitioner: practitioner && {
      lanr: identifierOf(practitioner.identifier, SYSTEM.lanr),
      zanr: identifierOf(practitioner.identifier, SYSTEM.zanr),
      telematikId: identifierOf(practitioner.identifier, SYSTEM.telematikId),
      name: personName(practitioner.name),
      qualificationType: practitioner.qualification?.map((q) => codingOf(q.code, SYSTEM.qualificationType)?.code).find(Boolean),
    },
    organization: organization && {
      bsnr: identifierOf(organization.identifier, SYSTEM.bsnr),
      kzva: identifierOf(organization.identifier, SYSTEM.kzva),
      telematikId: identifierOf(organization.identifier, SYSTEM.telematikId),
      name: organization.name,
    },
    statusKennzeichen: extension(composition, EXT.legalBasis)?.valueCoding?.code,
    formularArt: codingOf(composition.type, SYSTEM.formularArt)?.code,
  };
}

function erpFacts(bundle: Bundle, p: BundleParts): PrescriptionFacts {
  const common = commonFacts(bundle, p);
  const mr = p.medicationRequest.resource;
  const medication = p.medication.resource;
  const medAt = at(p.medication);
  const kind = medicationKind(medication);
  if (!kind) {
    throw fail('Medication: kein KBV-Profil (KBV_PR_ERP_Medication_PZN/_Ingredient/_Compounding/_FreeText)', `${medAt}.meta.profile`);
  }
  const display = medicationDisplay(kind, medication);
  if (!display) throw fail(`Medication (${kind}): Bezeichnung fehlt`, kind === 'PZN' || kind === 'FreeText' ? `${medAt}.code.text` : `${medAt}.ingredient`);
  const dosage = mr.dosageInstruction?.[0];
  return {
    ...common,
    medication: {
      kind,
      display,
      pzn: codingOf(medication.code, SYSTEM.pzn)?.code,
      category: extension(medication, EXT.medicationCategory)?.valueCoding?.code,
    },
    medicationRequest: {
      id: mr.id!,
      dosageText: dosage?.text ?? dosage?.patientInstruction,
      quantity: mr.dispenseRequest?.quantity?.value,
      substitutionAllowed: mr.substitution?.allowedBoolean,
      multiplePrescription: multiplePrescription(mr),
      emergencyFee: extension(mr, EXT.emergencyFee)?.valueBoolean,
    },
  };
}

/** A DiGA: its name and PZN stand in for the medication, so lists, audit texts and the insured app read it alike. */
function evdgaFacts(bundle: Bundle, p: EvdgaParts): PrescriptionFacts {
  const common = commonFacts(bundle, p);
  const code = p.request.resource.codeCodeableConcept;
  const pzn = codingOf(code, SYSTEM.pzn);
  const display = code?.text ?? pzn?.display;
  if (!display) throw fail('DeviceRequest: Name der DiGA (codeCodeableConcept.text) fehlt', `${at(p.request)}.codeCodeableConcept.text`, 'required');
  return {
    ...common,
    medication: { kind: 'DiGA', display, pzn: pzn?.code },
    medicationRequest: { id: p.request.resource.id! },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Rules (each throws FhirError(400) naming the rule, or returns warnings)

export function checkProfileVersion(bundle: Bundle, now: Date): void {
  const { spec, version } = bundleProfile(bundle);
  if (!isVersionAccepted(spec.versions, version, now)) {
    const window = configWindowAt(now);
    throw fail(
      `KBV-Profilversion ${version ?? '(keine)'} von ${spec.name} wird am ${berlinDay(now)} nicht akzeptiert (zulässig: ${window?.[spec.versions].join(', ') || 'keine'})`,
      'Bundle.meta.profile', 'business-rule',
    );
  }
}

/** DiGA prescriptions only as flowtype 162 and flowtype 162 only for DiGA prescriptions (A_25991). */
export function checkBundleForFlowType(spec: BundleSpec, flowType: string): void {
  if (flowType === '162' && spec !== EVDGA_BUNDLE) {
    throw fail(`${DIGA_ONLY} (Flowtype 162 erfordert ${EVDGA_BUNDLE.name}, nicht ${spec.name})`, 'Bundle.meta.profile', 'business-rule');
  }
  if (flowType !== '162' && spec === EVDGA_BUNDLE) {
    throw fail(`${EVDGA_BUNDLE.name} (DiGA) ist nur mit Flowtype 162 zulässig, nicht mit ${flowType}`, 'Bundle.meta.profile', 'business-rule');
  }
}

export function checkBundleType(bundle: Bundle): void {
  if (bundle.type !== 'document') throw fail(`Bundle.type muss 'document' sein, nicht '${bundle.type ?? ''}'`, 'Bundle.type', 'value');
}

/** A_21370 + A_19217-01/A_19218: system, format, check digits, equality with the Task and its flowtype. */
export function checkPrescriptionId(bundle: Bundle, flowType: string, taskPrescriptionId?: string): void {
  const identifier = bundle.identifier;
  if (identifier?.system !== SYSTEM.prescriptionId) {
    throw fail(`Bundle.identifier.system muss ${SYSTEM.prescriptionId} sein`, 'Bundle.identifier.system', 'value');
  }
  const id = identifier.value ?? '';
  const parsed = parsePrescriptionId(id);
  if (!parsed) throw fail(`Ungültige PrescriptionID ${id}: Format oder Prüfziffer (ISO 7064 MOD 97-10) falsch`, 'Bundle.identifier.value', 'value');
  if (taskPrescriptionId !== undefined && id !== taskPrescriptionId) {
    throw fail('PrescriptionId mismatch between Task and QES-Bundle', 'Bundle.identifier.value', 'business-rule');
  }
  if (parsed.flowType !== flowType) {
    throw fail('Flowtype mismatch between Task and QES-Bundle', 'Bundle.identifier.value', 'business-rule');
  }
}

export function checkComposition(p: CommonParts, spec: BundleSpec, requirePractitioner: boolean): void {
  const c = p.composition;
  const comp = c.resource;
  if (c.index !== 0) throw fail('Die Composition muss der erste Eintrag eines document-Bundles sein', 'Bundle.entry[0].resource');
  if (!profileOf(comp, spec.compositionProfile)) throw fail(`Composition.meta.profile muss ${spec.compositionProfile} sein`, `${at(c)}.meta.profile`);
  const formular = codingOf(comp.type, SYSTEM.formularArt)?.code;
  if (formular !== spec.formularArt) {
    const rule = spec === EVDGA_BUNDLE ? `${DIGA_ONLY}: ` : '';
    throw fail(`${rule}Formular-Art (Composition.type) muss '${spec.formularArt}' (${SYSTEM.formularArt}) sein, nicht '${formular ?? ''}'`, `${at(c)}.type.coding.code`, 'value');
  }
  if (!extension(comp, EXT.legalBasis)?.valueCoding?.code) {
    throw fail('Composition: Rechtsgrundlage (KBV_EX_FOR_Legal_basis, Statuskennzeichen) fehlt', `${at(c)}.extension`);
  }
  const sectionTarget = (code: string) => {
    const section = comp.section?.find((s) => codingOf(s.code, spec.sectionSystem)?.code === code);
    if (!section) throw fail(`Composition: Abschnitt (section) '${code}' fehlt`, `${at(c)}.section`, 'required');
    const ref = section.entry?.[0]?.reference;
    return ref ? p.resolver.resolve(ref, c) : undefined;
  };
  if (sectionTarget('Prescription') !== p.request) {
    throw fail(`Composition: section 'Prescription' muss auf den ${p.request.resource.resourceType} verweisen`, `${at(c)}.section`);
  }
  if (sectionTarget(spec.coverageSection) !== p.coverage) {
    throw fail(`Composition: section '${spec.coverageSection}' muss auf die Coverage verweisen`, `${at(c)}.section`);
  }
  if (resolveAs<Patient>(p.resolver, comp.subject, c, 'Patient') !== p.patient) {
    throw fail('Composition.subject muss auf den Patient verweisen', `${at(c)}.subject`);
  }
  if (!resolveAs<Organization>(p.resolver, comp.custodian, c, 'Organization')) {
    throw fail('Composition.custodian muss auf die Organization (Betriebsstätte) verweisen', `${at(c)}.custodian`);
  }
  if (requirePractitioner) {
    const author = comp.author?.find((a) => resolveAs<Practitioner>(p.resolver, a, c, 'Practitioner'));
    if (!author) throw fail('Composition.author: verordnende Person (Practitioner) fehlt', `${at(c)}.author`, 'required');
  }
}

/** A_23890-01: kvid-10 with a KVNR of valid format and check digit; PKV insured may carry a PKV identifier instead. */
export function checkPatient(p: CommonParts, coverageType: string): void {
  const patient = p.patient;
  const ids = patient.resource.identifier ?? [];
  const kvnr = ids.find((i) => i.system === SYSTEM.kvid10);
  if (!kvnr) {
    if (coverageType === 'PKV' && ids.some((i) => i.system === SYSTEM.pkvId && i.value)) return;
    throw fail(`Patient.identifier: Versichertennummer mit NamingSystem ${SYSTEM.kvid10} fehlt`, `${at(patient)}.identifier`, 'value');
  }
  const value = kvnr.value ?? '';
  if (!/^[A-Z][0-9]{9}$/.test(value)) {
    throw fail(`Ungültige Versichertennummer (KVNR) ${value}: Format muss ein Großbuchstabe und 9 Ziffern sein`, `${at(patient)}.identifier.value`, 'value');
  }
  if (!isValidKvnr(value)) {
    throw fail(`Ungültige Versichertennummer (KVNR) ${value}: Der übergebene Wert entspricht nicht den Prüfziffer-Validierungsregeln`, `${at(patient)}.identifier.value`, 'value');
  }
}

function checkIknr(identifier: Identifier | undefined, expression: string): void {
  if (!identifier) return;
  const looksLikeIk = identifier.system === SYSTEM.iknr || /arge-ik/i.test(identifier.system ?? '') || identifier.type?.coding?.some((c) => c.code === 'XX');
  if (!looksLikeIk) return;
  if (identifier.system !== SYSTEM.iknr) {
    throw fail(`IKNR: NamingSystem muss ${SYSTEM.iknr} sein, nicht ${identifier.system ?? '(keins)'}`, `${expression}.system`, 'value');
  }
  if (!/^[0-9]{9}$/.test(identifier.value ?? '')) {
    throw fail(`IKNR ${identifier.value ?? ''} muss aus 9 Ziffern bestehen`, `${expression}.value`, 'value');
  }
}

/**
 * A_23443-01/A_22347-01: PKV only for 200/209; IK numbers as 9 digits in the current NamingSystem. A_26372: no DiGA
 * (162) at the expense of an accident insurer, i.e. no alternative IK on the payor.
 */
export function checkCoverage(p: CommonParts, flowType: string, coverageType: string): void {
  const cov = p.coverage;
  const payor = cov.resource.payor?.[0];
  if (coverageType === 'GKV' && !payor?.identifier) {
    throw fail('Coverage.payor.identifier (IKNR der Krankenkasse) fehlt', `${at(cov)}.payor`, 'required');
  }
  checkIknr(payor?.identifier, `${at(cov)}.payor.identifier`);
  const pkvFlow = flowType === '200' || flowType === '209';
  if (pkvFlow && coverageType !== 'PKV') {
    throw fail(`Coverage "${coverageType}" not allowed for flowtype ${flowType} (200/209 erfordern PKV)`, `${at(cov)}.type`, 'business-rule');
  }
  if (!pkvFlow && coverageType === 'PKV') {
    throw fail(`Coverage "PKV" not allowed for flowtype ${flowType}`, `${at(cov)}.type`, 'business-rule');
  }
  if (flowType === '162' && extension(payor?.identifier, EXT.alternativeIk)) {
    throw fail('Coverage: alternatives IK (Unfallkasse/Berufsgenossenschaft) ist für Flowtype 162 nicht zulässig', `${at(cov)}.payor.identifier.extension`, 'business-rule');
  }
  if (resolveAs<Patient>(p.resolver, cov.resource.beneficiary, cov, 'Patient') !== p.patient) {
    throw fail('Coverage.beneficiary muss auf den Patient verweisen', `${at(cov)}.beneficiary`);
  }
}

export function checkOrganization(p: CommonParts): void {
  const org = p.organization;
  if (!org) return;
  (org.resource.identifier ?? []).forEach((identifier, i) => {
    const expression = `${at(org)}.identifier[${i}]`;
    checkIknr(identifier, expression);
    const isBsnr = identifier.system === SYSTEM.bsnr || identifier.type?.coding?.some((c) => c.code === 'BSNR');
    if (isBsnr && (identifier.system !== SYSTEM.bsnr || !/^[0-9]{9}$/.test(identifier.value ?? ''))) {
      throw fail(`BSNR: NamingSystem ${SYSTEM.bsnr} mit 9 Ziffern erwartet`, expression, 'value');
    }
  });
}

/** LANR/ZANR: 9 digits (400 otherwise); a wrong check digit only warns with 252 (A_24031-A_24033). */
export function checkPractitioner(p: CommonParts, requirePractitioner: boolean): BundleWarning[] {
  const requestAt = at(p.request);
  const type = p.request.resource.resourceType;
  if (!p.practitioner) {
    if (p.request.resource.requester?.reference) {
      throw fail(`${type}.requester muss auf einen Practitioner im Bundle verweisen`, `${requestAt}.requester`);
    }
    if (requirePractitioner) throw fail(`Verordnende Person (Practitioner, ${type}.requester) fehlt`, `${requestAt}.requester`, 'required');
    return [];
  }
  const warnings: BundleWarning[] = [];
  for (const practitioner of p.resolver.ofType<Practitioner>('Practitioner')) {
    (practitioner.resource.identifier ?? []).forEach((identifier, i) => {
      const kind = identifier.system === SYSTEM.lanr ? 'LANR' : identifier.system === SYSTEM.zanr ? 'ZANR' : undefined;
      if (!kind) return;
      const value = identifier.value ?? '';
      if (!/^[0-9]{9}$/.test(value)) {
        throw fail(`Ungültige ${kind} ${value}: muss aus 9 Ziffern bestehen`, `${at(practitioner)}.identifier[${i}].value`, 'value');
      }
      if (!isValidLanr(value)) warnings.push({ code: 252, text: `Ungültige Prüfziffer der ${kind} ${value}` });
    });
  }
  return warnings;
}

/** Medication category vs flowtype (A_25642, A_27813, A_22231-01) and the KBV medication variants. */
/**
 * PZN length and check digit of a PZN prescription and of a compounding's ingredients. Checked after the other rules,
 * as the gematik Fachdienst does (a business rule after the profile checks).
 */
function checkMedicationPzns(p: BundleParts, facts: PrescriptionFacts): void {
  const med = p.medication;
  if (facts.medication.kind === 'PZN' && facts.medication.pzn) checkPzn(facts.medication.pzn, `${at(med)}.code.coding.code`);
  if (facts.medication.kind === 'Compounding') {
    (med.resource.ingredient ?? []).forEach((ingredient, i) => {
      const pzn = codingOf(ingredient.itemCodeableConcept, SYSTEM.pzn)?.code;
      if (pzn !== undefined) checkPzn(pzn, `${at(med)}.ingredient[${i}].itemCodeableConcept.coding.code`);
    });
  }
}

export function checkMedication(p: BundleParts, facts: PrescriptionFacts, flowType: string): void {
  const med = p.medication;
  const expression = `${at(med)}.extension('${EXT.medicationCategory}')`;
  const category = facts.medication.category;
  if (!category) throw fail('Medication: Kategorie (KBV_EX_ERP_Medication_Category) fehlt', expression, 'required');
  if (category === '01') throw fail('BTM nicht zulässig', expression, 'business-rule');
  if (category === '02' && flowType !== '166') {
    throw fail(`T-Rezept (Kategorie 02) ist nur mit Flowtype 166 zulässig, nicht mit ${flowType}`, expression, 'business-rule');
  }
  if (flowType === '166') {
    if (category !== '02') throw fail('Flowtype 166 erfordert ein T-Rezept-Arzneimittel (Kategorie 02)', expression, 'business-rule');
    if (!versionAtLeast(facts.kbvVersion, '1.4')) throw fail('T-Rezept (Flowtype 166) erst ab KBV-Version 1.4', 'Bundle.meta.profile', 'business-rule');
  } else if (category !== '00') {
    throw fail(`Medication-Kategorie ${category} nicht zulässig für Flowtype ${flowType} (erwartet 00)`, expression, 'business-rule');
  }
  const m = med.resource;
  const typeCode = codingOf(m.code, SYSTEM.medicationType)?.code;
  switch (facts.medication.kind) {
    case 'PZN': {
      const pzn = facts.medication.pzn;
      if (!pzn) throw fail(`PZN-Verordnung: PZN (${SYSTEM.pzn}) fehlt`, `${at(med)}.code.coding`, 'required');
      break;
    }
    case 'Ingredient':
      if (typeCode !== 'wirkstoff') throw fail("Wirkstoffverordnung: Medication.code muss 'wirkstoff' sein", `${at(med)}.code`, 'value');
      if (!m.ingredient?.length) throw fail('Wirkstoffverordnung: Medication.ingredient fehlt', `${at(med)}.ingredient`, 'required');
      break;
    case 'Compounding':
      if (typeCode !== 'rezeptur') throw fail("Rezepturverordnung: Medication.code muss 'rezeptur' sein", `${at(med)}.code`, 'value');
      if (!m.ingredient?.length) throw fail('Rezepturverordnung: Medication.ingredient fehlt', `${at(med)}.ingredient`, 'required');
      break;
    case 'FreeText':
      if (typeCode !== 'freitext') throw fail("Freitextverordnung: Medication.code muss 'freitext' sein", `${at(med)}.code`, 'value');
      break;
  }
}

/** Quantity system exactly UCUM (case-sensitive, cf. negative example 18); a positive amount. */
export function checkQuantity(p: BundleParts): void {
  const quantity = p.medicationRequest.resource.dispenseRequest?.quantity;
  const expression = `${at(p.medicationRequest)}.dispenseRequest.quantity`;
  if (!quantity || quantity.value === undefined) throw fail('MedicationRequest.dispenseRequest.quantity fehlt', expression, 'required');
  if (quantity.system !== undefined && quantity.system !== SYSTEM.ucum) {
    throw fail(`Mengenangabe: quantity.system muss exakt ${SYSTEM.ucum} sein, nicht ${quantity.system}`, `${expression}.system`, 'value');
  }
  if (!(quantity.value > 0)) throw fail('Mengenangabe: quantity.value muss größer als 0 sein', `${expression}.value`, 'value');
}

/** A_22487: the German day of the QES signing time equals authoredOn. */
export function checkAuthoredOn(facts: PrescriptionFacts, signingTime: Date, p: CommonParts): void {
  if (berlinDay(signingTime) !== facts.authoredOn) {
    throw fail('Ausstellungsdatum und Signaturzeitpunkt weichen voneinander ab, müssen aber taggleich sein', `${at(p.request)}.authoredOn`, 'business-rule');
  }
}

/**
 * KBV_PR_EVDGA_HealthAppRequest: an active order for one DiGA, named by its PZN (A_25992: check digit as in the IFA's
 * "Technische Hinweise zur PZN-Codierung"), for the Patient and the Coverage of the bundle.
 */
export function checkHealthAppRequest(p: EvdgaParts): void {
  const dr = p.request;
  const request = dr.resource;
  if (!profileOf(request, PROFILE.healthAppRequest)) {
    throw fail(`DeviceRequest.meta.profile muss ${PROFILE.healthAppRequest} sein`, `${at(dr)}.meta.profile`);
  }
  if (request.status !== 'active') throw fail(`DeviceRequest.status muss 'active' sein, nicht '${request.status ?? ''}'`, `${at(dr)}.status`, 'value');
  if (request.intent !== 'order') throw fail(`DeviceRequest.intent muss 'order' sein, nicht '${request.intent ?? ''}'`, `${at(dr)}.intent`, 'value');
  const pzn = codingOf(request.codeCodeableConcept, SYSTEM.pzn)?.code;
  if (pzn === undefined) {
    throw fail(`DiGA-Verordnung: PZN (${SYSTEM.pzn}) fehlt in DeviceRequest.codeCodeableConcept`, `${at(dr)}.codeCodeableConcept.coding`, 'required');
  }
  checkPzn(pzn, `${at(dr)}.codeCodeableConcept.coding.code`);
  if (resolveAs<Patient>(p.resolver, request.subject, dr, 'Patient') !== p.patient) {
    throw fail('DeviceRequest.subject muss auf den Patient verweisen', `${at(dr)}.subject`);
  }
  const insurance = request.insurance ?? [];
  if (insurance.length !== 1 || resolveAs<Coverage>(p.resolver, insurance[0], dr, 'Coverage') !== p.coverage) {
    throw fail('DeviceRequest.insurance muss genau einmal auf die Coverage verweisen', `${at(dr)}.insurance`);
  }
}

/** MVO rules at $activate (erp-api §3.1, FD checkMultiplePrescription). */
export function checkMultiplePrescription(p: BundleParts, facts: PrescriptionFacts, flowType: string): void {
  const mr = p.medicationRequest.resource;
  const mvoExt = extension(mr, EXT.multiplePrescription);
  const expression = `${at(p.medicationRequest)}.extension('${EXT.multiplePrescription}')`;
  const mvo = facts.medicationRequest.multiplePrescription;
  if (!mvo) {
    if (extension(mvoExt, 'Nummerierung') || extension(mvoExt, 'Zeitraum') || extension(mvoExt, 'ID')) {
      throw fail('MVO: Nummerierung, Zeitraum und ID nur bei Kennzeichen true', expression, 'business-rule');
    }
    return;
  }
  const rule = (ok: boolean, text: string) => {
    if (!ok) throw fail(`MVO: ${text}`, expression, 'business-rule');
  };
  rule(['160', '169', '200', '209'].includes(flowType), `Mehrfachverordnung nicht zulässig für Flowtype ${flowType}`);
  const code = facts.statusKennzeichen ?? '';
  rule(!ENTLASSREZEPT_CODES.has(code), 'Mehrfachverordnung nicht zulässig für Entlassrezepte');
  rule(!ERSATZVERORDNUNG_CODES.has(code), 'Mehrfachverordnung nicht zulässig für Ersatzverordnungen');
  rule(Number.isInteger(mvo.numerator) && mvo.numerator >= 1 && mvo.numerator <= 4, 'Nummerierung: Zähler muss 1 bis 4 sein');
  rule(Number.isInteger(mvo.denominator) && mvo.denominator >= 2 && mvo.denominator <= 4, 'Nummerierung: Nenner muss 2 bis 4 sein');
  rule(mvo.numerator <= mvo.denominator, 'Nummerierung: Zähler darf nicht größer als Nenner sein');
  rule(mvo.start !== undefined && isCalendarDay(mvo.start), 'Beginn des Einlösezeitraums (Zeitraum.start) fehlt');
  rule(mvo.start! >= facts.authoredOn, 'Beginn des Einlösezeitraums darf nicht vor dem Ausstellungsdatum liegen');
  if (mvo.end !== undefined) {
    rule(isCalendarDay(mvo.end), 'Ende des Einlösezeitraums ist kein Datum');
    rule(mvo.end >= mvo.start!, 'Ende des Einlösezeitraums darf nicht vor dem Beginn liegen');
  }
  rule(mvo.id !== undefined && /^urn:uuid:[0-9a-fA-F-]{36}$/.test(mvo.id), 'ID muss eine urn:uuid sein');
}

/** Validates as the Fachdienst does on $activate; throws FhirError(400) naming the first rule that fails. */
export function validatePrescriptionBundle(bundle: Bundle, context: ValidationContext): ValidationResult {
  const now = context.now ?? new Date();
  const requirePractitioner = context.requirePractitioner !== false;
  const flowType = context.flowType;
  if (!(FLOW_TYPES as readonly string[]).includes(flowType)) {
    throw fail(`Flowtype ${flowType} wird nicht unterstützt`, 'Task.extension.valueCoding.code', 'not-supported');
  }
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw fail('Die Verordnung muss eine Bundle-Ressource sein', 'Bundle');
  }
  const { spec } = bundleProfile(bundle);
  checkBundleForFlowType(spec, flowType);
  checkProfileVersion(bundle, now);
  checkBundleType(bundle);
  let parts: CommonParts;
  let facts: PrescriptionFacts;
  if (spec === EVDGA_BUNDLE) {
    const evdga = readEvdgaParts(bundle);
    facts = evdgaFacts(bundle, evdga);
    checkComposition(evdga, spec, requirePractitioner);
    checkHealthAppRequest(evdga);
    parts = evdga;
  } else {
    const erp = readBundleParts(bundle);
    facts = erpFacts(bundle, erp);
    checkComposition(erp, spec, requirePractitioner);
    checkMultiplePrescription(erp, facts, flowType);
    checkMedication(erp, facts, flowType);
    checkQuantity(erp);
    parts = erp;
  }
  // the rules on what both bundles share
  checkPrescriptionId(bundle, flowType, context.taskPrescriptionId);
  if (context.signingTime) checkAuthoredOn(facts, context.signingTime, parts);
  checkCoverage(parts, flowType, facts.coverage.type);
  checkPatient(parts, facts.coverage.type);
  checkOrganization(parts);
  const lanrWarnings = checkPractitioner(parts, requirePractitioner);
  if (spec !== EVDGA_BUNDLE) checkMedicationPzns(parts as BundleParts, facts);
  return { facts, warnings: [...parts.warnings, ...lanrWarnings] };
}
