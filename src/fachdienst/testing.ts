// Test world for the Fachdienst: the real app on a real database, a test PKI (HBA QES, Fachdienst key, IDP key),
// access tokens for the seeded identities, an adjustable clock, and helpers that walk a Task through its states.
// Only the outside (the clock) is simulated; everything of ours is the real code.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { signCades } from '../crypto/cades.ts';
import { RevocationRegistry, createOcspChecker, OcspUnavailableError, type OcspChecker } from '../crypto/ocsp.ts';
import { createTestPki, type KeyAndCert, type TestPki } from '../crypto/pki.ts';
import { TrustStore } from '../crypto/trust.ts';
import { parseFhir, serializeFhir, toXml } from '../fhir/codec.ts';
import { buildPrescriptionBundle } from '../fhir/kbv/build-bundle.ts';
import { berlinDay } from '../fhir/kbv/dates.ts';
import type { Bundle, Resource, Task } from '../fhir/types.ts';
import { ERP_AUDIENCE, issueAccessToken, type TokenSigner } from '../idp/tokens.ts';
import { createTokenVerifier } from '../idp/verify.ts';
import { identityById, insured, payer, pharmacies, physician, practice, type Identity } from '../seed/identities.ts';
import { openDatabase, type Database } from '../storage/database.ts';
import { buildFachdienst, type FachdienstOptions } from './app.ts';
import { NS } from './task-resource.ts';
import {
  encodePruefungsnachweis, hcvToParam, makePruefzifferV1, makePruefzifferV2, vsdmKeyOf,
} from '../crypto/vsdm.ts';
import { hcvOf, vsdOf } from '../konnektor/vsd.ts';

/** The VSDM key of the test world's Fachdienst (what the Konnektor's ReadVSD would share with it). */
export const TEST_VSDM_KEY = Buffer.alloc(32, 0x42);

export interface EgkProofOptions {
  /** Prüfziffer version: 2 (VSDM++, with hcv, default) or 1 (HMAC). */
  version?: 1 | 2;
  /** When the card was checked; default the world's clock. */
  issuedAt?: Date;
  key?: Buffer;
  /** Overrides of the URL parameters. */
  kvnr?: string;
  hcv?: string;
  /** Changes the Prüfziffer bytes before encoding (tampering). */
  tamper?: (pz: Buffer) => void;
}

/**
 * `kvnr=&hcv=&pnw=` for GET /Task as a pharmacy's AVS sends them after ReadVSD of `who`'s eGK (the simulated
 * Konnektor makes the same proof, src/konnektor/vsd.ts).
 */
export function egkQuery(world: World, who: Who, options: EgkProofOptions = {}): string {
  const vsd = vsdOf(world.identity(who));
  const hcv = hcvOf(vsd);
  const issuedAt = options.issuedAt ?? world.clock.now;
  const key = vsdmKeyOf(options.key ?? TEST_VSDM_KEY);
  const pz = options.version === 1
    ? makePruefzifferV1(key, { kvnr: vsd.Versicherten_ID, issuedAt })
    : makePruefzifferV2(key, { kvnr: vsd.Versicherten_ID, issuedAt, hcv });
  options.tamper?.(pz);
  const pnw = encodePruefungsnachweis({ timestamp: issuedAt, result: '2', pz });
  const params = new URLSearchParams({ kvnr: options.kvnr ?? vsd.Versicherten_ID, hcv: options.hcv ?? hcvToParam(hcv), pnw });
  return params.toString();
}

const ISSUER = 'http://idp.test';
export const BASE_URL = 'http://fd.test';

/** One PKI per test process: key generation is the slow part. */
let sharedPki: { pki: TestPki; qes: KeyAndCert; fd: KeyAndCert; idp: KeyAndCert } | undefined;
function testPki() {
  if (!sharedPki) {
    const pki = createTestPki();
    sharedPki = {
      pki,
      qes: pki.issue({ kind: 'hba-qes', name: physician.name, givenName: 'Hanna', surname: 'Berger', telematikId: physician.telematikId }),
      fd: pki.issue({ kind: 'fachdienst', name: 'erp.fachdienst.test' }),
      idp: pki.issue({ kind: 'idp', name: 'Test IDP' }),
    };
  }
  return sharedPki;
}

