// Sign-in through the IDP's card-based flow (ti-components §4) with a soft card of the test PKI: the shared IDP
// client (idp/card-login.ts) with the card's AUT key signing the challenge digest, as the Konnektor does for a
// real card (ExternalAuthenticate).
import type { Card } from '../crypto/pki.ts';
import { cardLogin } from '../idp/card-login.ts';
import { signDigest } from '../konnektor/ecdsa.ts';

export const WEB_CLIENT_ID = 'erx-web';

export async function signInWithCard(options: { idpUrl: string; card: Card; redirectUri: string; fetch?: typeof fetch }): Promise<{ access_token: string; expires_in?: number }> {
  const { aut } = options.card;
  const tokens = await cardLogin({
    idpUrl: options.idpUrl, clientId: WEB_CLIENT_ID, redirectUri: options.redirectUri, certificate: aut.cert,
    sign: async (digest) => signDigest(aut.key, digest), fetch: options.fetch,
  });
  return { access_token: tokens.accessToken, expires_in: tokens.expiresIn };
}
