// FHIR decimals keep their written form ("1.50" stays "1.50", "1e2" stays "1e2"), as the spec requires for
// precision, while the resource object stays plain FHIR JSON with ordinary numbers.
//
// Approach: the parsed value is a normal JS number (so code, types and deepEqual work as usual) and the exact
// text sits in a side table: a WeakMap from the object (or array) holding the number to { key: text }.
// The writers (toXml, toJson) emit the remembered text when the number at that key still equals Number(text);
// otherwise (the value was changed) they emit the number as JS prints it. Nothing is copied and nothing leaks:
// the table entry goes away with the object. A copy made with spread/structuredClone loses the exact text and
// falls back to the JS form (1.5), which is the same number.
const exactText = new WeakMap<object, Record<string, string>>();

/** Remembers how the decimal at holder[key] was written (call after storing the number). */
export function rememberDecimal(holder: object, key: string | number, text: string): void {
  let texts = exactText.get(holder);
  if (!texts) {
    texts = Object.create(null) as Record<string, string>;
    exactText.set(holder, texts);
  }
  texts[key] = text;
}

/**
 * Sets holder[key] to the decimal written as `text` (e.g. setDecimal(quantity, 'value', '1.50')),
 * for code that builds resources and must send an exact decimal.
 */
export function setDecimal(holder: Record<string, unknown> | unknown[], key: string | number, text: string): void {
  if (!DECIMAL.test(text)) throw new Error(`not a FHIR decimal: ${text}`);
  (holder as Record<string | number, unknown>)[key] = Number(text);
  rememberDecimal(holder, key, text);
}

/** The text to write for the decimal `value` at holder[key]. */
export function decimalText(holder: object, key: string | number, value: number): string {
  const text = exactText.get(holder)?.[key];
  if (text !== undefined && Number(text) === value) return text;
  return String(value);
}

/** True when holder has remembered decimal texts (a fast check for the JSON writer). */
export function hasDecimalTexts(holder: object): boolean {
  return exactText.has(holder);
}

/** FHIR R4 decimal lexical form. */
export const DECIMAL = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/** Whether JS would print this decimal differently (then the text must be remembered). */
export function needsExactText(text: string, value: number): boolean {
  return String(value) !== text;
}
