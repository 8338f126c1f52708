// Batch signing (Stapelsignatur / Komfortsignatur) of a tenant's pending requests. Each request moves
// pending -> signing -> activated -> done (or failed); every step is committed before the next outside call:
//   1. claim (one UPDATE, so concurrent batches never share a request)
//   2. $create at the Fachdienst, PrescriptionID + AccessCode stored        (a Task created but not stored is harmless)
//   3. bundle completed (PrescriptionID, authoredOn = signing day, physician), QES for up to 250 per SignDocument
//      call with one PIN entry, CMS stored                                  (a restart re-sends the same signature)
//   4. $activate; "already ready" for our own Task counts as success; KIM/webhook outbox in the same transaction
// A request left in `signing` by a process that died is claimed again after the lease and resumes at its step.
import { randomUUID } from 'node:crypto';
import { FhirError } from '../fhir/errors.ts';
import { toXml } from '../fhir/codec.ts';
import { setAuthoredOn, setPractitioner, setPrescriptionId } from '../fhir/kbv/build-bundle.ts';
import { berlinDay } from '../fhir/kbv/dates.ts';
import { validatePrescriptionBundle } from '../fhir/kbv/prescription-bundle.ts';
import type { Bundle } from '../fhir/types.ts';
import { KonnektorClientError, type CardInfo, type KonnektorClient } from '../konnektor/client.ts';
import { identities, type Identity } from '../seed/identities.ts';
import { FachdienstCallError, type FachdienstClient } from './fachdienst-client.ts';
import { mapLimit } from './pool.ts';
import type { PracticeRequest, PracticeStore, RequestSummary } from './store.ts';

/** Konnektor limit per SignDocument call (Stapelsignatur). */
export const MAX_DOCUMENTS_PER_CALL = 250;
const FACHDIENST_PARALLEL = 8;
/** Activations recorded per transaction (the UI's progress moves in these steps). */
const ACTIVATION_GROUP = 16;

export interface Tenant {
  name: string;
  practice: Identity;
  /** The physician whose HBA signs when no card is named. */
  physician: Identity;
  fachdienst: FachdienstClient;
}

export interface SigningOptions {
  store: PracticeStore;
  konnektor: KonnektorClient;
  /** Unique per process: whose claims these are. */
  instanceId?: string;
  /** After this long a claim in `signing` counts as abandoned (its process died). */
  claimLeaseMs?: number;
  /** ERX_PIN_PROMPT=1: the PIN must come from the UI (or an active comfort signature). */
  pinPrompt: boolean;
  now?: () => Date;
  /** Called after each request reached a final state of this run (webhooks, logs). */
  onSettled?: (request: RequestSummary) => void;
}

export interface BatchRequest {
  ids?: string[];
  pin?: string;
  hbaIccsn?: string;
  cardName?: string;
}

export interface BatchResult {
  batchId: string;
  /** The claimed requests in their state after the run. */
  requests: RequestSummary[];
  /** Why the batch stopped early (PIN rejected, no HBA, Konnektor down); the rest stays pending. */
  error?: FhirError;
}

export class BatchSigner {
  readonly instanceId: string;
  private readonly leaseMs: number;
  private readonly now: () => Date;

  constructor(private readonly options: SigningOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.leaseMs = options.claimLeaseMs ?? 120_000;
    this.now = options.now ?? (() => new Date());
  }

  /** Claims now (so the total is known), signs in the background; `done` settles when the batch ended. */
  async start(tenant: Tenant, request: BatchRequest = {}): Promise<{ batchId: string; total: number; done: Promise<BatchResult> }> {
    const { store } = this.options;
    const settings = await store.settings(tenant.name);
    if (this.options.pinPrompt && !request.pin && !settings.comfortUserId) {
      throw new FhirError(409, 'Die HBA-PIN muss in der Praxis-UI bestätigt werden (ERX_PIN_PROMPT=1) oder die Komfortsignatur aktiv sein', { code: 'business-rule' });
    }
    const batchId = await store.createBatch(tenant.name, 0);
    const claimed = await store.claim(tenant.name, { batchId, claimedBy: this.instanceId, leaseMs: this.leaseMs, ids: request.ids });
    await store.setBatchTotal(batchId, claimed.length);
    const done = this.run(tenant, batchId, claimed, request, settings.comfortUserId);
    return { batchId, total: claimed.length, done };
  }

