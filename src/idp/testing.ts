// Test helper: an IDP app on the seeded test PKI, and a fetch that reaches it without a port.
import type { FastifyInstance } from 'fastify';
import { createSeededPki, type LoadedPki } from '../crypto/pki.ts';
import { createIdpApp, type IdpAppOptions } from './app.ts';
import { IDP_SIG_KID, type TokenSigner } from './tokens.ts';

export const TEST_ISSUER = 'http://idp.test';

let shared: LoadedPki | undefined;

export function testPki(): LoadedPki {
  return (shared ??= createSeededPki());
}

export function createTestIdp(options: Partial<IdpAppOptions> = {}): { app: FastifyInstance; pki: LoadedPki; signer: TokenSigner; fetch: typeof fetch } {
  const pki = testPki();
  const signer: TokenSigner = options.signer ?? { key: pki.idp.key, alg: 'BP256R1', kid: IDP_SIG_KID, cert: pki.idp.cert };
  const app = createIdpApp({ issuer: TEST_ISSUER, dev: true, trustAnchors: pki.trustAnchors(), intermediates: pki.trustList(), ...options, signer });
  return { app, pki, signer, fetch: injectFetch(app) };
}

/** A fetch for URLs under TEST_ISSUER, answered by app.inject. */
export function injectFetch(app: FastifyInstance): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const res = await app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: url.pathname + url.search,
      headers: (init?.headers ?? {}) as Record<string, string>,
      payload: init?.body as string | undefined,
    });
    return new Response(res.statusCode === 302 || res.statusCode === 204 ? null : new Uint8Array(res.rawPayload), {
      status: res.statusCode,
      headers: res.headers as Record<string, string>,
    });
  }) as typeof fetch;
}
