// `erx serve fachdienst`: the Fachdienst on its port, on the shared database and PKI. Access tokens are checked
// against the IDP's published keys; QES revocation through the simulated TI's revocation registry.
import { RevocationRegistry, createOcspChecker } from '../crypto/ocsp.ts';
import { TrustStore } from '../crypto/trust.ts';
import { deriveDevVsdmSecret } from '../crypto/vsdm.ts';
import { createTokenVerifier } from '../idp/verify.ts';
import { getDatabase, getPki } from '../cli/shared.ts';
import type { ServiceDefinition } from '../cli/service.ts';
import { buildFachdienst } from './app.ts';
import { startRetentionJob } from './retention.ts';
import { announceWorkerReady, isFachdienstWorker } from './cluster.ts';

export const fachdienstService: ServiceDefinition = {
  name: 'fachdienst',
  description: 'E-Rezept Fachdienst (gematik FHIR API: Task, MedicationDispense, Communication, AuditEvent)',
  async start(ctx) {
    const [database, pki] = await Promise.all([getDatabase(ctx), getPki(ctx)]);
    const trust = TrustStore.fromCertificates(pki.trustList());
    // With port 0 (tests) the real URL is known only after listen.
    let baseUrl = ctx.config.urls.fachdienst;
    const app = await buildFachdienst({
      database,
      trust,
      ocsp: createOcspChecker(new RevocationRegistry(pki.dir)),
      tokenVerifier: createTokenVerifier({ idpUrl: ctx.config.urls.idp, trustAnchors: pki.trustList() }),
      signer: pki.fachdienst,
      baseUrl: () => baseUrl,
      rateLimitPerMinute: ctx.config.rateLimitPerMinute,
      egk: { vsdmKey: ctx.config.vsdmKey ?? (ctx.config.dev ? deriveDevVsdmSecret(pki.cas.egk.key) : undefined), acceptPn3: ctx.config.acceptPn3, failuresPerDay: ctx.config.egkFailuresPerDay },
      // One JSON line per request (method, route, redacted URL, status, ms) and per failure; never a body.
      logger: ctx.config.logLevel === 'silent' ? false : { level: ctx.config.logLevel, base: { service: 'fachdienst', pid: process.pid } },
    });
    const address = await app.listen({ port: ctx.config.ports.fachdienst, host: ctx.config.host });
    if (ctx.config.ports.fachdienst === 0) baseUrl = `http://localhost:${new URL(address).port}`;
    // In a cluster the primary runs the retention job once for all workers.
    const retention = startRetentionJob(database, {
      intervalSeconds: isFachdienstWorker() ? 0 : ctx.config.retentionIntervalSeconds,
      baseUrl,
      onError: (err) => ctx.log.error({ err: String(err) }, 'fachdienst retention run failed'),
    });
    ctx.log.info({ baseUrl, pid: process.pid }, 'fachdienst ready');
    announceWorkerReady([baseUrl]);
    return {
      name: 'fachdienst',
      urls: [baseUrl],
      async stop() {
        retention.stop();
        await app.close();
      },
    };
  },
};
