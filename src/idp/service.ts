// `erx serve idp`: the simulated IDP on its port, signing with the test PKI's IDP key (BP256R1).
import type { ServiceDefinition } from '../cli/service.ts';
import { getPki } from '../cli/shared.ts';
import { createOcspChecker, RevocationRegistry } from '../crypto/ocsp.ts';
import { kimAccounts } from '../kim/accounts.ts';
import { createIdpApp } from './app.ts';
import { IDP_SIG_KID, type IdpAlgorithm } from './tokens.ts';
import { algorithmOfKey } from './jwk.ts';

export const idpService: ServiceDefinition = {
  name: 'idp',
  description: 'simulated gematik IDP: discovery, card-based auth code flow (PKCE), BP256R1 access tokens, dev tokens',
  async start(ctx) {
    const { config } = ctx;
    const pki = await getPki(ctx);
    // The PKI's curve decides the algorithm: brainpool -> BP256R1, P-256 -> ES256.
    const alg = algorithmOfKey(pki.idp.key) as IdpAlgorithm;
    // With port 0 (tests) the real URL is known only after listen; the issuer is read per request.
    let baseUrl = config.urls.idp;
    const app = createIdpApp({
      signer: { key: pki.idp.key, alg, kid: IDP_SIG_KID, cert: pki.idp.cert },
      issuer: () => baseUrl,
      dev: config.dev,
      trustAnchors: pki.trustAnchors(),
      intermediates: pki.trustList(),
      // Revoked cards (`erx pki revoke`) get no token; read in-process from the PKI's registry like the Fachdienst.
      ocsp: createOcspChecker(new RevocationRegistry(pki.dir)),
      // The one integration point with the KIM module: its accounts for /dev/identities.
      kimAccounts: () => kimAccounts({ smtpPort: config.ports.kim_smtp, pop3Port: config.ports.kim_pop3 }),
    });
    const address = await app.listen({ host: config.host, port: config.ports.idp });
    const port = new URL(address).port;
    if (config.ports.idp === 0) baseUrl = `http://localhost:${port}`;
    ctx.log.info({ alg, dev: config.dev }, 'idp ready');
    return {
      name: 'idp',
      urls: [baseUrl],
      stop: () => app.close(),
    };
  },
};
