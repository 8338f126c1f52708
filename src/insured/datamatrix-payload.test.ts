import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import bwipjs from 'bwip-js/node';
import { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader';
import { formatPrescriptionId } from '../fhir/identifiers.ts';
import { parseScannedInput } from '../pharmacy/scanned-token.ts';
import { dataMatrixOptions, dataMatrixPayload, groupForCodes } from './datamatrix-payload.ts';

const ac = 'a'.repeat(32) + '0123456789abcdef0123456789abcdef';
const tokens = [1, 2, 3].map((n) => ({ taskId: formatPrescriptionId('160', n), accessCode: ac }));

test('payload is the gematik JSON without host', () => {
  assert.equal(dataMatrixPayload(tokens.slice(0, 1)), `{"urls":["Task/${tokens[0].taskId}/$accept?ac=${ac}"]}`);
  assert.throws(() => dataMatrixPayload([]), RangeError);
  assert.throws(() => dataMatrixPayload([...tokens, tokens[0]]), RangeError);
  assert.deepEqual(groupForCodes([1, 2, 3, 4, 5, 6, 7]), [[1, 2, 3], [4, 5, 6], [7]]);
});

test('a DataMatrix PNG of three tokens decodes (zxing-wasm, local wasm) back to the same tokens', async () => {
  const wasm = readFileSync(createRequire(import.meta.url).resolve('zxing-wasm/reader/zxing_reader.wasm'));
  prepareZXingModule({ overrides: { wasmBinary: wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) as ArrayBuffer }, fireImmediately: true });
  const payload = dataMatrixPayload(tokens);
  const png = await bwipjs.toBuffer(dataMatrixOptions(payload, 3) as never);
  const [result] = await readBarcodes(new Uint8Array(png), { formats: ['DataMatrix'] });
  assert.equal(result?.text, payload);
  assert.deepEqual(parseScannedInput(result.text), tokens);
});
