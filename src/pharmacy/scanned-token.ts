// Reading an E-Rezept token from whatever a scanner, a camera or the clipboard hands us (erp-api §5). Scanned codes
// come from outside and gematik shows real malicious samples, so only the exact shapes are accepted:
// `{"urls":["Task/<PrescriptionID>/$accept?ac=<64 hex>", …]}` (1 to 3 entries) or one bare token.
// No DOM and no Node APIs: the pharmacy app in the browser uses this module as is.
import { isValidPrescriptionId } from '../fhir/identifiers.ts';

export interface ErezeptToken {
  taskId: string;
  accessCode: string;
}

/** A 2D code carries at most this many prescriptions (the insured app puts up to 3 in one code). */
export const MAX_TOKENS_PER_CODE = 3;
/** Longer input cannot be a valid code (3 tokens are about 330 characters). */
const MAX_INPUT_LENGTH = 2000;
const TOKEN = /^Task\/(\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2})\/\$accept\?ac=([0-9a-fA-F]{64})$/;

export class TokenInputError extends Error {
  override name = 'TokenInputError';
}

/** `Task/<id>/$accept?ac=<AccessCode>` — the token text of the 2D code, KIM messages and DispReq `basedOn`. */
export function formatToken({ taskId, accessCode }: ErezeptToken): string {
  if (!isValidPrescriptionId(taskId)) throw new TokenInputError(`"${taskId}" ist keine gültige Rezept-ID`);
  if (!/^[0-9a-fA-F]{64}$/.test(accessCode)) throw new TokenInputError('Der AccessCode muss aus 64 Hexadezimalzeichen bestehen');
  return `Task/${taskId}/$accept?ac=${accessCode.toLowerCase()}`;
}

/** One token string, checked strictly (PrescriptionID with valid check digits, AccessCode 64 hex). */
export function parseToken(text: string): ErezeptToken {
  const m = TOKEN.exec(text);
  if (!m) throw new TokenInputError('Kein E-Rezept-Token: erwartet wird Task/<Rezept-ID>/$accept?ac=<AccessCode>');
  if (!isValidPrescriptionId(m[1])) throw new TokenInputError(`Die Rezept-ID ${m[1]} hat eine ungültige Prüfziffer`);
  return { taskId: m[1], accessCode: m[2].toLowerCase() };
}

/**
 * Parses scanned or pasted input into its tokens (duplicates removed). Throws TokenInputError with a German text
 * for anything else: other JSON keys, URLs with a host, extra query parameters, control characters, too many tokens.
 */
export function parseScannedInput(input: string): ErezeptToken[] {
  if (input.length > MAX_INPUT_LENGTH) throw new TokenInputError('Die Eingabe ist zu lang für einen E-Rezept-Code');
  const text = input.trim();
  if (text === '') throw new TokenInputError('Bitte einen 2D-Code scannen oder ein Token einfügen');
  // Control characters other than line breaks/tabs (which scanners and KIM line wrapping insert) are never valid.
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF\uFFFD]/.test(text)) throw new TokenInputError('Die Eingabe enthält unzulässige Steuerzeichen');
  let urls: string[];
  if (text.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new TokenInputError('Der 2D-Code enthält kein gültiges JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenInputError('Der 2D-Code muss ein JSON-Objekt {"urls": […]} sein');
    const keys = Object.keys(value);
    if (keys.length !== 1 || keys[0] !== 'urls') throw new TokenInputError('Der 2D-Code darf nur das Feld "urls" enthalten');
    const list = (value as { urls: unknown }).urls;
    if (!Array.isArray(list) || list.length === 0) throw new TokenInputError('"urls" muss eine nicht leere Liste sein');
    if (list.some((u) => typeof u !== 'string')) throw new TokenInputError('Jeder Eintrag in "urls" muss ein Text sein');
    urls = list as string[];
  } else {
    // A bare token may arrive wrapped (KIM breaks it after 45 characters); whitespace is never part of it.
    urls = [text.replace(/\s+/g, '')];
  }
  if (urls.length > MAX_TOKENS_PER_CODE) throw new TokenInputError(`Ein Code darf höchstens ${MAX_TOKENS_PER_CODE} E-Rezepte enthalten`);
  const tokens: ErezeptToken[] = [];
  for (const url of urls) {
    const token = parseToken(url);
    if (!tokens.some((t) => t.taskId === token.taskId)) tokens.push(token);
  }
  return tokens;
}
