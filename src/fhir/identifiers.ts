// Identifiers of the E-Rezept and their check rules (gematik A_19217-01/A_19218, KVNR mod 10, KBV LANR).
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const FLOW_TYPES = ['160', '162', '166', '169', '200', '209'] as const;
export type FlowType = (typeof FLOW_TYPES)[number];

const PRESCRIPTION_ID = /^(\d{3})\.(\d{3})\.(\d{3})\.(\d{3})\.(\d{3})\.(\d{2})$/;

/** ISO 7064 MOD 97-10 check digits over flowtype and 12-digit sequence number. */
export function prescriptionIdChecksum(flowType: number, sequence: bigint): number {
  const n = BigInt(flowType) * 10n ** 12n + sequence;
  return Number(98n - ((n * 100n) % 97n));
}

/** Formats `aaa.bbb.bbb.bbb.bbb.cc` for a flowtype and a sequence number (0 <= seq < 10^12). */
export function formatPrescriptionId(flowType: string | number, sequence: bigint | number): string {
  const seq = BigInt(sequence);
  if (seq < 0n || seq >= 10n ** 12n) throw new RangeError('sequence out of range');
  const type = Number(flowType);
  const digits = seq.toString().padStart(12, '0');
  const cc = prescriptionIdChecksum(type, seq).toString().padStart(2, '0');
  return `${String(type).padStart(3, '0')}.${digits.slice(0, 3)}.${digits.slice(3, 6)}.${digits.slice(6, 9)}.${digits.slice(9, 12)}.${cc}`;
}

export interface ParsedPrescriptionId {
  flowType: string;
  sequence: bigint;
}

/** Parses a PrescriptionID and checks its check digits; undefined when either fails. */
export function parsePrescriptionId(value: string): ParsedPrescriptionId | undefined {
  const m = PRESCRIPTION_ID.exec(value);
  if (!m) return undefined;
  const sequence = BigInt(m[2] + m[3] + m[4] + m[5]);
  const full = BigInt(m[1]) * 10n ** 14n + sequence * 100n + BigInt(m[6]);
  if (full % 97n !== 1n) return undefined;
  return { flowType: m[1], sequence };
}

export function isValidPrescriptionId(value: string): boolean {
  return parsePrescriptionId(value) !== undefined;
}

/** KVNR (unchangeable part): letter + 8 digits + check digit, weights 1,2,1,2… with cross sum. */
export function isValidKvnr(value: string): boolean {
  if (!/^[A-Z][0-9]{9}$/.test(value)) return false;
  const letter = String(value.charCodeAt(0) - 64).padStart(2, '0');
  const digits = letter + value.slice(1, 9);
  let sum = 0;
  for (let i = 0; i < 10; i++) {
    let p = Number(digits[i]) * (i % 2 === 0 ? 1 : 2);
    if (p > 9) p -= 9;
    sum += p;
  }
  return sum % 10 === Number(value[9]);
}

/** Completes a 9-character KVNR stem (letter + 8 digits) with its check digit. */
export function kvnrWithCheckDigit(stem: string): string {
  for (let d = 0; d <= 9; d++) if (isValidKvnr(stem + d)) return stem + d;
  throw new RangeError(`not a KVNR stem: ${stem}`);
}

/** LANR/ZANR: 9 digits, digit 7 checks digits 1-6 with weights 4,9,4,9,4,9; pseudo-LANR 555555… always passes. */
export function isValidLanr(value: string): boolean {
  if (!/^[0-9]{9}$/.test(value)) return false;
  if (value.startsWith('555555')) return true;
  const weights = [4, 9, 4, 9, 4, 9];
  const s = weights.reduce((acc, w, i) => acc + w * Number(value[i]), 0) % 10;
  return (s + Number(value[6])) % 10 === 0;
}

export function lanrWithCheckDigit(doctorNumber: string, specialty: string): string {
  const weights = [4, 9, 4, 9, 4, 9];
  const s = weights.reduce((acc, w, i) => acc + w * Number(doctorNumber[i]), 0) % 10;
  return `${doctorNumber}${(10 - s) % 10}${specialty}`;
}

/** PZN (PZN-8): digit 8 checks digits 1-7 with weights 1..7 modulo 11; a remainder of 10 is never issued. */
export function isValidPzn(value: string): boolean {
  if (!/^[0-9]{8}$/.test(value)) return false;
  const sum = [...value.slice(0, 7)].reduce((acc, d, i) => acc + Number(d) * (i + 1), 0) % 11;
  return sum !== 10 && sum === Number(value[7]);
}

/** BSNR: 9 digits (KV region key + site number); no public check digit rule. */
export function isValidBsnr(value: string): boolean {
  return /^[0-9]{9}$/.test(value);
}

/** Telematik-ID: sector prefix, '-', issuer-specific rest; at most 128 characters. */
export function isValidTelematikId(value: string): boolean {
  return value.length <= 128 && /^\d{1,2}-\S+$/.test(value);
}

/** AccessCode and Secret: 256 random bits as 64 lower-case hex characters (A_19021-02, A_19169-01). */
export function randomToken(): string {
  return randomBytes(32).toString('hex');
}

export function isToken(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}

/** Compares two secrets in constant time (for equal lengths; a length mismatch is not secret). */
export function secretsEqual(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) return false;
  return timingSafeEqual(x, y);
}
