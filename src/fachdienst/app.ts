// The E-Rezept Fachdienst as a fastify instance: FHIR HTTP layer, token check and rate limit, the Task operations.
// Tests drive it with inject() on a real database; the service starts it on its port.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { KeyAndCert } from '../crypto/pki.ts';
import type { OcspChecker } from '../crypto/ocsp.ts';
import type { TrustStore } from '../crypto/trust.ts';
import { createFhirServer } from '../http/fhir-server.ts';
import { notFound } from '../fhir/errors.ts';
import type { Database } from '../storage/database.ts';
import { registerAuth, type TokenVerifier } from './auth.ts';
import { registerMetrics } from './metrics.ts';
import type { FachdienstContext, QesVerifier } from './context.ts';
import { createQesVerifier } from './qes.ts';
import { createDispenseSignatureVerifier } from './dispense-signature.ts';
import { TaskStore } from './task-store.ts';
import { registerCreate } from './operations/create.ts';
import { registerActivate } from './operations/activate.ts';
import { registerAccept } from './operations/accept.ts';
import { registerReject } from './operations/reject.ts';
import { registerDispense } from './operations/dispense.ts';
import { registerClose } from './operations/close.ts';
import { registerAbort } from './operations/abort.ts';
import { registerGetTask } from './operations/get-task.ts';
import { registerGetTasks } from './operations/get-tasks.ts';
import type { EgkOptions } from './operations/get-tasks-egk.ts';
import { registerMedicationDispense } from './operations/medication-dispense.ts';
import { registerCommunication } from './operations/communication.ts';
import { registerConsent } from './operations/consent.ts';
import { registerChargeItem } from './operations/charge-item.ts';
import { registerAuditEvent } from './operations/audit-event.ts';
import { registerDevice } from './operations/device.ts';
import { registerMetadata } from './operations/metadata.ts';

export const FACHDIENST_VERSION = '1.0.0';

export interface FachdienstOptions {
  database: Database;
  /** Trust list for prescription QES (HBA CAs) and the pharmacies' SMC-B signatures (SMC-B CAs). */
  trust: TrustStore;
  /** Revocation check of QES and SMC-B certificates; without it OCSP is skipped (tests of other rules only). */
  ocsp?: OcspChecker;
  /** Replaces the QES check entirely (benchmarks measuring the floor); default verifyCades with trust + ocsp. */
  verifyQes?: QesVerifier;
  tokenVerifier: TokenVerifier;
  /** The Fachdienst's own signing key and certificate (C.FD.SIG). */
  signer: KeyAndCert;
  now?: () => Date;
  /** Public base URL for fullUrls and Location; default http://localhost:8080. A function when only known after listen. */
  baseUrl?: string | (() => string);
  logger?: FastifyServerOptions['logger'];
  rateLimitPerMinute?: number;
  /** The pharmacy's GET /Task?kvnr&hcv&pnw: VSDM key shared with the Konnektor, PN3 acceptance. */
  egk?: EgkOptions;
}

export function createContext(options: FachdienstOptions): FachdienstContext {
  const base = options.baseUrl ?? 'http://localhost:8080';
  return {
    store: new TaskStore(options.database),
    now: options.now ?? (() => new Date()),
    get baseUrl() {
      return (typeof base === 'function' ? base() : base).replace(/\/+$/, '');
    },
    signer: options.signer,
    verifyQes: options.verifyQes ?? createQesVerifier({ trust: options.trust, ocsp: options.ocsp }),
    verifyDispenseSignature: createDispenseSignatureVerifier({ trust: options.trust, ocsp: options.ocsp }),
    version: FACHDIENST_VERSION,
    egk: options.egk,
  };
}

/** FHIR logical ids (R4 `id`): a path parameter outside this is no resource of ours (404), and never reaches SQL. */
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/**
 * After the token check: without `_format` and with no (or a wildcard) Accept, the response format follows the
 * caller's role: JSON for the insured, XML for everyone else (A_19539); then path ids that are no FHIR ids are 404
 * (in that format). A callback hook: no promise per request.
 */
function checkIdsAndDefaultFormat(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (query?._format === undefined && request.caller) {
      const accept = request.headers.accept?.trim();
      if (!accept || accept === '*/*') {
        request.headers.accept = request.caller.role === 'insured' ? 'application/fhir+json' : 'application/fhir+xml';
      }
    }
    const params = request.params as Record<string, unknown> | undefined;
    for (const value of Object.values(params ?? {})) {
      if (typeof value !== 'string' || !FHIR_ID.test(value)) {
        done(notFound('Ressource nicht gefunden'));
        return;
      }
    }
    done();
  });
}

export async function buildFachdienst(options: FachdienstOptions): Promise<FastifyInstance> {
  const ctx = createContext(options);
  const app = createFhirServer({
    logger: options.logger,
    ready: async () => {
      await ctx.store.database.db.selectFrom('fachdienst_task').select('id').limit(1).execute();
      return true;
    },
  });
  registerMetrics(app);
  await registerAuth(app, { tokenVerifier: options.tokenVerifier, rateLimitPerMinute: options.rateLimitPerMinute });
  checkIdsAndDefaultFormat(app);
  registerCreate(app, ctx);
  registerActivate(app, ctx);
  registerAccept(app, ctx);
  registerReject(app, ctx);
  registerDispense(app, ctx);
  registerClose(app, ctx);
  registerAbort(app, ctx);
  registerGetTask(app, ctx);
  registerGetTasks(app, ctx);
  registerMedicationDispense(app, ctx);
  registerCommunication(app, ctx);
  registerConsent(app, ctx);
  registerChargeItem(app, ctx);
  registerAuditEvent(app, ctx);
  registerDevice(app, ctx);
  registerMetadata(app, ctx);
  return app;
}
