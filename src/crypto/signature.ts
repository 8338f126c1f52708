// Verifying a signature value given its AlgorithmIdentifier, with node:crypto (brainpool, P-256, RSA, RSASSA-PSS).
import { constants, verify, type KeyObject } from 'node:crypto';
import { HASH_BY_OID, OID } from './certificate.ts';
import { children, content, isContext, oid, type Tlv } from './der.ts';

const ECDSA: Record<string, string> = {
  [OID.ecdsaWithSha256]: 'sha256', [OID.ecdsaWithSha384]: 'sha384', [OID.ecdsaWithSha512]: 'sha512',
};
const RSA_PKCS1: Record<string, string> = {
  [OID.sha256WithRsa]: 'sha256', [OID.sha384WithRsa]: 'sha384', [OID.sha512WithRsa]: 'sha512',
};

export class UnsupportedAlgorithmError extends Error {
  override name = 'UnsupportedAlgorithmError';
}

type VerifyKey = KeyObject | { key: KeyObject; padding: number; saltLength?: number };

/** The hash and key options node:crypto needs for an AlgorithmIdentifier (UnsupportedAlgorithmError if unknown). */
function verifyParams(algT: Tlv, key: KeyObject, digestOid?: string): { hash: string; key: VerifyKey } {
  const parts = children(algT);
  const alg = oid(parts[0]);
  const digestHash = digestOid ? HASH_BY_OID[digestOid] : undefined;
  if (ECDSA[alg]) return { hash: ECDSA[alg], key };
  if (alg === OID.ecPublicKey && digestHash) return { hash: digestHash, key };
  if (RSA_PKCS1[alg]) return { hash: RSA_PKCS1[alg], key: { key, padding: constants.RSA_PKCS1_PADDING } };
  if (alg === OID.rsaEncryption && digestHash) return { hash: digestHash, key: { key, padding: constants.RSA_PKCS1_PADDING } };
  if (alg === OID.rsassaPss) {
    const { hash, saltLength } = pssParams(parts[1]);
    return { hash, key: { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength } };
  }
  throw new UnsupportedAlgorithmError(`unsupported signature algorithm ${alg}`);
}

/**
 * Verifies `signature` over `data`. `digestOid` is the CMS digestAlgorithm, used where the signature algorithm
 * does not name a hash (rsaEncryption, plain id-ecPublicKey). Throws UnsupportedAlgorithmError for unknown algorithms.
 */
export function verifySignatureValue(algT: Tlv, data: Buffer, key: KeyObject, signature: Buffer, digestOid?: string): boolean {
  const params = verifyParams(algT, key, digestOid);
  try {
    return verify(params.hash, data, params.key, signature);
  } catch {
    return false; // e.g. a key that does not fit the algorithm
  }
}

/**
 * verifySignatureValue on libuv's thread pool: the brainpool verification (~0.4 ms) leaves the event loop free for
 * other requests, and a second core can do it.
 */
export async function verifySignatureValueAsync(algT: Tlv, data: Buffer, key: KeyObject, signature: Buffer, digestOid?: string): Promise<boolean> {
  const params = verifyParams(algT, key, digestOid);
  return new Promise((resolve) => {
    try {
      verify(params.hash, data, params.key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
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
