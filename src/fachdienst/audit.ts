// AuditEvents (GEM_ERP_PR_AuditEvent): one for every read or write of an insured's data, by anyone, kept under the
// insured's KVNR. Written in the same transaction as the change they record. Texts as the FD's German templates.
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditEvent } from '../fhir/types.ts';
import type { Caller } from './auth.ts';
import { NS, PROFILE, instant } from './task-resource.ts';

export type AuditAction = 'C' | 'R' | 'U' | 'D';

export type AuditKind =
  | 'activate' | 'accept' | 'reject' | 'dispense' | 'close' | 'abort' | 'read-task' | 'read-dispense'
  | 'read-communication' | 'retention';

const TEXT_DE: Record<AuditKind, (agent: string, id: string) => string> = {
  activate: (a, id) => `${a} hat ein E-Rezept ${id} eingestellt`,
  accept: (a, id) => `${a} hat ein E-Rezept ${id} angenommen`,
  reject: (a, id) => `${a} hat ein E-Rezept ${id} zurückgegeben`,
  dispense: (a, id) => `${a} hat Informationen zur Abgabe des E-Rezepts ${id} bereitgestellt`,
  close: (a, id) => `${a} hat ein E-Rezept ${id} beliefert`,
  abort: (a, id) => `${a} hat ein E-Rezept ${id} gelöscht`,
  'read-task': (a, id) => `${a} hat ein E-Rezept ${id} abgerufen`,
  'read-dispense': (a, id) => `${a} hat Informationen zur Abgabe des E-Rezepts ${id} abgerufen`,
  'read-communication': (a, id) => `${a} hat Nachrichten zum E-Rezept ${id} abgerufen`,
  retention: () => 'Veraltete Rezepte wurden vom Fachdienst automatisch gelöscht.',
};

const ACTION_OF: Record<AuditKind, AuditAction> = {
  activate: 'C', accept: 'U', reject: 'U', dispense: 'U', close: 'U', abort: 'D', 'read-task': 'R',
  'read-dispense': 'R', 'read-communication': 'R', retention: 'D',
};

const SUBTYPE: Record<AuditAction, string> = { C: 'create', R: 'read', U: 'update', D: 'delete' };

export interface AuditInput {
  kind: AuditKind;
  /** The insured whose data was touched. */
  kvnr: string;
  prescriptionId: string;
  /** undefined = the Fachdienst itself (retention). */
  caller?: Caller;
  recorded: Date;
  baseUrl: string;
}

function xhtml(text: string): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<div xmlns="http://www.w3.org/1999/xhtml" lang="de" xml:lang="de">${escaped}</div>`;
}

export function buildAuditEvent(input: AuditInput, id: string = randomUUID()): AuditEvent {
  const action = ACTION_OF[input.kind];
  const agentName = input.caller?.name ?? 'E-Rezept-Fachdienst';
  const who = input.caller
    ? { identifier: { system: input.caller.role === 'insured' ? NS.kvnr : NS.telematikId, value: input.caller.id } }
    : { reference: 'Device/1' };
  return {
    resourceType: 'AuditEvent',
    id,
    meta: { profile: [PROFILE('GEM_ERP_PR_AuditEvent')] },
    text: { status: 'generated', div: xhtml(TEXT_DE[input.kind](agentName, input.prescriptionId)) },
    language: 'de',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' },
    subtype: [{ system: 'http://hl7.org/fhir/restful-interaction', code: SUBTYPE[action] }],
    action,
    recorded: instant(input.recorded),
    outcome: '0',
    agent: [{
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'Human User' }] },
      who,
      name: agentName,
      requestor: false,
    }],
    source: { site: 'E-Rezept Fachdienst', observer: { reference: 'Device/1' } },
    entity: [{
      what: {
        reference: `${input.baseUrl}/Task/${input.prescriptionId}`,
        identifier: { system: NS.prescriptionId, value: input.prescriptionId },
      },
      name: input.kvnr,
      description: input.prescriptionId,
    }],
  };
}

/** Stores an AuditEvent; pass the transaction of the change it records. */
export async function recordAudit(db: Kysely<any>, input: AuditInput): Promise<void> {
  const event = buildAuditEvent(input);
  await db.insertInto('fachdienst_audit_event').values({
    id: event.id,
    kvnr: input.kvnr,
    prescription_id: input.prescriptionId,
    recorded: input.recorded,
    action: event.action,
    resource: JSON.stringify(event),
  }).execute();
}
