// VSDM proof of presence: what the Konnektor's ReadVSD returns after the online check of an eGK (the Prüfungsnachweis,
// PNW) and what the Fachdienst checks before it lists an insured's Tasks to a pharmacy (GET /Task?kvnr&hcv&pnw).
//
// PNW = base64(gzip(<PN xmlns="http://ws.gematik.de/fa/vsdm/pnw/v1.0"><TS/><E/>[<EC/>][<PZ/>]</PN>)). TS is the check
// time (yyyyMMddHHmmss, UTC), E the result (1 data updated, 2 nothing to update, 3 check not possible: no PZ).
// The Prüfziffer PZ is 47 bytes, base64 (64 characters), in one of two versions:
//   V1: KVNR (10) | Unix time, 10 ASCII digits | update flag | key operator id | key version  (23 bytes)
//       + the first 24 bytes of HMAC-SHA256(VSDM key, those 23 bytes).
//   V2 (VSDM++, carries the hcv): 1 byte 0x80 | (operator - 'A') << 2 | version, 12 byte IV, AES-128-GCM over
//       hcv (5, top bit = card revoked) | iat (3 bytes, seconds since 2025-01-01 / 8) | KVNR (10), 16 byte tag;
//       AES key = HKDF-SHA256(VSDM key, no salt, info "VSDM+ Version 2 AES/GCM").
// hcv = first 5 bytes of SHA-256(Versicherungsbeginn + Straße), top bit cleared; sent base64url without padding.
// The VSDM key is shared between the VSDM service (here: the simulated Konnektor) and the Fachdienst.
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { gzipSync, gunzipSync } from 'node:zlib';
import { parseChecked, tagOf, type XmlNode } from '../fhir/xml.ts';

export const PNW_NS = 'http://ws.gematik.de/fa/vsdm/pnw/v1.0';
export const PZ_LENGTH = 47;
/** Longest PNW we read (characters of the base64 text); a real one is about 250. */
export const MAX_PNW_LENGTH = 4096;
/** Largest inflated PNW XML (bytes): a gzip bomb stops here. */
export const MAX_PNW_XML_BYTES = 8192;

const V2_INFO = 'VSDM+ Version 2 AES/GCM';
const V2_EPOCH_SECONDS = 1_735_689_600; // 2025-01-01T00:00:00Z

export interface VsdmKey {
  /** Operator of the VSDM service, 'A'..'Z'. */
  operatorId: string;
  /** Key version, '0'..'3'. */
  version: string;
  secret: Buffer;
}

/** Why a proof was refused; the Fachdienst maps the kind to its status code and text. */
export class VsdmProofError extends Error {
  override name = 'VsdmProofError';
  constructor(readonly kind: 'decode' | 'format' | 'mac', message: string) {
    super(message);
  }
}

/** A_27352: hcv from the eGK's Versicherungsbeginn (yyyyMMdd, spaces removed) and street (trimmed, '' if none). */
export function makeHcv(insuranceStart: string, street: string | undefined): Buffer {
  const input = Buffer.concat([latin9(insuranceStart.replace(/\s+/g, '')), latin9((street ?? '').trim())]);
  const h = createHash('sha256').update(input).digest().subarray(0, 5);
  h[0] &= 0x7f;
  return Buffer.from(h);
}

/** ISO-8859-15 for the hcv input; characters outside Latin-1 that 8859-15 has (€, Š …) are rare in streets. */
function latin9(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

export function hcvToParam(hcv: Buffer): string {
  return hcv.toString('base64url');
}

/** The hcv URL parameter as bytes (base64url or base64, padding optional); undefined if it is not 5 bytes. */
export function hcvFromParam(value: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_\-+/]{6,8}={0,2}$/.test(value)) return undefined;
  const bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === 5 ? bytes : undefined;
}

export interface ProofContent {
  kvnr: string;
  /** When the VSDM service checked the card. */
  issuedAt: Date;
  /** V2 only. */
  hcv?: Buffer;
  revoked?: boolean;
  version: 1 | 2;
}

export function makePruefzifferV1(key: VsdmKey, p: { kvnr: string; issuedAt: Date; updated?: boolean }): Buffer {
  const seconds = String(Math.floor(p.issuedAt.getTime() / 1000)).padStart(10, '0');
  const data = Buffer.from(`${p.kvnr}${seconds}${p.updated ? 'U' : 'N'}${key.operatorId}${key.version}`, 'latin1');
  if (data.length !== 23) throw new Error('Prüfziffer V1: KVNR must have 10 characters');
  return Buffer.concat([data, createHmac('sha256', key.secret).update(data).digest().subarray(0, 24)]);
}

