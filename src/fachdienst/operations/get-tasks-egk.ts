// GET /Task?kvnr=&hcv=&pnw= by a pharmacy: the insured handed over the eGK, the pharmacy's Konnektor ran ReadVSD,
// and the VSDM proof of presence (Prüfungsnachweis with Prüfziffer) stands in for the 2D code. Answer: the insured's
// redeemable Tasks (flowtype 160, ready, not expired) with AccessCode, so the pharmacy can $accept them; no bundles.
// Checks in gematik's order (GetAllTasksHandler, A_23450/A_23451-01/A_23456-01/A_25206-08/A_27279/A_27445/A_27446):
// day lock 423, kvnr 455, hcv 457, PNW decodable, Prüfziffer (HMAC / AES-GCM) 403, card revoked 403, age ≤ 30 min
// 403, hcv 458, KVNR 456; result 3 without Prüfziffer: 454, or 202 when the Fachdienst accepts PN3 (TI outage).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sql, type Kysely } from 'kysely';
import {
  decodePruefungsnachweis, hcvFromParam, verifyPruefziffer, vsdmKeyOf, VsdmProofError, type ProofContent, type VsdmKeyLookup,
} from '../../crypto/vsdm.ts';
import { berlinDay } from '../../fhir/kbv/dates.ts';
import { FhirError, badRequest, forbidden } from '../../fhir/errors.ts';
import { isValidKvnr } from '../../fhir/identifiers.ts';
import { recordAudit, type AuditKind } from '../audit.ts';
import type { Caller } from '../auth.ts';
import type { FachdienstContext } from '../context.ts';
import { pagingOf, queryValues, searchsetBundle } from '../search.ts';
import { entry, renderTask } from '../task-resource.ts';

/** A_23451-01: the proof is valid for 30 minutes (either side of now, as the FD compares the absolute difference). */
export const PROOF_VALIDITY_MS = 30 * 60_000;
/** Failed KVNR / hcv comparisons per Telematik-ID and day before 423 (A_27446; the FD's limit is configurable). */
export const DEFAULT_FAILURES_PER_DAY = 50;
const PAGE_SIZE = 50;

/** The eGK route's settings (FachdienstOptions.egk). */
export interface EgkOptions {
  /** VSDM key shared with the VSDM service (the Konnektor); without it every Prüfziffer is refused. */
  vsdmKey?: Buffer;
  /** Accept a Prüfungsnachweis with result 3 and no Prüfziffer (202), A_25207. */
  acceptPn3?: boolean;
  failuresPerDay?: number;
}

const ANWESENHEIT = 'Anwesenheitsnachweis konnte nicht erfolgreich durchgeführt werden';
const MAC_FAILED = `${ANWESENHEIT} (Fehler bei Prüfung der HMAC-Sicherung).`;
const V2_FAILED = `${ANWESENHEIT} (VSDM Schlüssel nicht vorhanden oder Inhalte nicht entschlüsselbar).`;
const TOO_OLD = `${ANWESENHEIT} (Zeitliche Gültigkeit des Anwesenheitsnachweis überschritten).`;
const NO_PZ = `${ANWESENHEIT} (Prüfziffer fehlt im VSDM Prüfungsnachweis oder ungültiges Ergebnis im Prüfungsnachweis).`;

// Failed comparisons per Telematik-ID and Berlin day, in the database (table fachdienst_egk_failure): shared by all
// workers of a cluster and kept over a restart.

async function failuresToday(db: Kysely<any>, telematikId: string, day: string): Promise<number> {
  const row = await db.selectFrom('fachdienst_egk_failure').select('failures')
    .where('telematik_id', '=', telematikId).where('day', '=', day).executeTakeFirst();
  return row ? Number(row.failures) : 0;
}

/** One atomic upsert: parallel failures of one pharmacy (any worker) each count. */
async function recordFailure(db: Kysely<any>, telematikId: string, day: string): Promise<void> {
  await db.insertInto('fachdienst_egk_failure').values({ telematik_id: telematikId, day, failures: 1 })
    .onConflict((oc) => oc.columns(['telematik_id', 'day']).doUpdateSet({ failures: sql`fachdienst_egk_failure.failures + 1` }))
    .execute();
}

/** Retention: counters of days before `now`'s Berlin day no longer lock anyone. */
export async function deleteExpiredEgkFailures(db: Kysely<any>, now: Date): Promise<number> {
  const result = await db.deleteFrom('fachdienst_egk_failure').where('day', '<', berlinDay(now)).executeTakeFirst();
  return Number(result.numDeletedRows);
}

function param(request: FastifyRequest, name: string): string | undefined {
  return queryValues(request, name)[0];
}

/** True when the request is the eGK variant (any of its parameters given). */
export function isEgkQuery(request: FastifyRequest): boolean {
  return ['kvnr', 'hcv', 'pnw', 'PNW'].some((p) => param(request, p) !== undefined);
}

