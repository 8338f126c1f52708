// Reads and validates the KBV prescription bundle (KBV_PR_ERP_Bundle) the way the Fachdienst does on
// $activate (erp-api §7.1, ti-components §3.5), and extracts the facts the Fachdienst and the practice need.
import { FhirError, type IssueType } from '../errors.ts';
import { FLOW_TYPES, isValidKvnr, isValidLanr, parsePrescriptionId } from '../identifiers.ts';
import type {
  Bundle, CodeableConcept, Coding, Composition, Coverage, Extension, Identifier, Medication, MedicationRequest,
  Organization, Patient, Practitioner, Reference, Resource,
} from '../types.ts';
import { berlinDay, isCalendarDay } from './dates.ts';
import { ENTLASSREZEPT_CODES, ERSATZVERORDNUNG_CODES, EXT, PROFILE, SYSTEM, profileOf, splitCanonical } from './profiles.ts';
import { checkReferences, EntryResolver, indexEntries, type BundleWarning, type IndexedEntry } from './references.ts';
import { configWindowAt, isErpVersionAccepted, majorMinor, versionAtLeast } from './versions.ts';

export type MedicationKind = 'PZN' | 'Ingredient' | 'Compounding' | 'FreeText';

export interface PrescriptionFacts {
  prescriptionId: string;
  kbvVersion: string;
  profile: string;
  authoredOn: string;
  patient: { kvnr?: string; kvnrSystem?: string; pkvId?: string; given?: string; family?: string; birthDate?: string };
  coverage: { type: string; payorIk?: string; payorName?: string };
  practitioner?: { lanr?: string; zanr?: string; telematikId?: string; name?: string; qualificationType?: string };
  organization?: { bsnr?: string; kzva?: string; telematikId?: string; name?: string };
  medication: { kind: MedicationKind; display: string; pzn?: string; category?: string };
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

const extension = (el: { extension?: Extension[] } | undefined, url: string) => el?.extension?.find((e) => e.url === url);
const codingOf = (cc: CodeableConcept | undefined, system: string): Coding | undefined => cc?.coding?.find((c) => c.system === system);
const identifierOf = (ids: Identifier[] | undefined, system: string) => ids?.find((i) => i.system === system)?.value;

/** The resources of a bundle, located as the FD does: exactly one of each, entries resolved by reference. */
export interface BundleParts {
  resolver: EntryResolver;
  warnings: BundleWarning[];
  composition: IndexedEntry<Composition>;
  medicationRequest: IndexedEntry<MedicationRequest>;
  medication: IndexedEntry<Medication>;
  patient: IndexedEntry<Patient>;
  coverage: IndexedEntry<Coverage>;
  practitioner?: IndexedEntry<Practitioner>;
  organization?: IndexedEntry<Organization>;
}

function exactlyOne<R extends Resource>(resolver: EntryResolver, type: R['resourceType']): IndexedEntry<R> {
  const found = resolver.ofType<R>(type);
  if (found.length !== 1) {
    throw fail(`Das Bundle muss genau eine ${type}-Ressource enthalten (gefunden: ${found.length})`, `Bundle.entry.resource.ofType(${type})`);
  }
  return found[0];
}

function resolveAs<R extends Resource>(resolver: EntryResolver, ref: Reference | undefined, from: IndexedEntry, type: R['resourceType']): IndexedEntry<R> | undefined {
  if (!ref?.reference) return undefined;
  const target = resolver.resolve(ref.reference, from);
  return target?.resource.resourceType === type ? (target as IndexedEntry<R>) : undefined;
}

export function readBundleParts(bundle: Bundle): BundleParts {
  if (!bundle || typeof bundle !== 'object' || bundle.resourceType !== 'Bundle') {
    throw fail('Die Verordnung muss eine Bundle-Ressource sein', 'Bundle');
  }
  const { entries, warnings } = indexEntries(bundle);
  const resolver = new EntryResolver(entries);
  checkReferences(resolver);
  const composition = exactlyOne<Composition>(resolver, 'Composition');
  const medicationRequest = exactlyOne<MedicationRequest>(resolver, 'MedicationRequest');
  exactlyOne<Medication>(resolver, 'Medication');
  const patient = exactlyOne<Patient>(resolver, 'Patient');
  const coverage = exactlyOne<Coverage>(resolver, 'Coverage');
  const mrAt = `Bundle.entry[${medicationRequest.index}].resource`;
  const medication = resolveAs<Medication>(resolver, medicationRequest.resource.medicationReference, medicationRequest, 'Medication');
  if (!medication) throw fail('MedicationRequest.medicationReference muss auf die Medication im Bundle verweisen', `${mrAt}.medicationReference`);
  const practitioner = resolveAs<Practitioner>(resolver, medicationRequest.resource.requester, medicationRequest, 'Practitioner');
  const organization = resolveAs<Organization>(resolver, composition.resource.custodian, composition, 'Organization')
    ?? (resolver.ofType<Organization>('Organization').length === 1 ? resolver.ofType<Organization>('Organization')[0] : undefined);
  return { resolver, warnings, composition, medicationRequest, medication, patient, coverage, practitioner, organization };
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

/** Reads the facts; throws FhirError(400) naming the element that is missing or unreadable. */
export function extractPrescriptionFacts(bundle: Bundle): PrescriptionFacts {
  return factsFromParts(bundle, readBundleParts(bundle));
}

function bundleProfile(bundle: Bundle): { url: string; version?: string; canonical: string } {
  const canonical = (bundle.meta?.profile ?? []).find((p) => {
    const url = splitCanonical(p).url;
    return url === PROFILE.bundle || url === PROFILE.evdgaBundle;
  });
  if (!canonical) throw fail(`meta.profile muss ${PROFILE.bundle} mit Version angeben`, 'Bundle.meta.profile');
  const c = splitCanonical(canonical);
  if (c.url === PROFILE.evdgaBundle) {
    throw new FhirError(400, 'KBV_PR_EVDGA_Bundle (DiGA, Flowtype 162) wird von dieser Validierung nicht unterstützt', {
      code: 'not-supported', expression: ['Bundle.meta.profile'],
    });
  }
  return { ...c, canonical };
}

function factsFromParts(bundle: Bundle, p: BundleParts): PrescriptionFacts {
  const profile = bundleProfile(bundle);
  const kbvVersion = majorMinor(profile.version);
  if (!kbvVersion) throw fail(`meta.profile ${profile.canonical}: Profilversion fehlt oder ist ungültig`, 'Bundle.meta.profile');
  const prescriptionId = bundle.identifier?.value;
  if (!prescriptionId) throw fail('Bundle.identifier (PrescriptionID) fehlt', 'Bundle.identifier');

  const mr = p.medicationRequest.resource;
  const mrAt = `Bundle.entry[${p.medicationRequest.index}].resource`;
  if (!mr.id) throw fail('MedicationRequest.id fehlt', `${mrAt}.id`);
  const authoredOn = mr.authoredOn;
  if (!authoredOn || !isCalendarDay(authoredOn)) {
    throw fail('MedicationRequest.authoredOn fehlt oder ist kein Datum (YYYY-MM-DD)', `${mrAt}.authoredOn`);
  }

  const patient = p.patient.resource;
  const patientName = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  const kvnrIdentifier = patient.identifier?.find((i) => i.system === SYSTEM.kvid10);

  const coverage = p.coverage.resource;
  const coverageType = codingOf(coverage.type, SYSTEM.versicherungsart)?.code;
  if (!coverageType) {
    throw fail(`Coverage.type (${SYSTEM.versicherungsart}) fehlt`, `Bundle.entry[${p.coverage.index}].resource.type`);
  }
  const payor = coverage.payor?.[0];

  const medication = p.medication.resource;
  const medAt = `Bundle.entry[${p.medication.index}].resource`;
  const kind = medicationKind(medication);
  if (!kind) {
    throw fail('Medication: kein KBV-Profil (KBV_PR_ERP_Medication_PZN/_Ingredient/_Compounding/_FreeText)', `${medAt}.meta.profile`);
  }
  const display = medicationDisplay(kind, medication);
  if (!display) throw fail(`Medication (${kind}): Bezeichnung fehlt`, kind === 'PZN' || kind === 'FreeText' ? `${medAt}.code.text` : `${medAt}.ingredient`);

  const practitioner = p.practitioner?.resource;
  const organization = p.organization?.resource;
  const composition = p.composition.resource;
  const dosage = mr.dosageInstruction?.[0];

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
    medication: {
      kind,
      display,
      pzn: codingOf(medication.code, SYSTEM.pzn)?.code,
      category: extension(medication, EXT.medicationCategory)?.valueCoding?.code,
    },
    medicationRequest: {
      id: mr.id,
      dosageText: dosage?.text ?? dosage?.patientInstruction,
      quantity: mr.dispenseRequest?.quantity?.value,
      substitutionAllowed: mr.substitution?.allowedBoolean,
      multiplePrescription: multiplePrescription(mr),
      emergencyFee: extension(mr, EXT.emergencyFee)?.valueBoolean,
    },
    statusKennzeichen: extension(composition, EXT.legalBasis)?.valueCoding?.code,
    formularArt: codingOf(composition.type, SYSTEM.formularArt)?.code,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Rules (each throws FhirError(400) naming the rule, or returns warnings)

const at = (e: IndexedEntry) => `Bundle.entry[${e.index}].resource`;

export function checkProfileVersion(bundle: Bundle, now: Date): void {
  const profile = bundleProfile(bundle);
  if (!isErpVersionAccepted(profile.version, now)) {
    const window = configWindowAt(now);
    throw fail(
      `KBV-Profilversion ${profile.version ?? '(keine)'} von KBV_PR_ERP_Bundle wird am ${berlinDay(now)} nicht akzeptiert (zulässig: ${window?.erp.join(', ') || 'keine'})`,
      'Bundle.meta.profile', 'business-rule',
    );
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

export function checkComposition(p: BundleParts, requirePractitioner: boolean): void {
  const c = p.composition;
  const comp = c.resource;
  if (c.index !== 0) throw fail('Die Composition muss der erste Eintrag eines document-Bundles sein', 'Bundle.entry[0].resource');
  if (!profileOf(comp, PROFILE.composition)) throw fail(`Composition.meta.profile muss ${PROFILE.composition} sein`, `${at(c)}.meta.profile`);
  const formular = codingOf(comp.type, SYSTEM.formularArt)?.code;
  if (formular !== 'e16A') {
    throw fail(`Formular-Art (Composition.type) muss 'e16A' (${SYSTEM.formularArt}) sein, nicht '${formular ?? ''}'`, `${at(c)}.type.coding.code`, 'value');
  }
  if (!extension(comp, EXT.legalBasis)?.valueCoding?.code) {
    throw fail('Composition: Rechtsgrundlage (KBV_EX_FOR_Legal_basis, Statuskennzeichen) fehlt', `${at(c)}.extension`);
  }
  const sectionTarget = (code: string) => {
    const section = comp.section?.find((s) => codingOf(s.code, SYSTEM.sectionType)?.code === code);
    if (!section) throw fail(`Composition: Abschnitt (section) '${code}' fehlt`, `${at(c)}.section`, 'required');
    const ref = section.entry?.[0]?.reference;
    return ref ? p.resolver.resolve(ref, c) : undefined;
  };
  if (sectionTarget('Prescription') !== p.medicationRequest) {
    throw fail("Composition: section 'Prescription' muss auf den MedicationRequest verweisen", `${at(c)}.section`);
  }
  if (sectionTarget('Coverage') !== p.coverage) {
    throw fail("Composition: section 'Coverage' muss auf die Coverage verweisen", `${at(c)}.section`);
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
export function checkPatient(p: BundleParts, coverageType: string): void {
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

/** A_23443-01/A_22347-01: PKV only for 200/209; IK numbers as 9 digits in the current NamingSystem. */
export function checkCoverage(p: BundleParts, flowType: string, coverageType: string): void {
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
  if (resolveAs<Patient>(p.resolver, cov.resource.beneficiary, cov, 'Patient') !== p.patient) {
    throw fail('Coverage.beneficiary muss auf den Patient verweisen', `${at(cov)}.beneficiary`);
  }
}

export function checkOrganization(p: BundleParts): void {
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
export function checkPractitioner(p: BundleParts, requirePractitioner: boolean): BundleWarning[] {
  const mrAt = at(p.medicationRequest);
  if (!p.practitioner) {
    if (p.medicationRequest.resource.requester?.reference) {
      throw fail('MedicationRequest.requester muss auf einen Practitioner im Bundle verweisen', `${mrAt}.requester`);
    }
    if (requirePractitioner) throw fail('Verordnende Person (Practitioner, MedicationRequest.requester) fehlt', `${mrAt}.requester`, 'required');
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
      if (!pzn || !/^[0-9]{8}$/.test(pzn)) throw fail(`PZN-Verordnung: PZN (${SYSTEM.pzn}) mit 8 Ziffern fehlt`, `${at(med)}.code.coding`, 'value');
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
export function checkAuthoredOn(facts: PrescriptionFacts, signingTime: Date, p: BundleParts): void {
  if (berlinDay(signingTime) !== facts.authoredOn) {
    throw fail('Ausstellungsdatum und Signaturzeitpunkt weichen voneinander ab, müssen aber taggleich sein', `${at(p.medicationRequest)}.authoredOn`, 'business-rule');
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
  bundleProfile(bundle);
  if (flowType === '162') {
    throw new FhirError(400, 'Flowtype 162 (DiGA) erfordert ein KBV_PR_EVDGA_Bundle; das wird nicht unterstützt', { code: 'not-supported', expression: ['Bundle.meta.profile'] });
  }
  checkProfileVersion(bundle, now);
  checkBundleType(bundle);
  const parts = readBundleParts(bundle);
  const facts = factsFromParts(bundle, parts);
  checkComposition(parts, requirePractitioner);
  checkMultiplePrescription(parts, facts, flowType);
  checkMedication(parts, facts, flowType);
  checkPrescriptionId(bundle, flowType, context.taskPrescriptionId);
  if (context.signingTime) checkAuthoredOn(facts, context.signingTime, parts);
  checkCoverage(parts, flowType, facts.coverage.type);
  checkPatient(parts, facts.coverage.type);
  checkOrganization(parts);
  checkQuantity(parts);
  const lanrWarnings = checkPractitioner(parts, requirePractitioner);
  return { facts, warnings: [...parts.warnings, ...lanrWarnings] };
}
