// The integrity step of the client modules: the sender's module signs the mail with the sender's card key
// (SMC-B OSIG, or the HBA's key for a person's mailbox), the recipient's module verifies it and reports the result
// in X-KIM-IntegrityCheckResult ('00' = valid; codes starting with X are ours, as vendor codes must).
import { CadesError, signCades, verifyCades } from '../crypto/cades.ts';
import type { LoadedPki } from '../crypto/pki.ts';
import { identities, kimAddress, type Identity } from '../seed/identities.ts';
import type { KimAccount } from './accounts.ts';

export const INTEGRITY_RESULT = {
  valid: '00',
  /** The signature does not match the message or the sender's certificate. */
  invalid: 'X01',
  /** No signature could be made (no key for the sender): the message is delivered unchecked. */
  unsigned: 'X02',
} as const;

export interface MailIntegrity {
  /** Sender side: a signature over the message, or undefined when the sender has no signing key. */
  sign(raw: Buffer, sender: KimAccount): Promise<Buffer | undefined>;
  /** Recipient side: the X-KIM-IntegrityCheckResult code for the message and the signature that came with it. */
  verify(raw: Buffer, signature: Buffer | undefined, senderAddress: string): Promise<string>;
}

/** Without keys nothing is signed, and the result header says so instead of claiming a check. */
export const noIntegrity: MailIntegrity = {
  sign: async () => undefined,
  verify: async (_raw, signature) => (signature ? INTEGRITY_RESULT.invalid : INTEGRITY_RESULT.unsigned),
};

/**
 * S/MIME-style CMS integrity with the test PKI: the sender's module signs the message as CAdES-BES (enveloping)
 * with the sender's card key (SMC-B OSIG, else the card's AUT key), the recipient's module verifies the CMS against
 * the PKI's trust list, that the signed content is the delivered message, and that the signer certificate carries
 * the sender's Telematik-ID (a valid signature of another institution does not pass).
 */
export function cadesIntegrity(pki: LoadedPki, identityList: Identity[] = identities): MailIntegrity {
  const telematikIdByAddress = new Map<string, string>();
  for (const i of identityList) {
    const address = kimAddress(i);
    if (address && i.telematikId) telematikIdByAddress.set(address.toLowerCase(), i.telematikId);
  }
  const trustAnchors = pki.trustAnchors();
  const intermediates = pki.trustList();
  return {
    async sign(raw, sender) {
      const card = pki.cards[sender.identityId];
      const key = card?.osig ?? card?.aut;
      return key ? signCades(raw, key) : undefined;
    },
    async verify(raw, signature, senderAddress) {
      if (!signature) return INTEGRITY_RESULT.unsigned;
      try {
        const verified = await verifyCades(signature, { trustAnchors, intermediates });
        if (!verified.content.equals(raw)) return INTEGRITY_RESULT.invalid;
        const expected = telematikIdByAddress.get(senderAddress.toLowerCase());
        if (!expected || verified.identity.telematikId !== expected) return INTEGRITY_RESULT.invalid;
        return INTEGRITY_RESULT.valid;
      } catch (e) {
        if (e instanceof CadesError) return INTEGRITY_RESULT.invalid;
        throw e;
      }
    },
  };
}
