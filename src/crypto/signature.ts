// Verifying a signature value given its AlgorithmIdentifier, with node:crypto (brainpool, P-256, RSA, RSASSA-PSS).
import { constants, verify, type KeyObject } from 'node:crypto';
import { HASH_BY_OID, OID } from './certificate.ts';
import { children, content, DerError, isContext, oid, type Tlv } from './der.ts';

const ECDSA: Record<string, string> = {
  [OID.ecdsaWithSha256]: 'sha256', [OID.ecdsaWithSha384]: 'sha384', [OID.ecdsaWithSha512]: 'sha512',
};
const RSA_PKCS1: Record<string, string> = {
  [OID.sha256WithRsa]: 'sha256', [OID.sha384WithRsa]: 'sha384', [OID.sha512WithRsa]: 'sha512',
};

export class UnsupportedAlgorithmError extends Error {
  override name = 'UnsupportedAlgorithmError';
}

/**
 * Verifies `signature` over `data`. `digestOid` is the CMS digestAlgorithm, used where the signature algorithm
 * does not name a hash (rsaEncryption, plain id-ecPublicKey). Throws UnsupportedAlgorithmError for unknown algorithms.
 */
export function verifySignatureValue(algT: Tlv, data: Buffer, key: KeyObject, signature: Buffer, digestOid?: string): boolean {
  const parts = children(algT);
  const alg = oid(parts[0]);
  const digestHash = digestOid ? HASH_BY_OID[digestOid] : undefined;
  try {
    if (ECDSA[alg]) return verify(ECDSA[alg], data, key, signature);
    if (alg === OID.ecPublicKey && digestHash) return verify(digestHash, data, key, signature);
    if (RSA_PKCS1[alg]) return verify(RSA_PKCS1[alg], data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    if (alg === OID.rsaEncryption && digestHash) return verify(digestHash, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    if (alg === OID.rsassaPss) {
      const { hash, saltLength } = pssParams(parts[1]);
      return verify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }, signature);
    }
  } catch (err) {
    if (err instanceof DerError) throw err;
    return false; // e.g. a key that does not fit the algorithm
  }
  throw new UnsupportedAlgorithmError(`unsupported signature algorithm ${alg}`);
}

// RSASSA-PSS-params ::= SEQUENCE { [0] hashAlgorithm DEFAULT sha1, [1] maskGenAlgorithm DEFAULT mgf1SHA1,
//   [2] saltLength DEFAULT 20, [3] trailerField DEFAULT 1 }. We assume MGF1 with the same hash (as the TI does).
function pssParams(paramsT: Tlv | undefined): { hash: string; saltLength: number } {
  let hash = 'sha1';
  let saltLength = 20;
  if (paramsT) {
    for (const p of children(paramsT)) {
      if (isContext(p, 0)) {
        const h = HASH_BY_OID[oid(children(children(p)[0])[0])];
        if (!h) throw new UnsupportedAlgorithmError('unsupported PSS hash');
        hash = h;
      } else if (isContext(p, 2)) {
        saltLength = content(children(p)[0]).reduce((n, b) => n * 256 + b, 0);
      }
    }
  }
  return { hash, saltLength };
}