function v2Key(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), V2_INFO, 16));
}

export function makePruefzifferV2(key: VsdmKey, p: { kvnr: string; issuedAt: Date; hcv: Buffer; revoked?: boolean }): Buffer {
  if (p.hcv.length !== 5 || p.kvnr.length !== 10) throw new Error('Prüfziffer V2: hcv 5 bytes, KVNR 10 characters');
  const iat = Math.floor((Math.floor(p.issuedAt.getTime() / 1000) - V2_EPOCH_SECONDS) / 8);
  if (iat < 0 || iat >= 1 << 24) throw new Error('Prüfziffer V2: time out of range');
  const plain = Buffer.concat([p.hcv, Buffer.from([iat >> 16, (iat >> 8) & 0xff, iat & 0xff]), Buffer.from(p.kvnr, 'latin1')]);
  plain[0] = (plain[0] & 0x7f) | (p.revoked ? 0x80 : 0);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-128-gcm', v2Key(key.secret), iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const header = 0x80 | ((key.operatorId.charCodeAt(0) - 65) << 2) | Number(key.version);
  return Buffer.concat([Buffer.from([header]), iv, ciphertext, cipher.getAuthTag()]);
}

/** The key the Prüfziffer names (operator id + version); undefined if the Fachdienst does not know it. */
export type VsdmKeyLookup = (operatorId: string, version: string) => VsdmKey | undefined;

/**
 * Checks a Prüfziffer (base64 text from the PNW) with the named key and returns its content. Throws
 * VsdmProofError 'format' for a wrong size or version, 'mac' when the key is unknown or the HMAC / GCM tag is wrong.
 */
export function verifyPruefziffer(pzBase64: string, keys: VsdmKeyLookup): ProofContent {
  if (pzBase64.length !== 64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(pzBase64)) throw new VsdmProofError('format', 'Invalid size of Prüfziffer');
  const pz = Buffer.from(pzBase64, 'base64');
  if (pz.length !== PZ_LENGTH) throw new VsdmProofError('format', 'Invalid size of Prüfziffer');
  const first = pz[0];
  if (first >= 0x41 && first <= 0x5a) {
    const data = pz.subarray(0, 23);
    const key = keys(String.fromCharCode(pz[21]), String.fromCharCode(pz[22]));
    if (!key) throw new VsdmProofError('mac', 'unknown VSDM key');
    const expected = createHmac('sha256', key.secret).update(data).digest().subarray(0, 24);
    if (!timingSafeEqual(expected, pz.subarray(23))) throw new VsdmProofError('mac', 'HMAC mismatch');
    const seconds = data.subarray(10, 20).toString('latin1');
    if (!/^[0-9]{10}$/.test(seconds)) throw new VsdmProofError('format', 'Prüfziffer timestamp unreadable');
    return { version: 1, kvnr: data.subarray(0, 10).toString('latin1'), issuedAt: new Date(Number(seconds) * 1000) };
  }
  if (first > 0x80) {
    const operatorId = String.fromCharCode(((first & 0x7f) >> 2) + 65);
    const key = operatorId <= 'Z' ? keys(operatorId, String(first & 3)) : undefined;
    if (!key) throw new VsdmProofError('mac', 'unknown VSDM key');
    let plain: Buffer;
    try {
      const decipher = createDecipheriv('aes-128-gcm', v2Key(key.secret), pz.subarray(1, 13));
      decipher.setAuthTag(pz.subarray(31, 47));
      plain = Buffer.concat([decipher.update(pz.subarray(13, 31)), decipher.final()]);
    } catch {
      throw new VsdmProofError('mac', 'Prüfziffer V2 not decryptable');
    }
    const hcv = Buffer.from(plain.subarray(0, 5));
    const revoked = (hcv[0] & 0x80) !== 0;
    hcv[0] &= 0x7f;
    const iat = (plain[5] << 16) | (plain[6] << 8) | plain[7];
    return {
      version: 2, kvnr: plain.subarray(8, 18).toString('latin1'), issuedAt: new Date((iat * 8 + V2_EPOCH_SECONDS) * 1000), hcv, revoked,
    };
  }
  throw new VsdmProofError('format', 'Ungültiges Format der Prüfziffer.');
}

