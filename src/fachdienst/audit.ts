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
  | 'read-communication' | 'retention'
  | 'consent-create' | 'consent-read' | 'consent-delete'
  | 'charge-item-create' | 'charge-item-read' | 'charge-item-update' | 'charge-item-delete'
  | 'read-egk' | 'read-egk-pn3' | 'read-egk-failed';

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
  'consent-create': (a) => `${a} hat eine Einwilligung zum Speichern der Abrechnungsinformationen erteilt`,
  'consent-read': (a) => `${a} hat die Einwilligung zum Speichern der Abrechnungsinformationen abgerufen`,
  'consent-delete': (a) => `${a} hat die Einwilligung zum Speichern der Abrechnungsinformationen widerrufen`,
  'charge-item-create': (a, id) => `${a} hat Abrechnungsinformationen zum E-Rezept ${id} bereitgestellt`,
  'charge-item-read': (a, id) => `${a} hat Abrechnungsinformationen zum E-Rezept ${id} abgerufen`,
  'charge-item-update': (a, id) => `${a} hat Abrechnungsinformationen zum E-Rezept ${id} geändert`,
  'charge-item-delete': (a, id) => `${a} hat Abrechnungsinformationen zum E-Rezept ${id} gelöscht`,
  'read-egk': (a) => `${a} hat mit Ihrer eGK die Liste Ihrer einlösbaren E-Rezepte abgerufen`,
  'read-egk-pn3': (a) => `${a} hat mit Ihrer eGK die Liste Ihrer einlösbaren E-Rezepte abgerufen (ohne Online-Prüfung der Karte wegen einer Störung)`,
  'read-egk-failed': (a) => `${a} wollte mit Ihrer eGK Ihre E-Rezepte abrufen; der Nachweis der Karte wurde nicht anerkannt`,
};

const TEXT_EN: Record<AuditKind, (agent: string, id: string) => string> = {
  activate: (a, id) => `${a} created the prescription ${id}`,
  accept: (a, id) => `${a} accepted the prescription ${id}`,
  reject: (a, id) => `${a} returned the prescription ${id}`,
  dispense: (a, id) => `${a} provided dispense information for the prescription ${id}`,
  close: (a, id) => `${a} dispensed the prescription ${id}`,
  abort: (a, id) => `${a} deleted the prescription ${id}`,
  'read-task': (a, id) => `${a} retrieved the prescription ${id}`,
  'read-dispense': (a, id) => `${a} retrieved dispense information for the prescription ${id}`,
  'read-communication': (a, id) => `${a} retrieved messages about the prescription ${id}`,
  retention: () => 'Outdated prescriptions were deleted automatically by the Fachdienst.',
  'consent-create': (a) => `${a} gave consent to store billing information`,
  'consent-read': (a) => `${a} retrieved the consent to store billing information`,
  'consent-delete': (a) => `${a} revoked the consent to store billing information`,
  'charge-item-create': (a, id) => `${a} provided billing information for the prescription ${id}`,
  'charge-item-read': (a, id) => `${a} retrieved billing information for the prescription ${id}`,
  'charge-item-update': (a, id) => `${a} changed billing information for the prescription ${id}`,
  'charge-item-delete': (a, id) => `${a} deleted billing information for the prescription ${id}`,
  'read-egk': (a) => `${a} retrieved the list of your redeemable prescriptions with your health card`,
  'read-egk-pn3': (a) => `${a} retrieved the list of your redeemable prescriptions with your health card (no online check of the card due to an outage)`,
  'read-egk-failed': (a) => `${a} tried to retrieve your prescriptions with your health card; the card's proof was not accepted`,
};

export type AuditLanguage = 'de' | 'en';

/** de unless Accept-Language prefers English (FD AuditEventTextTemplates: de and en). */
export function auditLanguage(acceptLanguage: string | undefined): AuditLanguage {
  const first = acceptLanguage?.split(',')
    .map((part, index) => {
      const [tag, ...params] = part.trim().toLowerCase().split(';');
      const q = params.find((p) => p.trim().startsWith('q='));
      return { tag, q: q ? Number(q.trim().slice(2)) : 1, index };
    })
    .filter((r) => r.q > 0 && (r.tag.startsWith('de') || r.tag.startsWith('en')))
    .sort((a, b) => b.q - a.q || a.index - b.index)[0];
  return first?.tag.startsWith('en') ? 'en' : 'de';
}

