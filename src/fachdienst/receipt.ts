// The receipt (Quittung, GEM_ERP_PR_Bundle) $close returns: Composition, Device, Digest of the prescription's QES
// content, signed by the Fachdienst as CAdES-BES enveloping over the receipt's XML (erp-api §6.1).
import { randomUUID } from 'node:crypto';
import { signCadesAsync } from '../crypto/cades.ts';
import { toXml } from '../fhir/codec.ts';
import type { Bundle } from '../fhir/types.ts';
import type { FachdienstContext } from './context.ts';
import { EXT, NS, PROFILE, fachdienstDevice, instant } from './task-resource.ts';
import type { TaskRecord } from './task-store.ts';

export interface ReceiptInput {
  task: TaskRecord;
  /** Telematik-ID of the pharmacy (or payer) that closed the Task. */
  beneficiary: string;
  closedAt: Date;
}

export async function buildReceipt(ctx: FachdienstContext, input: ReceiptInput): Promise<Bundle> {
  const { task, closedAt } = input;
  const compositionId = randomUUID();
  const deviceUuid = randomUUID();
  const digestId = randomUUID();
  const receipt: Bundle = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { profile: [PROFILE('GEM_ERP_PR_Bundle')] },
    identifier: { system: NS.prescriptionId, value: task.id },
    type: 'document',
    timestamp: instant(closedAt),
    link: [{ relation: 'self', url: `${ctx.baseUrl}/Task/${task.id}/$close/` }],
    entry: [
      {
        fullUrl: `urn:uuid:${compositionId}`,
        resource: {
          resourceType: 'Composition',
          id: compositionId,
          meta: { profile: [PROFILE('GEM_ERP_PR_Composition')] },
          extension: [{ url: EXT.beneficiary, valueIdentifier: { system: NS.telematikId, value: input.beneficiary } }],
          status: 'final',
          type: { coding: [{ system: NS.documentType, code: '3', display: 'Receipt' }] },
          date: instant(closedAt),
          author: [{ reference: `urn:uuid:${deviceUuid}` }],
          title: 'Quittung',
          event: [{ period: { start: instant(task.acceptedAt ?? closedAt), end: instant(closedAt) } }],
          section: [{ entry: [{ reference: `urn:uuid:${digestId}` }] }],
        },
      },
      { fullUrl: `urn:uuid:${deviceUuid}`, resource: fachdienstDevice(ctx.version) },
      {
        fullUrl: `urn:uuid:${digestId}`,
        resource: {
          resourceType: 'Binary',
          id: digestId,
          meta: { profile: [PROFILE('GEM_ERP_PR_Digest')] },
          contentType: 'application/octet-stream',
          data: task.prescriptionDigest ?? undefined,
        },
      },
    ],
  };
  const signed = await signCadesAsync(Buffer.from(toXml(receipt), 'utf8'), ctx.signer, { signingTime: closedAt });
  receipt.signature = {
    type: [{ system: 'urn:iso-astm:E1762-95:2013', code: '1.2.840.10065.1.12.1.1' }],
    when: instant(closedAt),
    who: { reference: `${ctx.baseUrl}/Device/1` },
    sigFormat: 'application/pkcs7-mime',
    data: Buffer.from(signed).toString('base64'),
  };
  return receipt;
}
