// Reading 2D codes in the browser with zxing-wasm; its wasm is bundled and served by us, never fetched from a CDN.
import { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader';
import wasmUrl from 'zxing-wasm/reader/zxing_reader.wasm?url';

let prepared = false;

function prepare(): void {
  if (prepared) return;
  prepareZXingModule({ overrides: { locateFile: (path: string, prefix: string) => (path.endsWith('.wasm') ? wasmUrl : prefix + path) } });
  prepared = true;
}

/** The texts of the DataMatrix/QR codes found in an image file or a camera frame. */
export async function decodeCodes(image: Blob | ImageData): Promise<string[]> {
  prepare();
  const results = await readBarcodes(image, { formats: ['DataMatrix', 'QRCode'], tryHarder: true, maxNumberOfSymbols: 4 });
  return results.filter((r) => r.isValid).map((r) => r.text);
}
