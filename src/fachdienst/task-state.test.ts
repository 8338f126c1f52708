import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FhirError } from '../fhir/errors.ts';
import { assertTransition, transitionStatus, type TaskOperation, type TaskStatus } from './task-state.ts';

// Expected codes written out from erp-api §2.1/§2.2 (FD handlers), independent of the tables in task-state.ts.
// 0 = allowed. Columns: draft, ready, in-progress, completed, cancelled.
const PHARMACY: Record<Exclude<TaskOperation, 'abort'>, number[]> = {
  activate: [0, 403, 403, 403, 410],
  accept: [409, 0, 409, 409, 410],
  reject: [403, 403, 0, 403, 410],
  dispense: [403, 403, 0, 403, 410],
  close: [403, 403, 0, 403, 410],
};
const ABORT: Record<'insured' | 'prescriber' | 'pharmacy', number[]> = {
  insured: [403, 0, 403, 0, 410],
  prescriber: [403, 0, 403, 403, 410],
  pharmacy: [403, 403, 0, 403, 410],
};
const STATES: TaskStatus[] = ['draft', 'ready', 'in-progress', 'completed', 'cancelled'];

test('operations other than $abort follow the gematik state table', () => {
  for (const [op, codes] of Object.entries(PHARMACY) as [TaskOperation, number[]][]) {
    STATES.forEach((state, i) => assert.equal(transitionStatus(op, state, 'pharmacy', '160'), codes[i], `${op} in ${state}`));
  }
});

test('$abort depends on the role; insured may abort 169/209 only when completed', () => {
  for (const [role, codes] of Object.entries(ABORT) as ['insured' | 'prescriber' | 'pharmacy', number[]][]) {
    STATES.forEach((state, i) => assert.equal(transitionStatus('abort', state, role, '160'), codes[i], `${role} abort in ${state}`));
  }
  assert.deepEqual(STATES.map((s) => transitionStatus('abort', s, 'insured', '169')), [403, 403, 403, 0, 410]);
  assert.deepEqual(STATES.map((s) => transitionStatus('abort', s, 'insured', '209')), [403, 403, 403, 0, 410]);
});

test('errors carry the FD texts', () => {
  const text = (op: TaskOperation, s: TaskStatus) => {
    try {
      assertTransition(op, s, 'pharmacy', '160');
    } catch (err) {
      return (err as FhirError).message;
    }
    return '';
  };
  assert.equal(text('activate', 'ready'), 'Task not in status draft but in status ready');
  assert.equal(text('accept', 'in-progress'), 'Task has invalid status in-progress');
  assert.equal(text('close', 'cancelled'), 'Task has already been deleted');
  assert.equal(text('abort', 'draft'), 'Abort not expected for newly created Task');
});
