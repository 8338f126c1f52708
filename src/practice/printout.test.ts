// The patient printout: the DataMatrix PNG that goes into the PDF decodes (zxing-wasm, wasm loaded from
// node_modules, no CDN) to the gematik JSON with the same tokens; more than three prescriptions give several codes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import { PDFDocument } from 'pdf-lib';
import { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader';
import { chunkForCodes, codePayload, renderDataMatrixPng, renderPrintout, type PrintoutItem } from './printout.ts';

// The package's exports hide dist/reader/*.wasm, so the file is read from node_modules by path.
const WASM = fileURLToPath(new URL('../../node_modules/zxing-wasm/dist/reader/zxing_reader.wasm', import.meta.url));

before(async () => {
  const wasmBinary = readFileSync(WASM);
  await prepareZXingModule({ overrides: { wasmBinary: wasmBinary.buffer.slice(wasmBinary.byteOffset, wasmBinary.byteOffset + wasmBinary.byteLength) as ArrayBuffer }, fireImmediately: true });
});

const item = (n: number): PrintoutItem => ({
  medication: `Präparat ${n}`,
  prescriptionId: `160.000.000.000.${String(n).padStart(3, '0')}.00`,
  accessCode: (n.toString(16).padStart(2, '0')).repeat(32),
});

async function decode(png: Buffer): Promise<string> {
  const results = await readBarcodes(new Uint8Array(png), { formats: ['DataMatrix'] });
  assert.equal(results.length, 1, 'one DataMatrix found');
  return results[0].text;
}

test('a code with three tokens decodes to {"urls":[…]} with the same tokens', async () => {
  const items = [item(1), item(2), item(3)];
  const text = await decode(await renderDataMatrixPng(codePayload(items)));
  assert.deepEqual(JSON.parse(text), { urls: items.map((i) => `Task/${i.prescriptionId}/$accept?ac=${i.accessCode}`) });
});

test('at most three tokens per code: seven prescriptions need three codes', () => {
  const groups = chunkForCodes([1, 2, 3, 4, 5, 6, 7].map(item));
  assert.deepEqual(groups.map((g) => g.length), [3, 3, 1]);
  assert.throws(() => codePayload([1, 2, 3, 4].map(item)), RangeError);
});

test('the PDF holds the codes as images, two codes per page, and names the patient even with non-Latin-1 letters', async () => {
  const pdfBytes = await renderPrintout({ given: 'Ayşe', family: 'Yılmaz', birthDate: '1992-11-17', kvnr: 'M310550123' }, [1, 2, 3, 4, 5, 6, 7].map(item));
  assert.equal(Buffer.from(pdfBytes.subarray(0, 5)).toString(), '%PDF-');
  const pdf = await PDFDocument.load(pdfBytes);
  assert.equal(pdf.getPageCount(), 2);
  const text = Buffer.from(pdfBytes).toString('latin1');
  assert.equal((text.match(/\/Subtype \/Image/g) ?? []).length, 3);
});
