// Sign-in through the IDP's card-based flow (ti-components §4) with a soft card of the test PKI, as a primary
// system does with a real card behind the Konnektor: GET /auth (PKCE S256) -> challenge, signed with the card's
// AUT key (raw r||s, JWS with x5c) -> POST /auth -> code -> POST /token with the code_verifier.
import { createHash, randomBytes, sign } from 'node:crypto';
import type { Card } from '../crypto/pki.ts';
import { algorithmOfKey } from '../idp/jwk.ts';

export const WEB_CLIENT_ID = 'erx-web';

export class CardSignInError extends Error {
  override name = 'CardSignInError';
}

function b64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

async function json(response: Response, step: string): Promise<Record<string, unknown>> {
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) throw new CardSignInError(`${step}: ${String(body.message ?? response.status)}`);
  return body;
}

export async function signInWithCard(options: { idpUrl: string; card: Card; redirectUri: string; fetch?: typeof fetch }): Promise<{ access_token: string; expires_in?: number }> {
  const doFetch = options.fetch ?? fetch;
  const { aut } = options.card;
  const alg = algorithmOfKey(aut.key);
  if (!alg) throw new CardSignInError('Die Karte hat keinen unterstützten AUT-Schlüssel');
  const verifier = randomBytes(48).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const query = new URLSearchParams({
    client_id: WEB_CLIENT_ID, response_type: 'code', redirect_uri: options.redirectUri, state, nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', scope: 'openid e-rezept',
  });
  const timeout = () => AbortSignal.timeout(10_000);
  const { challenge } = await json(await doFetch(`${options.idpUrl}/auth?${query}`, { signal: timeout() }), 'Challenge');
  if (typeof challenge !== 'string') throw new CardSignInError('Der IDP hat keine Challenge geliefert');
  const input = `${b64url({ alg, typ: 'JWT', cty: 'NJWT', x5c: [aut.cert.toString('base64')] })}.${b64url({ njwt: challenge })}`;
  const signed = `${input}.${sign('sha256', Buffer.from(input), { key: aut.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  const answer = await doFetch(`${options.idpUrl}/auth`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ signed_challenge: signed }).toString(),
    redirect: 'manual', signal: timeout(),
  });
  if (answer.status !== 302) await json(answer, 'Karte');
  const location = new URL(answer.headers.get('location') ?? '', options.redirectUri);
  const code = location.searchParams.get('code');
  if (!code || location.searchParams.get('state') !== state) throw new CardSignInError('Der IDP hat keinen gültigen Code geliefert');
  const token = await json(await doFetch(`${options.idpUrl}/token`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', client_id: WEB_CLIENT_ID, code, redirect_uri: options.redirectUri, code_verifier: verifier }).toString(),
    signal: timeout(),
  }), 'Token');
  if (typeof token.access_token !== 'string') throw new CardSignInError('Der IDP hat kein Access-Token geliefert');
  return { access_token: token.access_token, expires_in: typeof token.expires_in === 'number' ? token.expires_in : undefined };
}
