// The signature check of the PKV dispense data (PKV-Abgabedatensatz) that a pharmacy hands over with POST/PUT
// /ChargeItem, on top of verifyCades: signature (A_22139 / A_22150), certificate chain, validity now and OCSP
// (A_22140-01 / A_22151-01), and the SMC-B's signature certificate C.HCI.OSIG (A_22141). Failures become 400 with
// VAU-Error-Code invalid_dispense, 512 when OCSP cannot be asked (as the gematik FD's validatedBundleFromSigned).
import { CadesError, verifyCades, type CadesRule } from '../crypto/cades.ts';
import { describe } from '../crypto/certificate.ts';
import type { OcspChecker } from '../crypto/ocsp.ts';
import type { TrustStore } from '../crypto/trust.ts';
import { FhirError } from '../fhir/errors.ts';
import { ROLE_OIDS } from './auth.ts';
import type { DispenseSignatureVerifier } from './context.ts';

export interface DispenseSignatureOptions {
  trust: TrustStore;
  ocsp?: OcspChecker;
}

/** The requirement each check stands for, per operation (gematik ErpRequirements). */
const REQUIREMENTS = {
  POST: { signature: 'A_22139', certificate: 'A_22140-01' },
  PUT: { signature: 'A_22150', certificate: 'A_22151-01' },
} as const;
const SMCB_OSIG = 'A_22141';

const CERTIFICATE_RULES: CadesRule[] = ['untrusted-chain', 'expired', 'revoked', 'ocsp-unknown', 'ocsp-unavailable'];
const INVALID_DISPENSE = { 'VAU-Error-Code': 'invalid_dispense' };

function fail(status: number, requirement: string, text: string, diagnostics: string): FhirError {
  return new FhirError(status, `${requirement}: ${text}`, {
    code: status === 512 ? 'exception' : 'invalid', diagnostics, headers: INVALID_DISPENSE,
  });
}

export function createDispenseSignatureVerifier(options: DispenseSignatureOptions): DispenseSignatureVerifier {
  return async (der, { operation, now }) => {
    const req = REQUIREMENTS[operation];
    let verified;
    try {
      // C.HCI.OSIG is a nonQES certificate: it must be valid now, not only when it signed (TUC_PKI_018, A_22141)
      verified = await verifyCades(der, { trust: options.trust, ocsp: options.ocsp, at: now });
    } catch (err) {
      if (!(err instanceof CadesError)) throw err;
      const requirement = CERTIFICATE_RULES.includes(err.rule) ? req.certificate : req.signature;
      throw fail(err.status, requirement, `PKV-Abgabedatensatz: ${err.messageDe}`, err.message);
    }
    if (!verified.signingTime) {
      throw fail(400, req.signature, 'PKV-Abgabedatensatz: Die Signatur enthält keinen Signaturzeitpunkt (signingTime).', 'malformed: no signingTime in the signed attributes');
    }

    // The SMC-B's signature certificate, not a person's QES: the gematik profiles tell them apart by policy OID
    // (oid_smc_b_osig); the test PKI has none, so by holder (HBA: a person) and keyUsage nonRepudiation.
    const cert = verified.signerCertificate;
    const identity = verified.identity;
    if (identity.givenName !== undefined || identity.surname !== undefined) {
      throw fail(400, SMCB_OSIG, 'Der PKV-Abgabedatensatz ist mit dem Zertifikat einer Person (HBA) signiert, nicht mit der SMC-B der Apotheke (C.HCI.OSIG).',
        `not-smcb-osig: signer ${describe(cert)} is a person (${identity.professionOIDs.join(', ') || 'no profession'})`);
    }
    if (cert.keyUsage && !cert.keyUsage.has('nonRepudiation')) {
      throw fail(400, SMCB_OSIG, 'Das Zertifikat ist kein Signaturzertifikat der SMC-B (C.HCI.OSIG, keyUsage nonRepudiation).',
        `not-smcb-osig: signer ${describe(cert)} has keyUsage ${[...cert.keyUsage].join(', ')}`);
    }
    if (!identity.professionOIDs.some((o) => ROLE_OIDS.pharmacy.includes(o))) {
      throw fail(400, SMCB_OSIG, 'Die SMC-B, mit der der PKV-Abgabedatensatz signiert ist, gehört nicht zu einer Apotheke.',
        `not-pharmacy: signer ${describe(cert)} holds profession ${identity.professionOIDs.join(', ') || 'none'}, required one of ${ROLE_OIDS.pharmacy.join(', ')}`);
    }
    return { content: verified.content, signingTime: verified.signingTime, telematikId: identity.telematikId, signerName: identity.name };
  };
}
