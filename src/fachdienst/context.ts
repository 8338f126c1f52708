// What every Fachdienst operation gets: the store, the clock, its own signing key, the QES check, and small request
// helpers for the gematik access rules (PrescriptionID in the path, AccessCode, Secret).
import type { FastifyRequest } from 'fastify';
import type { KeyAndCert } from '../crypto/pki.ts';
import { forbidden, notFound } from '../fhir/errors.ts';
import { parsePrescriptionId, secretsEqual } from '../fhir/identifiers.ts';
import type { TaskStore, TaskRecord } from './task-store.ts';
import type { EgkOptions } from './operations/get-tasks-egk.ts';

/** A verified QES: the signed content and who signed when. */
export interface VerifiedQes {
  content: Buffer;
  signingTime: Date;
  /** Profession OIDs of the signer certificate's Admission. */
  professionOIDs: string[];
  signerName: string;
  /** The messageDigest the QES was made over (the receipt's Digest). */
  messageDigest: Buffer;
}

/** Checks a CAdES-enveloping QES (trust list, OCSP, profession); throws FhirError 400 / 512. */
export type QesVerifier = (der: Buffer, options: { allowedProfessionOIDs: string[] }) => Promise<VerifiedQes>;

/** A verified SMC-B signature (C.HCI.OSIG) of a pharmacy over the PKV dispense data. */
export interface VerifiedDispenseSignature {
  content: Buffer;
  signingTime: Date;
  /** Telematik-ID of the signing SMC-B. */
  telematikId?: string;
  signerName: string;
}

/** Checks the pharmacy's CAdES over the PKV dispense data (dispense-signature.ts); throws FhirError 400 / 512. */
export type DispenseSignatureVerifier = (der: Buffer, options: { operation: 'POST' | 'PUT'; now: Date }) => Promise<VerifiedDispenseSignature>;

export interface FachdienstContext {
  store: TaskStore;
  now: () => Date;
  /** Public base URL, e.g. http://localhost:8080 (fullUrls, Location, AuditEvent references). */
  baseUrl: string;
  /** The Fachdienst's signing key (C.FD.SIG): receipts (CAdES) and the insured's copy (JWS). */
  signer: KeyAndCert;
  verifyQes: QesVerifier;
  /** The SMC-B signature of the PKV dispense data (POST/PUT /ChargeItem). */
  verifyDispenseSignature: DispenseSignatureVerifier;
  version: string;
  /** GET /Task with the eGK (operations/get-tasks-egk.ts): VSDM key, PN3 acceptance. */
  egk?: EgkOptions;
}

/** PrescriptionID from the URL path; format or checksum wrong -> 404 (FD ErpRequestHandler parseId). */
export function taskIdOf(request: FastifyRequest): string {
  const id = (request.params as { id?: string }).id ?? '';
  if (!parsePrescriptionId(id)) throw notFound('Failed to parse prescription ID from URL parameter');
  return id;
}

function queryParam(request: FastifyRequest, name: string): string | undefined {
  const v = (request.query as Record<string, unknown> | undefined)?.[name];
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : undefined;
  return typeof v === 'string' ? v : undefined;
}

export { queryParam };

/** AccessCode: `?ac=` first, else the `X-AccessCode` header (FD TaskHandler getAccessCode). */
export function accessCodeOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-accesscode'];
  return queryParam(request, 'ac') ?? (typeof header === 'string' ? header : undefined);
}

export function secretOf(request: FastifyRequest): string | undefined {
  return queryParam(request, 'secret');
}

const BRUTE_FORCE = { 'VAU-Error-Code': 'brute_force' };

/** 403 with the VAU brute_force hint unless the AccessCode matches (A_20703). */
export function assertAccessCode(task: TaskRecord, given: string | undefined): void {
  if (!secretsEqual(task.accessCode ?? undefined, given)) throw forbidden('AccessCode mismatch', { headers: BRUTE_FORCE });
}

export function assertSecret(task: TaskRecord, given: string | undefined): void {
  if (!secretsEqual(task.secret ?? undefined, given)) throw forbidden('No or invalid secret provided for Task', { headers: BRUTE_FORCE });
}
