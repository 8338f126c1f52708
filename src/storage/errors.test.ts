import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FhirError } from '../fhir/errors.ts';
import { isConnectionFailure, isSerializationFailure, isUniqueViolation, mapConnectionFailure, sqlState } from './errors.ts';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });
const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code, errno: -111, syscall: 'connect' });

test('connection failures are recognised by SQLSTATE, errno and pg message', () => {
  for (const err of [
    pgError('57P01', 'terminating connection due to administrator command'),
    pgError('57P02'),
    pgError('57P03', 'the database system is shutting down'),
    pgError('08006'),
    pgError('08001'),
    pgError('53300', 'sorry, too many clients already'),
    errno('ECONNREFUSED'),
    errno('ECONNRESET'),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
    new AggregateError([errno('ECONNREFUSED'), errno('ECONNREFUSED')], ''),
  ]) {
    assert.equal(isConnectionFailure(err), true, `${(err as { code?: string }).code ?? err.message}`);
  }
});

test('other database errors are not connection failures and pass through unchanged', () => {
  for (const err of [pgError('23505'), pgError('40001'), pgError('42P01', 'relation "x" does not exist'), new Error('boom'), new FhirError(400, 'bad')]) {
    assert.equal(isConnectionFailure(err), false);
    assert.equal(mapConnectionFailure(err), err);
  }
});

test('a connection failure maps to 503 transient with Retry-After and keeps the cause', () => {
  const cause = pgError('57P01', 'terminating connection due to administrator command');
  const mapped = mapConnectionFailure(cause);
  assert.ok(mapped instanceof FhirError);
  assert.equal(mapped.status, 503);
  assert.equal(mapped.code, 'transient');
  assert.equal(mapped.message, 'Datenbank vorübergehend nicht erreichbar');
  assert.deepEqual(mapped.headers, { 'Retry-After': '1' });
  assert.equal(mapped.cause, cause);
  assert.equal(mapConnectionFailure(mapped), mapped);
  assert.equal(isConnectionFailure(mapped), true);
  assert.equal(sqlState(mapped), '57P01');
});

test('unique violation and serialization failure helpers read the SQLSTATE, also through a cause', () => {
  assert.equal(isUniqueViolation(pgError('23505')), true);
  assert.equal(isUniqueViolation(new Error('wrapped', { cause: pgError('23505') })), true);
  assert.equal(isUniqueViolation(pgError('23503')), false);
  assert.equal(isSerializationFailure(pgError('40001')), true);
  assert.equal(isSerializationFailure(pgError('40P01')), true);
  assert.equal(isSerializationFailure(pgError('23505')), false);
  assert.equal(isUniqueViolation(undefined), false);
  assert.equal(isUniqueViolation('23505'), false);
});
