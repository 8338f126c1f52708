// POST/GET/DELETE /Consent: the PKV insured's consent (category CHARGCONS) that the Fachdienst may store their
// billing information (ChargeItems). One per insured, id `CHARGCONS-<KVNR>`; revoking it deletes their ChargeItems
// and the ChargChangeReq/Reply messages about them (erp-api §1.2, gematik erp_consent).
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { badRequest, conflict, forbidden, notFound } from '../../fhir/errors.ts';
import type { BundleEntry, Consent } from '../../fhir/types.ts';
import { recordAudit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { FachdienstContext } from '../context.ts';
import { queryValues, searchsetBundle } from '../search.ts';
import { NS, instant } from '../task-resource.ts';
import { CHARGCONS, CHRG_PROFILE, CONSENT_TYPE_SYSTEM } from '../../insured/billing.ts';
import { deleteChargeChangesOfInsured } from './charge-change.ts';

/** KVNR systems a Consent's patient may carry: the PKV one, and the GKV one newer profiles use for everyone. */
const KVNR_SYSTEMS = [NS.kvnr, 'http://fhir.de/sid/pkv/kvid-10'];

export const consentId = (kvnr: string) => `${CHARGCONS}-${kvnr}`;

/** The insured's CHARGCONS consent, if given. */
export async function findConsent(db: Kysely<any>, kvnr: string): Promise<Consent | undefined> {
  const row = await db.selectFrom('fachdienst_consent').select('resource').where('kvnr', '=', kvnr).executeTakeFirst();
  return row ? (row.resource as Consent) : undefined;
}

function isChargcons(c: Consent): boolean {
  return (c.category ?? []).some((cc) => cc.coding?.some((x) => x.system === CONSENT_TYPE_SYSTEM && x.code === CHARGCONS));
}

export function registerConsent(app: FastifyInstance, ctx: FachdienstContext): void {
  const db = () => ctx.store.database.db;

  app.post('/Consent', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const body = request.body as Consent | undefined;
    if (body?.resourceType !== 'Consent') throw badRequest('Consent erwartet');
    if (!isChargcons(body)) throw badRequest(`Consent.category muss ${CHARGCONS} (${CONSENT_TYPE_SYSTEM}) sein`);
    const patient = body.patient?.identifier;
    if (!patient?.value || !KVNR_SYSTEMS.includes(patient.system ?? '')) throw badRequest('Consent.patient.identifier muss eine KVNR sein');
    if (patient.value !== caller.id) throw forbidden('Die KVNR im Consent ist nicht die des Versicherten');
    const now = ctx.now();
    const stored: Consent = {
      ...body,
      id: consentId(caller.id),
      meta: { profile: [CHRG_PROFILE('GEM_ERPCHRG_PR_Consent')] },
      status: 'active',
      dateTime: body.dateTime ?? instant(now),
    };
    const created = await ctx.store.database.transaction(async (tx) => {
      const rows = await tx.insertInto('fachdienst_consent')
        .values({ kvnr: caller.id, date_time: new Date(stored.dateTime!), resource: JSON.stringify(stored) })
        .onConflict((oc) => oc.column('kvnr').doNothing())
        .returning('kvnr')
        .execute();
      if (rows.length === 0) return false;
      await recordAudit(tx, { kind: 'consent-create', kvnr: caller.id, caller, recorded: now, baseUrl: ctx.baseUrl });
      return true;
    });
    if (!created) throw conflict('Es liegt bereits eine Einwilligung vor');
    reply.header('Location', `${ctx.baseUrl}/Consent/${stored.id}`);
    return reply.fhir(stored, 201);
  });

  app.get('/Consent', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const now = ctx.now();
    const consent = await findConsent(db(), caller.id);
    const entries: BundleEntry[] = consent ? [{ fullUrl: `${ctx.baseUrl}/Consent/${consent.id}`, resource: consent }] : [];
    if (consent) await recordAudit(db(), { kind: 'consent-read', kvnr: caller.id, caller, recorded: now, baseUrl: ctx.baseUrl });
    const bundle = searchsetBundle(request, ctx.baseUrl, '/Consent', entries, { count: 1, offset: 0 }, false, now);
    bundle.total = entries.length;
    return reply.fhir(bundle);
  });

  app.delete('/Consent', async (request, reply) => {
    const caller = requireRole(request, ['insured']);
    const category = queryValues(request, 'category');
    if (category.length !== 1 || category[0] !== CHARGCONS) throw badRequest(`DELETE /Consent braucht ?category=${CHARGCONS}`);
    const now = ctx.now();
    const deleted = await ctx.store.database.transaction(async (tx) => {
      const rows = await tx.deleteFrom('fachdienst_consent').where('kvnr', '=', caller.id).returning('kvnr').execute();
      if (rows.length === 0) return false;
      // without consent the Fachdienst may not keep the billing information
      await tx.deleteFrom('fachdienst_charge_item').where('kvnr', '=', caller.id).execute();
      await deleteChargeChangesOfInsured(tx, caller.id);
      await recordAudit(tx, { kind: 'consent-delete', kvnr: caller.id, caller, recorded: now, baseUrl: ctx.baseUrl });
      return true;
    });
    if (!deleted) throw notFound('Es liegt keine Einwilligung vor');
    return reply.code(204).send();
  });
}