  private async run(tenant: Tenant, batchId: string, claimed: PracticeRequest[], request: BatchRequest, comfortUserId: string | undefined): Promise<BatchResult> {
    const { store } = this.options;
    const ids = claimed.map((r) => r.id);
    let error: FhirError | undefined;
    try {
      if (claimed.length > 0) {
        const card = await this.chooseHba(request);
        const physician = identities.find((i) => i.telematikId && i.telematikId === card.TelematikId) ?? tenant.physician;
        const created = await this.createTasks(tenant, claimed);
        const signed = await this.sign(tenant, created, card, physician, request.pin, comfortUserId);
        await this.activate(tenant, signed);
      }
      await store.finishBatch(batchId, 'finished');
    } catch (err) {
      error = err instanceof FhirError ? err : new FhirError(500, 'Stapelsignatur abgebrochen', { code: 'exception', cause: err });
      // Whatever is still claimed goes back to pending with the reason; its progress so far is kept.
      await store.release(tenant.name, ids, error.message).catch(() => undefined);
      await store.finishBatch(batchId, 'failed', error.message).catch(() => undefined);
    }
    const requests = await store.getSummaries(tenant.name, ids);
    for (const r of requests) if (r.status !== 'pending' && r.status !== 'signing') this.options.onSettled?.(r);
    return { batchId, requests, ...(error ? { error } : {}) };
  }

  private async chooseHba(request: BatchRequest): Promise<CardInfo> {
    let cards: CardInfo[];
    try {
      cards = await this.options.konnektor.getCards({ cardType: 'HBA' });
    } catch (err) {
      throw konnektorFailure(err);
    }
    const card = request.hbaIccsn
      ? cards.find((c) => c.Iccsn === request.hbaIccsn)
      : request.cardName
        ? cards.find((c) => c.CardHolderName === request.cardName || c.CardHandle === request.cardName)
        : cards[0];
    if (!card) {
      const which = request.hbaIccsn ? `mit ICCSN ${request.hbaIccsn}` : request.cardName ? `mit Namen ${request.cardName}` : '';
      throw new FhirError(409, `Kein HBA ${which} im Kartenterminal`.replace('  ', ' '), { code: 'business-rule' });
    }
    return card;
  }

  /**
   * Step 2 for requests without a Task yet, then one write for all of them. A crash before that write leaves draft
   * Tasks nobody knows at the Fachdienst (harmless); the restart creates new ones.
   */
  private async createTasks(tenant: Tenant, requests: PracticeRequest[]): Promise<PracticeRequest[]> {
    const out = await mapLimit(requests, FACHDIENST_PARALLEL, async (r) => {
      if (r.prescriptionId && r.accessCode) return { request: r, fresh: false };
      try {
        const task = await tenant.fachdienst.createTask(r.flowType);
        return { request: { ...r, ...task }, fresh: true };
      } catch (err) {
        await this.settleError(tenant, r, err, '$create');
        return undefined;
      }
    });
    const ok = out.filter((x): x is { request: PracticeRequest; fresh: boolean } => x !== undefined);
    await this.options.store.saveTasks(tenant.name, ok.filter((x) => x.fresh).map(({ request: r }) => ({ id: r.id, prescriptionId: r.prescriptionId!, accessCode: r.accessCode! })));
    return ok.map((x) => x.request);
  }

  /** Step 3: one SignDocument call per 250 bundles. */
  private async sign(tenant: Tenant, requests: PracticeRequest[], card: CardInfo, physician: Identity, pin: string | undefined, comfortUserId: string | undefined): Promise<PracticeRequest[]> {
    const { store } = this.options;
    const ready = requests.filter((r) => r.cms);
    const toSign: { request: PracticeRequest; bundle: Bundle; xml: string; day: string }[] = [];
    const day = berlinDay(this.now());
    for (const r of requests) {
      if (r.cms) continue;
      try {
        const bundle = completeBundle(r, physician, tenant.practice, day);
        validatePrescriptionBundle(bundle, { flowType: r.flowType, taskPrescriptionId: r.prescriptionId!, requirePractitioner: true, now: this.now() });
        toSign.push({ request: r, bundle, xml: toXml(bundle), day });
      } catch (err) {
        await this.settleError(tenant, r, err, 'Prüfung');
      }
    }
    for (let i = 0; i < toSign.length; i += MAX_DOCUMENTS_PER_CALL) {
      const chunk = toSign.slice(i, i + MAX_DOCUMENTS_PER_CALL);
      let result;
      try {
        result = await this.options.konnektor.signDocuments(card.CardHandle, chunk.map((c, j) => ({
          requestId: String(j), content: c.xml, mimeType: 'text/xml; charset=utf-8', shortText: `E-Rezept ${c.request.prescriptionId}`.slice(0, 30),
        })), { pin, userId: comfortUserId });
      } catch (err) {
        throw konnektorFailure(err);
      }
      const byId = new Map(result.signed.map((s) => [s.requestId, s.cms]));
      const signed = chunk.flatMap((c, j) => (byId.has(String(j)) ? [{ ...c.request, cms: byId.get(String(j))!, authoredOn: c.day }] : []));
      await store.saveSignatures(tenant.name, signed.map((r) => ({ id: r.id, cms: r.cms!, authoredOn: r.authoredOn! })));
      ready.push(...signed);
    }
    return ready;
  }