export interface Clock {
  now: Date;
  advanceDays(days: number): void;
}

export type Who = 'practice' | 'physician' | 'pharmacy' | 'pharmacy2' | 'insured' | 'child' | 'stranger' | 'pkv' | 'payer';

const WHO: Record<Who, Identity> = {
  practice,
  physician,
  pharmacy: pharmacies[0],
  pharmacy2: pharmacies[1],
  insured: insured[0], // Lisa Müller, representative for her child
  child: insured[1],
  stranger: insured[2],
  pkv: identityById('insured-weber')!, // privately insured: the patient of flowtype 200/209 prescriptions
  payer,
};

export interface World {
  app: FastifyInstance;
  clock: Clock;
  pki: TestPki;
  qes: KeyAndCert;
  fd: KeyAndCert;
  revocations: RevocationRegistry;
  /** When set, OCSP answers fail (512). */
  ocspDown: { value: boolean };
  identity(who: Who): Identity;
  token(who: Who): Promise<string>;
  /** A token of any seeded identity (e.g. each of the 22 pharmacies); `options` make expired or misdirected ones. */
  tokenOf(identity: Identity, options?: { now?: Date; lifetimeSeconds?: number; audience?: string; issuer?: string }): Promise<string>;
  close(): Promise<void>;
}

export interface WorldOptions { rateLimitPerMinute?: number; signer?: KeyAndCert; logger?: FachdienstOptions['logger']; egk?: FachdienstOptions['egk'] }

export async function createWorld(database: Database, options: WorldOptions = {}): Promise<World> {
  const { pki, qes, fd, idp } = testPki();
  const signer: TokenSigner = { key: idp.key, alg: 'BP256R1', kid: 'puk_idp_sig', cert: idp.cert };
  const verifier = createTokenVerifier({ keys: [{ kid: 'puk_idp_sig', key: idp.key }], issuer: ISSUER });
  const clock: Clock = {
    now: new Date(),
    advanceDays(days) {
      this.now = new Date(this.now.getTime() + days * 86_400_000);
    },
  };
  const revocations = new RevocationRegistry(null);
  const registryChecker = createOcspChecker(revocations);
  const ocspDown = { value: false };
  const ocsp: OcspChecker = {
    async check(cert, issuer) {
      if (ocspDown.value) throw new OcspUnavailableError('OCSP responder not reachable (test)');
      return registryChecker.check(cert, issuer);
    },
  };
  const app = await buildFachdienst({
    database,
    trust: TrustStore.fromCertificates(pki.trustList()),
    ocsp,
    tokenVerifier: verifier,
    signer: options.signer ?? fd,
    now: () => clock.now,
    baseUrl: BASE_URL,
    rateLimitPerMinute: options.rateLimitPerMinute ?? 0,
    logger: options.logger,
    egk: options.egk ?? { vsdmKey: TEST_VSDM_KEY },
  });
  const tokens = new Map<Who, string>();
  return {
    app, clock, pki, qes, fd, revocations, ocspDown,
    identity: (who) => WHO[who],
    async token(who) {
      let t = tokens.get(who);
      if (!t) {
        t = await issueAccessToken(signer, WHO[who], { issuer: ISSUER, audience: ERP_AUDIENCE, lifetimeSeconds: 3600 });
        tokens.set(who, t);
      }
      return t;
    },
    tokenOf: (identity, o = {}) => issueAccessToken(signer, identity, {
      issuer: o.issuer ?? ISSUER, audience: o.audience ?? ERP_AUDIENCE, lifetimeSeconds: o.lifetimeSeconds ?? 3600, now: o.now,
    }),
    close: () => app.close(),
  };
}

/** The world and database of one test file, readable once its `before` hook has run. */
export interface WorldFixture {
  readonly world: World;
  readonly database: Database;
}

/**
 * A World on a fresh in-memory database for the calling test file (or describe block): opened in a `before` hook,
 * closed in an `after` hook. Further per-file setup goes in `setup`, run in the same hook: node:test starts top-level
 * `before` hooks at once, so a second hook of the caller would not wait for this one.
 */
