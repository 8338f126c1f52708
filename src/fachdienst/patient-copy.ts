// The insured's copy of the prescription ("Serversignatur", erp-api §7.2): the KBV bundle from the QES, with
// Bundle.id = the patient-confirmation UUID, signed by the Fachdienst as a detached compact JWS over its JSON.
import { algorithmForKey, signJws } from '../crypto/jws.ts';
import type { Bundle } from '../fhir/types.ts';
import type { FachdienstContext } from './context.ts';
import { instant } from './task-resource.ts';
import type { TaskRecord } from './task-store.ts';

/**
 * Canonical JSON of a resource: object keys sorted, no whitespace. What the JWS covers, so that anyone holding the
 * copy (received as XML or JSON, stored in any key order) can recompute the signed bytes.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
  });
}

/** Compact JWS with detached payload (`header..signature`), BP256R1 on the FD's brainpool key (ES256 on P-256). */
export function signDetachedJws(ctx: FachdienstContext, payload: string): string {
  return signJws(payload, ctx.signer.key, {
    alg: algorithmForKey(ctx.signer.key),
    typ: 'JOSE',
    cty: 'application/fhir+json;charset=utf-8',
    x5c: [ctx.signer.cert],
    detached: true,
  });
}

export function patientCopy(ctx: FachdienstContext, task: TaskRecord, now: Date): Bundle | undefined {
  if (!task.bundle || !task.patientConfirmationId) return undefined;
  const bundle: Bundle = { ...(task.bundle as Bundle), id: task.patientConfirmationId };
  delete bundle.signature;
  const jws = signDetachedJws(ctx, canonicalJson(bundle));
  bundle.signature = {
    type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.5' }],
    when: instant(now),
    who: { reference: `${ctx.baseUrl}/Device/1` },
    sigFormat: 'application/jose',
    targetFormat: 'application/fhir+json',
    data: Buffer.from(jws).toString('base64'),
  };
  return bundle;
}