function keyLookup(options: EgkOptions): VsdmKeyLookup {
  const key = options.vsdmKey ? vsdmKeyOf(options.vsdmKey) : undefined;
  return (operatorId, version) => (key && key.operatorId === operatorId && key.version === version ? key : undefined);
}

export async function getTasksWithEgk(request: FastifyRequest, reply: FastifyReply, ctx: FachdienstContext, caller: Caller): Promise<FastifyReply> {
  const options = ctx.egk ?? {};
  const db = ctx.store.database.db;
  const day = berlinDay(ctx.now());
  if (await failuresToday(db, caller.id, day) >= (options.failuresPerDay ?? DEFAULT_FAILURES_PER_DAY)) {
    throw new FhirError(423, 'TelematikId blocked for today.', { code: 'lock-error' });
  }
  const audit = (kind: AuditKind, kvnr: string) => recordAudit(db, { kind, kvnr, caller, recorded: ctx.now(), baseUrl: ctx.baseUrl });
  const mismatch = async (status: number, message: string) => {
    await recordFailure(db, caller.id, day);
    return new FhirError(status, message, { code: 'forbidden' });
  };

  const kvnr = param(request, 'kvnr');
  if (kvnr === undefined) throw new FhirError(455, 'Ein Prüfnachweis ohne KVNR wird nicht akzeptiert.', { code: 'required' });
  if (!isValidKvnr(kvnr)) throw forbidden('Invalid Kvnr');
  const hcvParam = param(request, 'hcv');
  if (hcvParam === undefined) throw new FhirError(457, 'Ein Prüfnachweis ohne HCV wird nicht akzeptiert.', { code: 'required' });
  const hcv = hcvFromParam(hcvParam);
  if (!hcv) throw badRequest('HCV Base64-Dekodierung fehlgeschlagen.');
  // A '+' sent unencoded arrives as a space: restore it rather than fail on a client's encoding slip.
  const pnw = (param(request, 'pnw') ?? param(request, 'PNW'))?.replace(/ /g, '+');
  if (!pnw) throw forbidden('Missing or invalid PNW query parameter');

  let proof;
  try {
    proof = decodePruefungsnachweis(pnw);
  } catch (err) {
    throw forbidden('Failed decoding PNW data.', { diagnostics: (err as Error).message });
  }
  if (!proof.pz && proof.result !== '3') throw forbidden(NO_PZ);

  if (!proof.pz) {
    // PN3: the card could not be checked online. The KVNR is the pharmacy's word only; recorded either way.
    await audit(options.acceptPn3 ? 'read-egk-pn3' : 'read-egk-failed', kvnr);
    if (!options.acceptPn3) throw new FhirError(454, 'Es wird kein Prüfnachweis mit Ergebnis 3 (ohne Prüfziffer) akzeptiert.', { code: 'forbidden' });
    return answer(request, reply, ctx, kvnr, 202);
  }

  let content: ProofContent;
  try {
    content = verifyPruefziffer(proof.pz, keyLookup(options));
  } catch (err) {
    if (err instanceof VsdmProofError && err.kind === 'format') throw forbidden(err.message);
    const v2 = proof.pz.length === 64 && Buffer.from(proof.pz, 'base64')[0] > 0x80;
    request.log.warn({ vsdm: 'pz check failed' }, 'VSDM Prüfziffer refused');
    throw forbidden(v2 ? V2_FAILED : MAC_FAILED);
  }
  // From here the proof is authentic: failures are recorded for the insured it names.
  if (content.revoked) {
    await audit('read-egk-failed', content.kvnr);
    throw forbidden('eGK gesperrt');
  }
  if (Math.abs(content.issuedAt.getTime() - ctx.now().getTime()) > PROOF_VALIDITY_MS) {
    await audit('read-egk-failed', content.kvnr);
    throw forbidden(TOO_OLD);
  }
  if (content.hcv && !content.hcv.equals(hcv)) {
    await audit('read-egk-failed', content.kvnr);
    throw await mismatch(458, 'HCV Validierung fehlgeschlagen.');
  }
  if (content.kvnr !== kvnr) throw await mismatch(456, 'KVNR Überprüfung fehlgeschlagen.');
  await audit('read-egk', kvnr);
  return answer(request, reply, ctx, kvnr, 200);
}

async function answer(request: FastifyRequest, reply: FastifyReply, ctx: FachdienstContext, kvnr: string, status: 200 | 202): Promise<FastifyReply> {
  const paging = pagingOf(request, PAGE_SIZE);
  // A_23452-02: only flowtype 160 (the insured's own choice of pharmacy), ready and still redeemable.
  const { tasks, more } = await ctx.store.listTasks({
    kvnr, status: ['ready'], flowTypes: ['160'], expiresOnOrAfter: berlinDay(ctx.now()), ...paging,
  });
  const entries = tasks.map((t) => entry(`${ctx.baseUrl}/Task/${t.id}`, renderTask(t, { view: 'pharmacy' })));
  return reply.fhir(searchsetBundle(request, ctx.baseUrl, '/Task', entries, paging, more, ctx.now()), status);
}