export function useWorld(options: WorldOptions & { setup?: (fixture: WorldFixture) => void | Promise<void> } = {}): WorldFixture {
  const { setup, ...worldOptions } = options;
  let database: Database | undefined;
  let world: World | undefined;
  before(async () => {
    database = await openDatabase({ dataDir: ':memory:' });
    world = await createWorld(database, worldOptions);
    await setup?.({ world, database });
  });
  after(async () => {
    await world?.close();
    await database?.close();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useWorld: used before its before() hook ran (read it inside a test or hook)');
    return value;
  };
  return {
    get world() { return ready(world); },
    get database() { return ready(database); },
  };
}

export type Format = 'json' | 'xml';

export interface CallOptions {
  format?: Format;
  body?: Resource;
  headers?: Record<string, string>;
}

/** One request as `who`, body and Accept in `format`; the response body parsed when it is FHIR. */
export async function call(world: World, who: Who, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, options: CallOptions = {}): Promise<{ status: number; body: any; res: LightMyRequestResponse }> {
  const format = options.format ?? 'json';
  const type = format === 'xml' ? 'application/fhir+xml' : 'application/fhir+json';
  const headers: Record<string, string> = { authorization: `Bearer ${await world.token(who)}`, accept: type, ...options.headers };
  let payload: string | undefined;
  if (options.body) {
    headers['content-type'] = `${type};charset=utf-8`;
    payload = serializeFhir(options.body, format);
  }
  const res = await world.app.inject({ method, url, headers, payload });
  let body: any;
  if (res.body && /fhir\+(json|xml)/.test(String(res.headers['content-type']))) {
    body = parseFhir(res.body, /xml/.test(String(res.headers['content-type'])) ? 'xml' : 'json');
  }
  return { status: res.statusCode, body, res };
}

export function identifierValue(task: Task, system: string): string | undefined {
  return task.identifier?.find((i) => i.system === system)?.value;
}

export function createParameters(flowType: string): Resource {
  return { resourceType: 'Parameters', parameter: [{ name: 'workflowType', valueCoding: { system: NS.flowType, code: flowType } }] } as Resource;
}

export interface PrescriptionOptions {
  patient?: Identity;
  signingTime?: Date;
  /** Overrides the bundle's PrescriptionID (mismatch tests). */
  prescriptionId?: string;
  signer?: KeyAndCert;
  edit?: (bundle: Bundle) => void;
}

/** The KBV bundle for a Task, QES-signed by the test HBA, as base64 (what $activate carries). */
export function signedPrescription(world: World, taskId: string, flowType: string, options: PrescriptionOptions = {}): string {
  return signPrescription(options.signer ?? world.qes, taskId, flowType, { signingTime: world.clock.now, ...options });
}

/** The same with any HBA QES key (a platform started from a PKI directory, benchmarks). */
export function signPrescription(qes: KeyAndCert, taskId: string, flowType: string, options: PrescriptionOptions = {}): string {
  const signingTime = options.signingTime ?? new Date();
  const patient = options.patient ?? (flowType === '200' || flowType === '209' ? identityById('insured-weber')! : WHO.insured);
  const bundle = buildPrescriptionBundle({
    flowType,
    prescriptionId: options.prescriptionId ?? taskId,
    authoredOn: berlinDay(signingTime),
    patient: { kvnr: patient.kvnr, given: patient.given, family: patient.family, birthDate: patient.birthDate, address: patient.address },
    coverage: { type: patient.coverage!.type, ik: patient.coverage!.ik, payer: patient.coverage!.payer },
    physician: { lanr: physician.lanr, given: physician.given, family: physician.family, telematikId: physician.telematikId },
    practice: { name: practice.name, bsnr: practice.bsnr, telematikId: practice.telematikId, address: practice.address, phone: practice.phone },
    medication: { kind: 'PZN', pzn: '06313728', display: 'Sumatriptan-1a Pharma 100 mg Tabletten', normgroesse: 'N1', form: 'TAB' },
    dosage: '1-0-1',
    quantity: 1,
  });
  options.edit?.(bundle);
  const der = signCades(Buffer.from(toXml(bundle), 'utf8'), options.signer ?? qes, { signingTime });
  return der.toString('base64');
}

export function activateParameters(data: string): Resource {
  return {
    resourceType: 'Parameters',
    parameter: [{ name: 'ePrescription', resource: { resourceType: 'Binary', contentType: 'application/pkcs7-mime', data } }],
  } as Resource;
}

export interface TaskHandle {
  id: string;
  flowType: string;
  accessCode: string;
  secret?: string;
  kvnr?: string;
}

export async function createTask(world: World, flowType = '160', format: Format = 'json'): Promise<TaskHandle> {
  const r = await call(world, 'practice', 'POST', '/Task/$create', { body: createParameters(flowType), format });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { id: r.body.id, flowType, accessCode: identifierValue(r.body, NS.accessCode)! };
}

export async function readyTask(world: World, flowType = '160', format: Format = 'json', options: PrescriptionOptions = {}): Promise<TaskHandle> {
  const task = await createTask(world, flowType, format);
  const r = await call(world, 'practice', 'POST', `/Task/${task.id}/$activate`, {
    format, body: activateParameters(signedPrescription(world, task.id, flowType, options)), headers: { 'x-accesscode': task.accessCode },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { ...task, kvnr: r.body.for?.identifier?.value };
}

export async function acceptedTask(world: World, flowType = '160', format: Format = 'json', by: Who = 'pharmacy'): Promise<TaskHandle> {
  const task = await readyTask(world, flowType, format);
  const r = await call(world, by, 'POST', `/Task/${task.id}/$accept?ac=${task.accessCode}`, { format });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const t = r.body.entry[0].resource as Task;
  return { ...task, secret: identifierValue(t, NS.secret) };
}

/** A $dispense / $close body for the Task, performed by `who`. */
export function dispenseParameters(world: World, task: TaskHandle, who: Who = 'pharmacy', whenHandedOver?: string): Resource {
  return {
    resourceType: 'Parameters',
    parameter: [{
      name: 'rxDispensation',
      part: [
        {
          name: 'medicationDispense',
          resource: {
            resourceType: 'MedicationDispense',
            id: 'md-1',
            identifier: [{ system: NS.prescriptionId, value: task.id }],
            status: 'completed',
            subject: { identifier: { system: NS.kvnr, value: task.kvnr } },
            performer: [{ actor: { identifier: { system: NS.telematikId, value: world.identity(who).telematikId } } }],
            whenHandedOver: whenHandedOver ?? berlinDay(world.clock.now),
            medicationReference: { reference: 'Medication/med-1' },
          },
        },
        {
          name: 'medication',
          resource: {
            resourceType: 'Medication', id: 'med-1',
            code: { coding: [{ system: 'http://fhir.de/CodeSystem/ifa/pzn', code: '06313728' }], text: 'Sumatriptan-1a Pharma 100 mg Tabletten' },
          },
        },
      ],
    }],
  } as Resource;
}

export async function completedTask(world: World, flowType = '160', format: Format = 'json'): Promise<TaskHandle> {
  const task = await acceptedTask(world, flowType, format);
  const r = await call(world, 'pharmacy', 'POST', `/Task/${task.id}/$close?secret=${task.secret}`, { format, body: dispenseParameters(world, task) });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return task;
}

export async function cancelledTask(world: World, flowType = '160'): Promise<TaskHandle> {
  const task = await readyTask(world, flowType);
  const r = await call(world, 'insured', 'POST', `/Task/${task.id}/$abort`);
  assert.equal(r.status, 204, JSON.stringify(r.body));
  return task;
}

export type State = 'draft' | 'ready' | 'in-progress' | 'completed' | 'cancelled';

/** A fresh Task in the given state (accepted by `pharmacy`, cancelled by the insured from ready). */
export async function taskInState(world: World, state: State, flowType = '160'): Promise<TaskHandle> {
  switch (state) {
    case 'draft':
      return createTask(world, flowType);
    case 'ready':
      return readyTask(world, flowType);
    case 'in-progress':
      return acceptedTask(world, flowType);
    case 'completed':
      return completedTask(world, flowType);
    case 'cancelled':
      return cancelledTask(world, flowType);
  }
}
