// Test world for the practice: the real practice app, Fachdienst, Konnektor and IDP on one seeded PKI, wired
// through inject()-backed fetches (no ports), on the database the test passes in. Only the clock is adjustable.
// The IDP runs without dev endpoints (as with ERX_DEV=0): the practice logs in with its SMC-B via the Konnektor,
// and the IDP and the Fachdienst share one revocation registry.
import { after, before } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createOcspChecker, RevocationRegistry } from '../crypto/ocsp.ts';
import { createSeededPki, type LoadedPki } from '../crypto/pki.ts';
import { TrustStore } from '../crypto/trust.ts';
import { buildFachdienst } from '../fachdienst/app.ts';
import { toXml } from '../fhir/codec.ts';
import { buildPrescriptionBundle, type MedicationInput } from '../fhir/kbv/build-bundle.ts';
import type { Bundle, MedicationRequest } from '../fhir/types.ts';
import { createIdpApp } from '../idp/app.ts';
import { cardLogin } from '../idp/card-login.ts';
import { injectFetch } from '../idp/testing.ts';
import { IDP_SIG_KID } from '../idp/tokens.ts';
import { createTokenVerifier } from '../idp/verify.ts';
import { createKonnektorClient } from '../konnektor/client.ts';
import { signDigest } from '../konnektor/ecdsa.ts';
import { CONTEXT, startTestKonnektor, type TestKonnektor } from '../konnektor/testing.ts';
import { identityById, insured, physician, practice, TENANT, type Identity } from '../seed/identities.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { createPracticeApp, type PracticeApp, type PracticeAppOptions } from './app.ts';
import { createFachdienstClient, konnektorTokenSource } from './fachdienst-client.ts';

export const ISSUER = 'http://idp.test';
export const FD_URL = 'http://fd.test';

let sharedPki: LoadedPki | undefined;
export const testPki = () => (sharedPki ??= createSeededPki());

export interface PracticeWorld extends PracticeApp {
  fachdienst: FastifyInstance;
  konnektor: TestKonnektor;
  idp: FastifyInstance;
  /** Revocations the IDP (card login) and the Fachdienst (QES) see; `revoke(serial)`. */
  revocations: RevocationRegistry;
  /** An access token of a seeded identity, by the card flow with its soft card (to call the Fachdienst directly). */
  token(identityId: string): Promise<string>;
  close(): Promise<void>;
}

export interface WorldOptions extends Partial<Pick<PracticeAppOptions, 'pinPrompt' | 'claimLeaseMs' | 'now' | 'onOutbox' | 'instanceId'>> {
  /** More tenants besides the seeded practice, e.g. a pharmacy (for $reject). */
  extraTenants?: { name: string; identity: Identity }[];
  /** Default: one seeded PKI per test process. A persisted one survives restarts (crash test). */
  pki?: LoadedPki;
  /** Wraps the practice's fetch to the Fachdienst (network latency in the crash test). */
  wrapFachdienstFetch?: (f: typeof fetch) => typeof fetch;
}

export async function createPracticeWorld(database: Database, options: WorldOptions = {}): Promise<PracticeWorld> {
  const pki = options.pki ?? testPki();
  const signer = { key: pki.idp.key, alg: 'BP256R1' as const, kid: IDP_SIG_KID, cert: pki.idp.cert };
  const revocations = new RevocationRegistry(null);
  const idp = createIdpApp({
    issuer: ISSUER, dev: false, trustAnchors: pki.trustAnchors(), intermediates: pki.trustList(), signer, ocsp: createOcspChecker(revocations),
  });
  const idpFetch = injectFetch(idp);
  const fachdienst = await buildFachdienst({
    database,
    trust: TrustStore.fromCertificates(pki.trustList()),
    ocsp: createOcspChecker(revocations),
    tokenVerifier: createTokenVerifier({ keys: [{ kid: IDP_SIG_KID, key: pki.idp.key }], issuer: ISSUER }),
    signer: pki.fachdienst,
    baseUrl: FD_URL,
    rateLimitPerMinute: 0,
  });
  // As `erx` in dev mode: with the PIN prompt the physician types the HBA PIN, the terminal still unlocks the SMC-B.
  const konnektor = await startTestKonnektor({ pki, autoPin: !options.pinPrompt, autoSmcbPin: true });
  const konnektorClient = createKonnektorClient('http://konnektor.test', { context: { ...CONTEXT, MandantId: TENANT }, fetch: injectFetch(konnektor.app) });
  const fdClientFor = (identity: Identity) => {
    const smcb = konnektor.cards.cardsForIdentity(identity.id).find((c) => c.type === 'SMC-B')!.handle;
    return createFachdienstClient({
      baseUrl: FD_URL,
      tokens: konnektorTokenSource({ idpUrl: ISSUER, konnektor: konnektorClient, smcbHandle: smcb, fetch: idpFetch }),
      fetch: (options.wrapFachdienstFetch ?? ((f) => f))(injectFetch(fachdienst)),
    });
  };
  const built = await createPracticeApp({
    database, konnektor: konnektorClient, pinPrompt: options.pinPrompt ?? false, claimLeaseMs: options.claimLeaseMs,
    now: options.now, onOutbox: options.onOutbox, instanceId: options.instanceId,
    tenants: [
      { name: TENANT, practice, physician, fachdienst: fdClientFor(practice) },
      ...(options.extraTenants ?? []).map((t) => ({ name: t.name, practice: t.identity, physician, fachdienst: fdClientFor(t.identity) })),
    ],
  });
  await built.app.ready();
  return {
    ...built, fachdienst, konnektor, idp, revocations,
    async token(identityId: string) {
      const { aut } = pki.cards[identityId];
      const tokens = await cardLogin({
        idpUrl: ISSUER, clientId: 'erx-test', redirectUri: 'http://127.0.0.1/cb', certificate: aut.cert,
        sign: async (digest) => signDigest(aut.key, digest), fetch: idpFetch,
      });
      return tokens.accessToken;
    },
    async close() {
      await built.app.close();
      await fachdienst.close();
      await idp.close();
      await konnektor.close();
    },
  };
}

