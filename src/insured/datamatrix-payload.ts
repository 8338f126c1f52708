// The insured's 2D code (erp-api §5): JSON `{"urls":["Task/<id>/$accept?ac=<AccessCode>", …]}` without host,
// at most 3 prescriptions per code. Pure functions: the browser draws the code with bwip-js, tests decode it.
import { formatToken, MAX_TOKENS_PER_CODE, type ErezeptToken } from '../pharmacy/scanned-token.ts';

export { MAX_TOKENS_PER_CODE, type ErezeptToken } from '../pharmacy/scanned-token.ts';

/** The text encoded in one DataMatrix code. */
export function dataMatrixPayload(tokens: ErezeptToken[]): string {
  if (tokens.length === 0) throw new RangeError('Ein 2D-Code braucht mindestens ein E-Rezept');
  if (tokens.length > MAX_TOKENS_PER_CODE) throw new RangeError(`Ein 2D-Code enthält höchstens ${MAX_TOKENS_PER_CODE} E-Rezepte`);
  return JSON.stringify({ urls: tokens.map(formatToken) });
}

/** Splits prescriptions into groups that fit one code each (a "Sammelcode" of up to 3). */
export function groupForCodes<T>(items: T[], size = MAX_TOKENS_PER_CODE): T[][] {
  const groups: T[][] = [];
  for (let i = 0; i < items.length; i += size) groups.push(items.slice(i, i + size));
  return groups;
}

/** bwip-js options for the code: DataMatrix, white background (transparent pixels read as black, ecosystem §4). */
export function dataMatrixOptions(payload: string, scale = 4) {
  return { bcid: 'datamatrix', text: payload, scale, padding: 4, backgroundcolor: 'FFFFFF' } as const;
}
