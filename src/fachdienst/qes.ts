// The QES check of $activate on top of verifyCades: trust list, OCSP, profession OID; failures become the
// Fachdienst's answers (400 with VAU-Error-Code invalid_prescription, 512 when OCSP cannot be asked).
import { CadesError, verifyCades } from '../crypto/cades.ts';
import type { OcspChecker } from '../crypto/ocsp.ts';
import type { TrustStore } from '../crypto/trust.ts';
import { FhirError, badRequest } from '../fhir/errors.ts';
import type { QesVerifier } from './context.ts';

export interface QesOptions {
  trust: TrustStore;
  ocsp?: OcspChecker;
}

export function createQesVerifier(options: QesOptions): QesVerifier {
  return async (der, { allowedProfessionOIDs }) => {
    let verified;
    try {
      verified = await verifyCades(der, { trust: options.trust, ocsp: options.ocsp, requireProfessionOIDs: allowedProfessionOIDs });
    } catch (err) {
      if (err instanceof CadesError) {
        throw new FhirError(err.status, err.messageDe, {
          code: err.status === 512 ? 'exception' : 'invalid',
          diagnostics: err.message,
          headers: { 'VAU-Error-Code': 'invalid_prescription' },
        });
      }
      throw err;
    }
    if (!verified.signingTime) throw badRequest('No signingTime in PKCS7 file', { headers: { 'VAU-Error-Code': 'invalid_prescription' } });
    return {
      content: verified.content,
      signingTime: verified.signingTime,
      professionOIDs: verified.identity.professionOIDs,
      signerName: verified.identity.name,
      messageDigest: verified.messageDigest,
    };
  };
}