/** The event's text in `language` (events are stored in German). */
export function localizeAuditEvent(event: AuditEvent, kind: AuditKind | null, language: AuditLanguage): AuditEvent {
  if (language === 'de' || !kind || !TEXT_EN[kind]) return event;
  const agent = event.agent?.[0]?.name ?? 'E-Rezept-Fachdienst';
  const id = event.entity?.[0]?.description ?? '';
  return { ...event, language: 'en', text: { status: 'generated', div: xhtml(TEXT_EN[kind](agent, id), 'en') } };
}

const ACTION_OF: Record<AuditKind, AuditAction> = {
  activate: 'C', accept: 'U', reject: 'U', dispense: 'U', close: 'U', abort: 'D', 'read-task': 'R',
  'read-dispense': 'R', 'read-communication': 'R', retention: 'D',
  'consent-create': 'C', 'consent-read': 'R', 'consent-delete': 'D',
  'charge-item-create': 'C', 'charge-item-read': 'R', 'charge-item-update': 'U', 'charge-item-delete': 'D',
  'read-egk': 'R', 'read-egk-pn3': 'R', 'read-egk-failed': 'R',
};

/** The resource an event is about: the Task, or for PKV billing the ChargeItem (same id) or the insured's Consent. */
function entityOf(input: AuditInput): { reference: string; id: string; prescriptionId?: string } {
  // The eGK list is about all of the insured's Tasks, no single one.
  if (input.kind.startsWith('read-egk')) return { reference: `${input.baseUrl}/Task`, id: 'Task' };
  if (input.kind.startsWith('consent-')) return { reference: `${input.baseUrl}/Consent/CHARGCONS-${input.kvnr}`, id: `CHARGCONS-${input.kvnr}` };
  const type = input.kind.startsWith('charge-item-') ? 'ChargeItem' : 'Task';
  const id = input.prescriptionId ?? '';
  return { reference: `${input.baseUrl}/${type}/${id}`, id, prescriptionId: id };
}

const SUBTYPE: Record<AuditAction, string> = { C: 'create', R: 'read', U: 'update', D: 'delete' };

export interface AuditInput {
  kind: AuditKind;
  /** The insured whose data was touched. */
  kvnr: string;
  /** The Task's PrescriptionID (a ChargeItem has the same id); none for Consent events. */
  prescriptionId?: string;
  /** undefined = the Fachdienst itself (retention). */
  caller?: Caller;
  recorded: Date;
  baseUrl: string;
}

function xhtml(text: string, lang: AuditLanguage = 'de'): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<div xmlns="http://www.w3.org/1999/xhtml" lang="${lang}" xml:lang="${lang}">${escaped}</div>`;
}

export function buildAuditEvent(input: AuditInput, id: string = randomUUID()): AuditEvent {
  const action = ACTION_OF[input.kind];
  const entity = entityOf(input);
  const agentName = input.caller?.name ?? 'E-Rezept-Fachdienst';
  const who = input.caller
    ? { identifier: { system: input.caller.role === 'insured' ? NS.kvnr : NS.telematikId, value: input.caller.id } }
    : { reference: 'Device/1' };
  return {
    resourceType: 'AuditEvent',
    id,
    meta: { profile: [PROFILE('GEM_ERP_PR_AuditEvent')] },
    text: { status: 'generated', div: xhtml(TEXT_DE[input.kind](agentName, entity.id)) },
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
        reference: entity.reference,
        ...(entity.prescriptionId ? { identifier: { system: NS.prescriptionId, value: entity.prescriptionId } } : {}),
      },
      name: input.kvnr,
      description: entity.id,
    }],
  };
}

/** The fachdienst_audit_event row for an event. */
export function auditRow(input: AuditInput): Record<string, unknown> {
  const event = buildAuditEvent(input);
  return {
    id: event.id,
    kvnr: input.kvnr,
    prescription_id: input.prescriptionId ?? null,
    recorded: input.recorded,
    action: event.action,
    kind: input.kind,
    resource: JSON.stringify(event),
  };
}

/** Stores an AuditEvent; pass the transaction of the change it records. */
export async function recordAudit(db: Kysely<any>, input: AuditInput): Promise<void> {
  await db.insertInto('fachdienst_audit_event').values(auditRow(input)).execute();
}
