// JWKs for the IDP's EC keys. Node cannot export brainpool keys as JWK (ERR_CRYPTO_JWK_UNSUPPORTED_CURVE), so the
// coordinates are read from the SubjectPublicKeyInfo, and back again by prefixing the fixed SPKI header;
// gematik labels the curve `BP-256`. P-256 keys go through node's own JWK support.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { IdpAlgorithm } from './tokens.ts';

export interface EcJwk {
  kty: 'EC';
  crv: 'BP-256' | 'P-256';
  x: string;
  y: string;
  kid?: string;
  use?: 'sig' | 'enc';
  alg?: string;
  /** Base64 (not url) DER certificates, leaf first. */
  x5c?: string[];
}

// SEQUENCE { SEQUENCE { ecPublicKey, brainpoolP256r1 }, BIT STRING 00 04 … } up to the uncompressed point's 0x04.
const BP256_SPKI_PREFIX = Buffer.from('305a301406072a8648ce3d020106092b240303020801010703420004', 'hex');

export function curveOf(key: KeyObject): string | undefined {
  return key.asymmetricKeyDetails?.namedCurve;
}

/** The algorithm label a key signs with, by its curve. */
export function algorithmOfKey(key: KeyObject): IdpAlgorithm | undefined {
  const curve = curveOf(key);
  if (curve === 'brainpoolP256r1') return 'BP256R1';
  if (curve === 'prime256v1') return 'ES256';
  return undefined;
}

export function publicJwk(key: KeyObject, extra: Partial<EcJwk> = {}): EcJwk {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const curve = curveOf(pub);
  if (curve === 'prime256v1') {
    const jwk = pub.export({ format: 'jwk' }) as { x: string; y: string };
    return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ...extra };
  }
  if (curve !== 'brainpoolP256r1') throw new Error(`unsupported curve ${curve ?? '(none)'} for a JWK`);
  const spki = pub.export({ format: 'der', type: 'spki' });
  const point = spki.subarray(spki.length - 65);
  if (point[0] !== 0x04) throw new Error('expected an uncompressed EC point');
  return { kty: 'EC', crv: 'BP-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url'), ...extra };
}

/** The public key of a JWK: from its certificate when it has one, else from the coordinates. */
export function keyFromJwk(jwk: Partial<EcJwk> & { kty?: string }): KeyObject {
  if (jwk.x5c?.length) return new X509Certificate(Buffer.from(jwk.x5c[0], 'base64')).publicKey;
  if (jwk.kty !== 'EC' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') throw new Error('JWK is not an EC key with x and y');
  if (jwk.crv === 'P-256') return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' });
  if (jwk.crv === 'BP-256' || jwk.crv === 'brainpoolP256r1') {
    const x = Buffer.from(jwk.x, 'base64url');
    const y = Buffer.from(jwk.y, 'base64url');
    if (x.length !== 32 || y.length !== 32) throw new Error('BP-256 coordinates must be 32 bytes each');
    return createPublicKey({ key: Buffer.concat([BP256_SPKI_PREFIX, x, y]), format: 'der', type: 'spki' });
  }
  throw new Error(`unsupported JWK curve ${jwk.crv ?? '(none)'}`);
}
