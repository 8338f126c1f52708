// `erx serve web` / `erx start`: builds the browser app when its sources changed (Vite JS API), then serves it
// together with the /api backend-for-frontend on ctx.config.ports.web.
import type { ServiceDefinition } from '../cli/service.ts';
import { getPki } from '../cli/shared.ts';
import { TrustStore } from '../crypto/trust.ts';
import { createTokenVerifier } from '../idp/verify.ts';
import { buildWebApp } from './app.ts';
import { ensureWebBuild } from './build.ts';

export const webService: ServiceDefinition = {
  name: 'web',
  description: 'web apps: insured (/insured), pharmacy (/pharmacy), practice (/practice) with a same-origin API',
  async start(ctx) {
    const { config } = ctx;
    const [distDir, pki] = await Promise.all([ensureWebBuild({ log: (m) => ctx.log.info(m) }), getPki(ctx)]);
    const app = buildWebApp({
      distDir,
      // Read per request: with port 0 the other services publish their real URLs into the shared config.
      urls: () => ({ fachdienst: config.urls.fachdienst, vzd: config.urls.vzd, idp: config.urls.idp, practice: config.urls.practice, konnektor: config.urls.konnektor }),
      pop3: () => ({ host: config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host, port: config.ports.kim_pop3 }),
      tokenVerifier: createTokenVerifier({ idpUrl: config.urls.idp, trustAnchors: pki.trustList() }),
      trust: TrustStore.fromCertificates(pki.trustList()),
      // The simulated card terminal: sign-in uses the IDP's card-based flow with these soft cards (dev mode only).
      softCards: pki.cards,
      log: ctx.log,
    });
    const address = await app.listen({ host: config.host, port: config.ports.web });
    const url = config.ports.web === 0 ? `http://localhost:${new URL(address).port}` : config.urls.web;
    return { name: 'web', urls: [url], stop: () => app.close() };
  },
};