  /**
   * Step 4. Successes are recorded in groups (one transaction each, with their outbox rows); a crash before a group is
   * recorded is repaired by the next run: re-activation of our own ready Task counts as success.
   */
  private async activate(tenant: Tenant, requests: PracticeRequest[]): Promise<void> {
    const { store } = this.options;
    const settings = await store.settings(tenant.name);
    let pending: Parameters<PracticeStore['markActivated']>[1] = [];
    let writes: Promise<void> = Promise.resolve();
    const flush = () => {
      const group = pending;
      pending = [];
      writes = writes.then(() => store.markActivated(tenant.name, group));
      return writes;
    };
    await mapLimit(requests, FACHDIENST_PARALLEL, async (r) => {
      try {
        await tenant.fachdienst.activateTask(r.prescriptionId!, r.accessCode!, r.cms!);
      } catch (err) {
        await this.settleError(tenant, r, err, '$activate');
        return;
      }
      const outbox: { kind: 'kim' | 'webhook'; payload: Record<string, unknown> }[] = [];
      if (r.pharmacy) outbox.push({ kind: 'kim', payload: { prescriptionId: r.prescriptionId, accessCode: r.accessCode, pharmacy: r.pharmacy } });
      if (settings.webhookUrl) outbox.push({ kind: 'webhook', payload: { url: settings.webhookUrl, event: 'signed', id: r.id, prescriptionId: r.prescriptionId, accessCode: r.accessCode } });
      pending.push({ id: r.id, outbox });
      if (pending.length >= ACTIVATION_GROUP) await flush();
    });
    await flush();
  }

  /** Retryable trouble (Fachdienst down, 5xx): back to pending, progress kept. Anything else: failed. */
  private async settleError(tenant: Tenant, r: PracticeRequest, err: unknown, step: string): Promise<void> {
    const { store } = this.options;
    const message = `${step}: ${err instanceof Error ? err.message : String(err)}`;
    if (err instanceof FachdienstCallError && err.retryable) {
      await store.release(tenant.name, [r.id], message);
      return;
    }
    await store.markFailed(tenant.name, r.id, message);
    const { webhookUrl } = await store.settings(tenant.name);
    if (webhookUrl) await store.enqueue(tenant.name, r.id, 'webhook', { url: webhookUrl, event: 'failed', id: r.id, error: message });
  }
}

/** The stored request completed for signing: PrescriptionID, authoredOn and the signing physician. */
export function completeBundle(r: PracticeRequest, physician: Identity, practice: Identity, day: string): Bundle {
  const bundle = structuredClone(r.bundle);
  setPrescriptionId(bundle, r.prescriptionId!);
  setAuthoredOn(bundle, day);
  setPractitioner(
    bundle,
    { lanr: physician.lanr, given: physician.given, family: physician.family, telematikId: physician.telematikId },
    { name: practice.name, bsnr: practice.bsnr, telematikId: practice.telematikId, address: practice.address, phone: practice.phone },
  );
  return bundle;
}

function konnektorFailure(err: unknown): Error {
  if (err instanceof KonnektorClientError) {
    const status = err.status === 403 || err.status === 423 || err.status === 401 ? 403 : err.status >= 500 ? 503 : 409;
    return new FhirError(status, `Konnektor: ${err.message}`, { code: status === 503 ? 'transient' : 'security' });
  }
  if (err instanceof FhirError) return err;
  return new FhirError(503, `Konnektor nicht erreichbar: ${(err as Error).message}`, { code: 'transient' });
}
