// Which KBV profile versions the Fachdienst accepts on which day (erp-api §2.6, FD fhir-transition configs).
// The one table to edit when gematik publishes the next transition.
import { berlinDay } from './dates.ts';

export interface FhirConfigWindow {
  name: string;
  /** First day (Europe/Berlin), inclusive. */
  from: string;
  /** Last day (Europe/Berlin), inclusive; open-ended when absent. */
  to?: string;
  /** Accepted KBV_PR_ERP_Bundle profile versions (major.minor; package kbv.ita.erp in the comment). */
  erp: string[];
  /** Accepted KBV_PR_EVDGA_Bundle profile versions (major.minor; package kbv.itv.evdga). */
  evdga: string[];
}

export const FHIR_CONFIG_WINDOWS: readonly FhirConfigWindow[] = [
  // Before the first published transition file: KBV 1.1 was the only version since 2023-07-01 (assumption, not in §2.6).
  { name: 'pre-2025-07', from: '2023-07-01', to: '2025-07-14', erp: ['1.1'], evdga: ['1.1'] },
  { name: 'erp_2025_04', from: '2025-07-15', to: '2025-09-30', erp: ['1.1'] /* 1.1.2 */, evdga: ['1.1'] /* 1.1.1 */ },
  { name: 'erp_2025_05', from: '2025-10-01', to: '2026-01-11', erp: ['1.1', '1.3'] /* 1.1.2, 1.3.2 */, evdga: ['1.1', '1.2'] },
  // 2026-01-12..26 is not covered by the digest; both neighbours accept 1.1 and 1.3, so we do too (assumption).
  { name: 'gap-2026-01', from: '2026-01-12', to: '2026-01-26', erp: ['1.1', '1.3'], evdga: ['1.1', '1.2'] },
  { name: 'erp_2026_01-1', from: '2026-01-27', to: '2026-03-31', erp: ['1.1', '1.3'] /* 1.1.2, 1.3.3 */, evdga: ['1.1', '1.2'] },
  { name: 'erp_2026_02', from: '2026-04-01', to: '2026-06-30', erp: ['1.3'] /* 1.3.3 */, evdga: ['1.2'] },
  { name: 'erp_2026_03', from: '2026-07-01', to: '2026-09-30', erp: ['1.3', '1.4'] /* 1.3.3, 1.4.3 */, evdga: ['1.2'] },
  { name: 'erp_2026_04', from: '2026-10-01', to: '2027-01-14', erp: ['1.3', '1.4'] /* 1.3.3, 1.4.3 */, evdga: ['1.2'] },
  { name: 'erp_2027_01', from: '2027-01-15', erp: ['1.4'] /* 1.4.3 */, evdga: ['1.2'] },
];

export function configWindowAt(now: Date): FhirConfigWindow | undefined {
  const day = berlinDay(now);
  return FHIR_CONFIG_WINDOWS.find((w) => w.from <= day && (w.to === undefined || day <= w.to));
}

/** `1.1.0` -> `1.1`, `1.3` -> `1.3`; undefined when not a version. */
export function majorMinor(version: string | undefined): string | undefined {
  const m = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(version ?? '');
  return m ? `${m[1]}.${m[2]}` : undefined;
}

/** Whether the Fachdienst accepts this version of the package's bundle profile on the (German) day of `now`. */
export function isVersionAccepted(pkg: 'erp' | 'evdga', version: string | undefined, now: Date): boolean {
  const mm = majorMinor(version);
  return mm !== undefined && (configWindowAt(now)?.[pkg].includes(mm) ?? false);
}

export function isErpVersionAccepted(version: string | undefined, now: Date): boolean {
  return isVersionAccepted('erp', version, now);
}

/** Numeric comparison of major.minor versions (for rules like "T-Rezept only from KBV 1.4"). */
export function versionAtLeast(version: string, minimum: string): boolean {
  const [a1, a2] = version.split('.').map(Number);
  const [b1, b2] = minimum.split('.').map(Number);
  return a1 > b1 || (a1 === b1 && a2 >= b2);
}