export interface RequestInput {
  patient?: Identity;
  medication?: MedicationInput;
  /** The MedicationRequest id (correlation key). */
  id?: string;
}

/** A bundle as a third-party system sends it: no PrescriptionID, no physician. */
export function requestBundle(input: RequestInput = {}): Bundle {
  const patient = input.patient ?? insured[0];
  const bundle = buildPrescriptionBundle({
    flowType: patient.coverage!.type === 'PKV' ? '200' : '160',
    patient: { kvnr: patient.kvnr, given: patient.given, family: patient.family, birthDate: patient.birthDate, address: patient.address },
    coverage: patient.coverage!,
    practice: { name: practice.name, bsnr: practice.bsnr, telematikId: practice.telematikId, address: practice.address, phone: practice.phone },
    medication: input.medication ?? { kind: 'PZN', pzn: '06313728', display: 'Sumatriptan-1a Pharma 100 mg Tabletten', normgroesse: 'N1', form: 'TAB' },
    dosage: '1-0-1',
    quantity: 1,
  });
  delete bundle.identifier;
  if (input.id) {
    const entry = bundle.entry!.find((e) => e.resource?.resourceType === 'MedicationRequest')!;
    const old = entry.resource!.id!;
    (entry.resource as MedicationRequest).id = input.id;
    entry.fullUrl = entry.fullUrl!.replace(old, input.id);
    const composition = bundle.entry!.find((e) => e.resource?.resourceType === 'Composition')!.resource as any;
    for (const s of composition.section ?? []) for (const e of s.entry ?? []) if (e.reference?.includes(old)) e.reference = e.reference.replace(old, input.id);
  }
  return bundle;
}

export const requestId = (bundle: Bundle) => bundle.entry!.find((e) => e.resource?.resourceType === 'MedicationRequest')!.resource!.id!;

/** POST $createerptask with the bundle as XML. */
export async function postRequest(app: FastifyInstance, bundle: Bundle, query = '', userAgent = 'KIS-Test/1.0') {
  return app.inject({
    method: 'POST', url: `/${TENANT}/TI?action=$createerptask${query}`,
    headers: { 'content-type': 'application/fhir+xml;charset=utf-8', 'user-agent': userAgent },
    payload: toXml(bundle),
  });
}

export const weber = () => identityById('insured-weber')!;
export { TENANT };

export interface PracticeWorldFixture { readonly world: PracticeWorld; readonly database: Database }

/** One practice world on an in-memory PGlite per test file: node:test before/after hooks, getters for the tests. */
export function usePracticeWorld(options: WorldOptions = {}): PracticeWorldFixture {
  let database: Database | undefined;
  let world: PracticeWorld | undefined;
  before(async () => {
    database = await openDatabase({ dataDir: ':memory:' });
    world = await createPracticeWorld(database, options);
  });
  after(async () => {
    await world?.close();
    await database?.close();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('usePracticeWorld: used before its before() hook ran (read it inside a test or hook)');
    return value;
  };
  return {
    get world() { return ready(world); },
    get database() { return ready(database); },
  };
}
