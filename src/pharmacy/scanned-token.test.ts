import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPrescriptionId } from '../fhir/identifiers.ts';
import { formatToken, parseScannedInput, parseToken, TokenInputError } from './scanned-token.ts';

const id1 = formatPrescriptionId('160', 1);
const id2 = formatPrescriptionId('160', 2);
const ac = '777bea0e13cc9c42ceec14aec3ddee2263325dc2c6c699db115f58fe423607ea';

test('the gematik JSON code with one and with three tokens', () => {
  assert.deepEqual(parseScannedInput(`{"urls":["Task/${id1}/$accept?ac=${ac}"]}`), [{ taskId: id1, accessCode: ac }]);
  const three = [1, 2, 3].map((n) => `Task/${formatPrescriptionId('160', n)}/$accept?ac=${ac}`);
  assert.equal(parseScannedInput(JSON.stringify({ urls: three })).length, 3);
});

test('a bare token, also wrapped after 45 characters as in KIM; upper-case hex normalised', () => {
  const token = `Task/${id1}/$accept?ac=${ac}`;
  assert.deepEqual(parseScannedInput(`  ${token}\n`), [{ taskId: id1, accessCode: ac }]);
  assert.deepEqual(parseScannedInput(`${token.slice(0, 45)}\r\n${token.slice(45)}`), [{ taskId: id1, accessCode: ac }]);
  assert.equal(parseToken(`Task/${id1}/$accept?ac=${ac.toUpperCase()}`).accessCode, ac);
});

test('duplicates are removed', () => {
  const t = `Task/${id1}/$accept?ac=${ac}`;
  assert.equal(parseScannedInput(JSON.stringify({ urls: [t, t] })).length, 1);
});

test('malicious and malformed codes are rejected with a German message', () => {
  const bad = [
    '',
    '{"urls":[]}',
    '{"urls":"Task/x"}',
    `{"urls":["Task/${id1}/$accept?ac=${ac}"],"evil":"<script>"}`,
    `{"urls":[{"url":"Task/${id1}"}]}`,
    `{"urls":["https://evil.example/Task/${id1}/$accept?ac=${ac}"]}`,
    `{"urls":["Task/${id1}/$accept?ac=${ac}&redirect=https://evil"]}`,
    `{"urls":["Task/${id1}/../../AuditEvent?ac=${ac}"]}`,
    `{"urls":["Task/${id1}/$abort?ac=${ac}"]}`,
    `{"urls":["Task/160.000.000.000.001.99/$accept?ac=${ac}"]}`, // wrong check digits
    `{"urls":["Task/${id1}/$accept?ac=${ac.slice(1)}"]}`,
    `{"urls":["Task/${id1}/$accept?ac=${ac.slice(0, 63)}g"]}`,
    `Task/${id1}/$accept?ac=${ac}\u0000`,
    `\u001b[2JTask/${id1}/$accept?ac=${ac}`,
    `{"urls":["Task/${id1}/$accept?ac=${ac}"`,
    '[1,2,3]',
    'x'.repeat(5000),
    JSON.stringify({ urls: [1, 2, 3, 4].map((n) => `Task/${formatPrescriptionId('160', n)}/$accept?ac=${ac}`) }),
    `'; DROP TABLE task; --`,
  ];
  for (const input of bad) {
    assert.throws(() => parseScannedInput(input), (err: unknown) => err instanceof TokenInputError && /[a-zäöü]/i.test((err as Error).message), `accepted: ${input.slice(0, 80)}`);
  }
  assert.notEqual(id1, id2);
});

test('formatToken checks what it writes', () => {
  assert.equal(formatToken({ taskId: id1, accessCode: ac }), `Task/${id1}/$accept?ac=${ac}`);
  assert.throws(() => formatToken({ taskId: '160.1', accessCode: ac }), TokenInputError);
  assert.throws(() => formatToken({ taskId: id1, accessCode: 'abc' }), TokenInputError);
});
