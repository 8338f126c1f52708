// POST /Task/{id}/$activate: the prescriber hands over the QES-signed KBV bundle; the Task becomes `ready`
// (erp-api §7.1, checks in the FD's order). The signed PKCS#7 is stored byte for byte.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { badRequest, gone, notFound } from '../../fhir/errors.ts';
import { parseFhir } from '../../fhir/codec.ts';
import { validatePrescriptionBundle } from '../../fhir/kbv/prescription-bundle.ts';
import { computeTaskDates } from '../../fhir/kbv/dates.ts';
import type { Binary, Bundle, Parameters } from '../../fhir/types.ts';
import { requireRole } from '../auth.ts';
import { accessCodeOf, assertAccessCode, taskIdOf, type FachdienstContext } from '../context.ts';
import { renderTask } from '../task-resource.ts';
import type { TaskRecord } from '../task-store.ts';
import { OPERATION_ROLES, assertTransition } from '../task-state.ts';

const PHYSICIAN = '1.2.276.0.76.4.30';
const DENTIST = '1.2.276.0.76.4.31';
const PSYCHOTHERAPISTS = ['1.2.276.0.76.4.45', '1.2.276.0.76.4.46', '1.2.276.0.76.4.47'];

/** Profession OIDs the QES certificate must carry per flowtype (A_19225-02, A_25990, A_27812). */
export function qesProfessionsFor(flowType: string): string[] {
  if (flowType === '162') return [PHYSICIAN, DENTIST, ...PSYCHOTHERAPISTS];
  if (flowType === '166') return [PHYSICIAN];
  return [PHYSICIAN, DENTIST];
}

/** The base64 CAdES of the single `ePrescription` parameter (else 400). */
export function ePrescriptionOf(body: unknown): Buffer {
  const params = body as Parameters | undefined;
  if (!params || params.resourceType !== 'Parameters') throw badRequest('Parameters mit ePrescription erwartet');
  const list = params.parameter ?? [];
  if (list.length !== 1 || list[0].name !== 'ePrescription') throw badRequest('Parameters muss genau einen Parameter ePrescription enthalten');
  const binary = list[0].resource as Binary | undefined;
  if (binary?.resourceType !== 'Binary' || !binary.data) throw badRequest('ePrescription muss ein Binary mit data sein');
  const der = Buffer.from(binary.data, 'base64');
  // Canonical base64 (padded, no white space, zero bits before the padding) is exactly what encoding the bytes gives
  // back: one native encode and a string compare instead of a regex over 16 KB. Line breaks or missing padding: the
  // same characters once those are taken out. Anything else (other characters, stray bits) differs.
  const encoded = der.toString('base64');
  const valid = der.length > 0 && (encoded === binary.data
    || encoded.replace(/=+$/, '') === binary.data.replace(/\s+/g, '').replace(/=+$/, ''));
  if (!valid) throw badRequest('ePrescription.data ist kein gültiges base64');
  return der;
}

/** The checks before the signature: Task exists, not cancelled, AccessCode, status draft. */
function precheck(task: TaskRecord, accessCode: string | undefined): void {
  if (task.status === 'cancelled') throw gone('Task has already been deleted');
  assertAccessCode(task, accessCode);
  assertTransition('activate', task.status, 'prescriber', task.flowType);
}

export function registerActivate(app: FastifyInstance, ctx: FachdienstContext): void {
  app.post('/Task/:id/$activate', async (request, reply) => {
    const caller = requireRole(request, OPERATION_ROLES.activate);
    const id = taskIdOf(request);
    const accessCode = accessCodeOf(request);
    const existing = await ctx.store.getTask(id);
    if (!existing) throw notFound(`Task ${id} nicht gefunden`);
    precheck(existing, accessCode);

    // Signature and bundle checks are CPU work: done before the row lock, the state is checked again under it.
    const der = ePrescriptionOf(request.body);
    const qes = await ctx.verifyQes(der, { allowedProfessionOIDs: qesProfessionsFor(existing.flowType) });
    const bundle = parseFhir(qes.content.toString('utf8'), 'xml') as Bundle;
    const now = ctx.now();
    const { facts, warnings } = validatePrescriptionBundle(bundle, {
      flowType: existing.flowType, taskPrescriptionId: id, signingTime: qes.signingTime, now,
    });
    const dates = computeTaskDates(existing.flowType, qes.signingTime, facts);
    const kvnr = facts.patient.kvnr;
    if (!kvnr) throw badRequest('Ungültige Versichertennummer (KVNR): keine KVNR im Verordnungsdatensatz');

    const task = await ctx.store.updateTaskOptimistic(id, async (locked) => {
      precheck(locked, accessCode);
      const patch: Partial<TaskRecord> = {
        status: 'ready',
        kvnr,
        acceptDate: dates.acceptDate,
        expiryDate: dates.expiryDate,
        redeemableFrom: facts.medicationRequest.multiplePrescription?.start ?? null,
        lastModified: now,
        prescriptionCms: der,
        prescriptionBinaryId: randomUUID(),
        patientConfirmationId: randomUUID(),
        prescriptionDigest: qes.messageDigest.toString('base64'),
        bundle,
        isPkv: facts.coverage.type === 'PKV',
      };
      return { patch, audit: { kind: 'activate', kvnr, prescriptionId: id, caller, recorded: now, baseUrl: ctx.baseUrl }, result: { ...locked, ...patch } };
    }, existing);

    let status = 200;
    if (warnings.length > 0) {
      status = Math.min(...warnings.map((w) => w.code));
      reply.header('Warning', warnings.map((w) => `${w.code} erp-fachdienst "${w.text.replace(/"/g, "'")}"`).join(', '));
    }
    return reply.fhir(renderTask(task, { view: 'prescriber' }), status);
  });
}