/** `yyyyMMddHHmmss` in UTC. */
function vsdmTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

function parseVsdmTimestamp(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export interface Pruefungsnachweis {
  timestamp: Date;
  /** 1 updated, 2 no update needed, 3 online check not possible (no PZ). */
  result: '1' | '2' | '3';
  errorCode?: string;
  pz?: Buffer;
}

/** The PNW as ReadVSD returns it: base64(gzip(XML)). */
export function encodePruefungsnachweis(pn: Pruefungsnachweis): string {
  const xml = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
    `<PN xmlns="${PNW_NS}" CDM_VERSION="1.0.0"><TS>${vsdmTimestamp(pn.timestamp)}</TS><E>${pn.result}</E>` +
    (pn.errorCode ? `<EC>${pn.errorCode}</EC>` : '') + (pn.pz ? `<PZ>${pn.pz.toString('base64')}</PZ>` : '') + '</PN>';
  return gzipSync(Buffer.from(xml, 'utf8')).toString('base64');
}

export interface DecodedPruefungsnachweis {
  timestamp?: Date;
  result: string;
  /** The Prüfziffer's base64 text, as in the XML. */
  pz?: string;
}

function textOf(children: XmlNode[]): string {
  const text = children.find((c) => tagOf(c) === '#text');
  return text ? String(text['#text']) : '';
}

/**
 * Reads a PNW from the URL parameter. Bounded throughout: the base64 text's length, the inflated size (a gzip bomb
 * stops at MAX_PNW_XML_BYTES) and the XML (our pre-scan: no DOCTYPE or entities, depth 2). Throws VsdmProofError.
 */
export function decodePruefungsnachweis(pnw: string): DecodedPruefungsnachweis {
  if (pnw.length === 0 || pnw.length > MAX_PNW_LENGTH) throw new VsdmProofError('decode', 'PNW missing or too long');
  const normalized = pnw.replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(normalized)) throw new VsdmProofError('decode', 'PNW is not base64');
  let xml: string;
  try {
    xml = gunzipSync(Buffer.from(normalized, 'base64'), { maxOutputLength: MAX_PNW_XML_BYTES }).toString('utf8');
  } catch (err) {
    throw new VsdmProofError('decode', (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? 'PNW inflates beyond the limit' : 'PNW is not gzip');
  }
  let root: XmlNode | undefined;
  try {
    root = parseChecked(xml, 3).find((n) => tagOf(n) !== '#text' && tagOf(n) !== '?xml');
  } catch {
    throw new VsdmProofError('decode', 'PNW XML unreadable');
  }
  const tag = root ? tagOf(root) : '';
  const [prefix, local] = tag.includes(':') ? tag.split(':', 2) : ['', tag];
  const attrs = (root?.[':@'] ?? {}) as Record<string, string>;
  if (local !== 'PN' || attrs[prefix ? `xmlns:${prefix}` : 'xmlns'] !== PNW_NS) throw new VsdmProofError('decode', 'not a Prüfungsnachweis (PN)');
  const fields = new Map<string, string>();
  for (const child of root![tag] as XmlNode[]) {
    const name = tagOf(child).replace(/^[^:]*:/, '');
    if (name !== '#text') fields.set(name, textOf(child[tagOf(child)] as XmlNode[]));
  }
  const result = fields.get('E');
  if (!result || !fields.has('TS')) throw new VsdmProofError('decode', 'PN without TS or E');
  return { timestamp: parseVsdmTimestamp(fields.get('TS')!), result, ...(fields.get('PZ') ? { pz: fields.get('PZ') } : {}) };
}

/** The dev key when ERX_VSDM_KEY is unset: derived from the test PKI's eGK CA key, so it is secret and per install. */
export function deriveDevVsdmSecret(egkCaKey: KeyObject): Buffer {
  const der = egkCaKey.export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(hkdfSync('sha256', der, Buffer.alloc(0), 'erx dev VSDM key', 32));
}

/** Operator id and version of our simulated VSDM service's key (both ends use the one configured secret). */
export const VSDM_OPERATOR = 'X';
export const VSDM_KEY_VERSION = '1';

export function vsdmKeyOf(secret: Buffer): VsdmKey {
  return { operatorId: VSDM_OPERATOR, version: VSDM_KEY_VERSION, secret };
}
