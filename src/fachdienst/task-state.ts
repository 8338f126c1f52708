// The Task state machine of the gematik E-Rezept (erp-api §2) as data: which operation runs in which state, by whom,
// and which status code a caller gets otherwise. Operations and matrix tests both read these tables.
import { FhirError, conflict, forbidden, gone } from '../fhir/errors.ts';
import type { Role } from './auth.ts';

export type TaskStatus = 'draft' | 'ready' | 'in-progress' | 'completed' | 'cancelled';
export const TASK_STATUSES: TaskStatus[] = ['draft', 'ready', 'in-progress', 'completed', 'cancelled'];

export type TaskOperation = 'activate' | 'accept' | 'reject' | 'dispense' | 'close' | 'abort';

interface Transition {
  /** States the operation runs in. */
  from: TaskStatus[];
  /** State after success. */
  to: TaskStatus;
  /** Status code when the Task is in any other (not cancelled) state: $accept 409, everything else 403 (FD code). */
  wrongState: 403 | 409;
}

export const TRANSITIONS: Record<TaskOperation, Transition> = {
  activate: { from: ['draft'], to: 'ready', wrongState: 403 },
  accept: { from: ['ready'], to: 'in-progress', wrongState: 409 },
  reject: { from: ['in-progress'], to: 'ready', wrongState: 403 },
  dispense: { from: ['in-progress'], to: 'in-progress', wrongState: 403 },
  close: { from: ['in-progress'], to: 'completed', wrongState: 403 },
  abort: { from: ['ready', 'in-progress', 'completed'], to: 'cancelled', wrongState: 403 },
};

/** Who may run which operation at all (403 otherwise, before the Task is looked at). */
export const OPERATION_ROLES: Record<TaskOperation | 'create', Role[]> = {
  create: ['prescriber'],
  activate: ['prescriber'],
  accept: ['pharmacy', 'payer'],
  reject: ['pharmacy', 'payer'],
  dispense: ['pharmacy'],
  close: ['pharmacy', 'payer'],
  abort: ['insured', 'prescriber', 'pharmacy'],
};

/** $abort per role (A_19120 prescriber only ready, A_19146 pharmacy only in-progress, insured not in-progress). */
export const ABORT_STATES: Partial<Record<Role, TaskStatus[]>> = {
  insured: ['ready', 'completed'],
  prescriber: ['ready'],
  pharmacy: ['in-progress'],
};

/** Flowtypes where the provider steers the workflow: no AccessCode for the insured, insured abort only when completed. */
export const PROVIDER_STEERED_FLOWTYPES = ['169', '209'];

function wrongStateMessage(operation: TaskOperation, status: TaskStatus): string {
  switch (operation) {
    case 'activate':
      return `Task not in status draft but in status ${status}`;
    case 'accept':
      return `Task has invalid status ${status}`;
    case 'abort':
      return status === 'draft' ? 'Abort not expected for newly created Task' : `Task in status ${status} can not be aborted`;
    default:
      return `Task not in status in-progress but in status ${status}`;
  }
}

/**
 * Throws the gematik error when `operation` is not allowed for `role` on a Task in `status`: 410 when cancelled,
 * 409/403 for a wrong state. Access checks (AccessCode, Secret) come before this in each operation.
 */
export function assertTransition(operation: TaskOperation, status: TaskStatus, role: Role, flowType: string): void {
  if (status === 'cancelled') throw gone('Task has already been deleted');
  const rule = TRANSITIONS[operation];
  let allowed = rule.from;
  if (operation === 'abort') {
    allowed = ABORT_STATES[role] ?? [];
    if (role === 'insured' && PROVIDER_STEERED_FLOWTYPES.includes(flowType)) allowed = ['completed'];
  }
  if (allowed.includes(status)) return;
  const message = wrongStateMessage(operation, status);
  throw rule.wrongState === 409 ? conflict(message) : forbidden(message);
}

/** Status code of `assertTransition` without throwing (0 = allowed); for reasoning and tests. */
export function transitionStatus(operation: TaskOperation, status: TaskStatus, role: Role, flowType: string): number {
  try {
    assertTransition(operation, status, role, flowType);
    return 0;
  } catch (err) {
    return (err as FhirError).status;
  }
}
