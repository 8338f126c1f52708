// ECDSA over a hash the caller already computed, as a card does for ExternalAuthenticate (the Konnektor gets the
// SHA-256 digest, never the data). node:crypto always hashes what it signs, so the signature equation is done here:
// R = k·G comes from node's ECDH (native point multiplication on the card's curve), r and s are plain BigInt
// arithmetic modulo the group order. Output is DER (ECDSA-Sig-Value), what the Konnektor returns for
// urn:bsi:tr:03111:ecdsa; the IDP client converts it to r||s for the JWS.
import { createECDH, randomBytes, type KeyObject } from 'node:crypto';
import { children, content, readRoot } from '../crypto/der.ts';

/** Group orders of the card curves (brainpoolP256r1: RFC 5639 §3.4; P-256: FIPS 186-4 D.1.2.3). */
const ORDER: Record<string, bigint> = {
  brainpoolP256r1: 0xa9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7n,
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};

const toBigInt = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex') || '0'}`);

function mod(a: bigint, n: bigint): bigint {
  const r = a % n;
  return r < 0n ? r + n : r;
}

/** a^-1 mod n for prime n (Fermat). */
function invert(a: bigint, n: bigint): bigint {
  let result = 1n;
  let base = mod(a, n);
  let e = n - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % n;
    base = (base * base) % n;
    e >>= 1n;
  }
  return result;
}

function fixed(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

/** The private scalar d of an EC key (SEC 1 ECPrivateKey: SEQUENCE { version, OCTET STRING d, ... }). */
function privateScalar(key: KeyObject): Buffer {
  const sec1 = key.export({ type: 'sec1', format: 'der' });
  return content(children(readRoot(sec1))[1]);
}

/** A positive INTEGER: minimal big-endian bytes, a leading 0 when the top bit is set. */
function derInteger(value: bigint): Buffer {
  const hex = value.toString(16);
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }. */
export function ecdsaDer(r: bigint, s: bigint): Buffer {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

export function curveOfKey(key: KeyObject): string | undefined {
  return key.asymmetricKeyDetails?.namedCurve;
}

/**
 * Signs a precomputed digest with an EC private key on brainpoolP256r1 or P-256; returns DER. The digest must be
 * as long as the group order (32 bytes, SHA-256), so no truncation rule applies.
 */
export function signDigest(key: KeyObject, digest: Buffer): Buffer {
  const curve = curveOfKey(key);
  const n = curve ? ORDER[curve] : undefined;
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ec' || !curve || !n) {
    throw new Error(`signDigest needs an EC private key on brainpoolP256r1 or P-256, got ${key.asymmetricKeyType}/${curve ?? '?'}`);
  }
  if (digest.length !== 32) throw new Error(`a SHA-256 digest is 32 bytes, got ${digest.length}`);
  const d = toBigInt(privateScalar(key));
  const e = toBigInt(digest);
  const ecdh = createECDH(curve);
  for (;;) {
    // 384 random bits reduced mod n: the bias is below 2^-128.
    const k = mod(toBigInt(randomBytes(48)), n);
    if (k === 0n) continue;
    ecdh.setPrivateKey(fixed(k, 32));
    const point = ecdh.getPublicKey(); // 04 || x || y
    const r = mod(toBigInt(point.subarray(1, 33)), n);
    if (r === 0n) continue;
    const s = mod(invert(k, n) * (e + r * d), n);
    if (s === 0n) continue;
    return ecdsaDer(r, s);
  }
}
