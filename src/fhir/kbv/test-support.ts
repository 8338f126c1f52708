// Shared by the kbv tests: a valid bundle from the seeded world, and small mutation helpers.
import assert from 'node:assert/strict';
import { FhirError } from '../errors.ts';
import { formatPrescriptionId, kvnrWithCheckDigit } from '../identifiers.ts';
import { insured, physician, practice } from '../../seed/identities.ts';
import type { Bundle, Coverage, Patient, Resource } from '../types.ts';
import { buildPrescriptionBundle, type BuildPrescriptionInput } from './build-bundle.ts';

export const NOW = new Date('2026-11-23T10:00:00Z');
export const TODAY = '2026-11-23';
export const PRESCRIPTION_ID = formatPrescriptionId('160', 4711);

export function validInput(overrides: Partial<BuildPrescriptionInput> = {}): BuildPrescriptionInput {
  const lisa = insured[0];
  return {
    flowType: '160',
    prescriptionId: PRESCRIPTION_ID,
    authoredOn: TODAY,
    patient: lisa,
    coverage: lisa.coverage!,
    physician,
    practice,
    medication: { kind: 'PZN', pzn: '00814665', display: 'Januvia® 50 mg 28 Filmtabletten N1', normgroesse: 'N1', form: 'FTA' },
    dosage: '1-0-0-0',
    quantity: 1,
    ...overrides,
  };
}

export const validBundle = (overrides: Partial<BuildPrescriptionInput> = {}) => buildPrescriptionBundle(validInput(overrides));

export function resourceOf<R extends Resource>(bundle: Bundle, type: R['resourceType']): R {
  const r = bundle.entry?.find((e) => e.resource?.resourceType === type)?.resource;
  assert.ok(r, `no ${type} in bundle`);
  return r as R;
}

/** Asserts a FhirError 400 whose message matches the rule. */
export function assertRefused(fn: () => unknown, message: RegExp, code?: string): FhirError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof FhirError, `expected FhirError, got ${String(caught)}`);
  assert.equal(caught.status, 400, caught.message);
  assert.match(caught.message, message);
  if (code) assert.equal(caught.code, code);
  assert.ok(caught.expression?.length, 'expression names the element');
  return caught;
}

/** The gematik DiGA example (KBV_PR_EVDGA_Bundle 1.1, flowtype 162), relative to the kbv-bundle fixtures. */
export const EVDGA_EXAMPLE = 'valid/api-2025-01-15_evdga_bundle_flowtype162.xml';

export interface ExampleRepair {
  why: string;
  edit: (bundle: Bundle) => void;
  /** How the Fachdienst refuses the example without this repair. */
  without: RegExp;
}

/**
 * Besides its placeholder PrescriptionID, the DiGA example has two defects, listed in the order the validator meets
 * them. The tests repair them and show that each one alone is refused.
 */
export const EVDGA_EXAMPLE_REPAIRS: ExampleRepair[] = [
  {
    why: "Coverage.beneficiary points to 'Patient/9774f67f-…-Pat-GKV' (the ERP example's Patient), which is not in the bundle",
    edit: (b) => {
      resourceOf<Coverage>(b, 'Coverage').beneficiary = { reference: `Patient/${resourceOf<Patient>(b, 'Patient').id}` };
    },
    without: /Referenz 'Patient\/9774f67f-a238-4daf-b4e6-Pat-GKV' lässt sich im Bundle nicht auflösen/,
  },
  {
    why: 'KVNR X234567890 fails its check digit',
    edit: (b) => {
      resourceOf<Patient>(b, 'Patient').identifier!.find((i) => i.system === 'http://fhir.de/sid/gkv/kvid-10')!.value = kvnrWithCheckDigit('X23456789');
    },
    without: /Ungültige Versichertennummer \(KVNR\) X234567890: .*Prüfziffer/,
  },
];
