// ChargChangeReq / ChargChangeReply (gematik erpchrg, erp_chargeItem.adoc "Abrechnungsinformation zum Ändern"): the
// PKV insured asks the pharmacy that provided a ChargeItem to correct its dispense data, and hands it the ChargeItem's
// AccessCode for that (`basedOn` = `ChargeItem/<id>?ac=…`, A_22739-01); the pharmacy answers. Posted, listed and
// deleted through /Communication (communication.ts); the rules here follow the FD's CommunicationPostHandler
// (A_22734-01: the ChargeItem must exist, else 400) and, beyond it, tie both messages to the ChargeItem's insured
// and pharmacy. Deleting the ChargeItem (A_22117-01) or revoking the consent (A_22157) deletes them.
import type { Kysely, Transaction } from 'kysely';
import { badRequest, forbidden } from '../../fhir/errors.ts';
import { isValidKvnr, parsePrescriptionId, secretsEqual } from '../../fhir/identifiers.ts';
import type { Communication, Identifier } from '../../fhir/types.ts';
import type { Caller } from '../auth.ts';
import { NS } from '../task-resource.ts';

export type ChargeChangeKind = 'ChargChangeReq' | 'ChargChangeReply';
export const CHARGE_CHANGE_KINDS: ChargeChangeKind[] = ['ChargChangeReq', 'ChargChangeReply'];
export const CHARGE_CHANGE_PROFILE_PREFIX = 'https://gematik.de/fhir/erpchrg/StructureDefinition/GEM_ERPCHRG_PR_Communication_';
/** Profile versions accepted (erpchrg 1.0, as the gematik CapabilityStatement lists them). */
const VERSIONS = ['1.0'];
const PKV_FLOWTYPES = ['200', '209'];
const PKV_KVNR_SYSTEM = 'http://fhir.de/sid/pkv/kvid-10';
/** The reply's recipient may carry either KVNR system (profile: $identifier-pkv or $identifier-kvid-10). */
const KVNR_SYSTEMS = [NS.kvnr, PKV_KVNR_SYSTEM];
// C0/C1 control characters other than tab/newline, BOM and U+FFFD are not allowed (A_19450-01, as for the other kinds).
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\uFEFF\uFFFD]/;

export const isChargeChange = (kind: string): kind is ChargeChangeKind => (CHARGE_CHANGE_KINDS as string[]).includes(kind);

/** The ChargChange kind of a profile URL, undefined for other profiles; 400 for an unsupported version. */
export function chargeChangeKindOf(profile: string): ChargeChangeKind | undefined {
  if (!profile.startsWith(CHARGE_CHANGE_PROFILE_PREFIX)) return undefined;
  const [name, version] = profile.slice(CHARGE_CHANGE_PROFILE_PREFIX.length).split('|');
  const kind = CHARGE_CHANGE_KINDS.find((k) => k === name);
  if (!kind) return undefined;
  if (version !== undefined && !VERSIONS.includes(version)) {
    throw badRequest(`${kind}: Profilversion ${version} wird nicht unterstützt (${VERSIONS.join(', ')})`, { expression: ['Communication.meta.profile'] });
  }
  return kind;
}

/** `[base/]ChargeItem/<PrescriptionID>` with an optional `?ac=<ChargeItem AccessCode>`; never a Task reference. */
export function chargeItemReferenceOf(kind: ChargeChangeKind, c: Communication): { chargeItemId: string; accessCode?: string } {
  const expression = ['Communication.basedOn[0].reference'];
  if ((c.basedOn?.length ?? 0) !== 1) throw badRequest(`${kind}: genau ein basedOn (das ChargeItem) erwartet`, { expression });
  const ref = c.basedOn![0].reference ?? '';
  const [path, query, ...rest] = ref.split('?');
  const m = /^(?:.*\/)?ChargeItem\/([^/]+)$/.exec(path);
  if (!m || rest.length > 0) throw badRequest(`${kind}: basedOn ${ref || '(leer)'} muss auf ein ChargeItem verweisen (ChargeItem/<Rezept-ID>)`, { expression });
  const parsed = parsePrescriptionId(m[1]);
  if (!parsed) throw badRequest(`${kind}: ${m[1]} ist keine gültige Rezept-ID`, { expression });
  if (!PKV_FLOWTYPES.includes(parsed.flowType)) throw badRequest(`${kind}: das referenzierte ChargeItem ist kein PKV-Rezept (Flowtype 200, 209)`, { expression });
  let accessCode: string | undefined;
  if (query !== undefined) {
    const params = new URLSearchParams(query);
    const names = [...params.keys()];
    if (names.length !== 1 || names[0] !== 'ac' || params.getAll('ac').length !== 1) {
      throw badRequest(`${kind}: in basedOn ist nur der Parameter ac (AccessCode des ChargeItems) erlaubt`, { expression });
    }
    accessCode = params.get('ac')!;
  }
  return { chargeItemId: m[1], accessCode };
}

function checkStructure(kind: ChargeChangeKind, c: Communication): void {
  if (c.status !== 'unknown') throw badRequest(`${kind}: status muss unknown sein`, { expression: ['Communication.status'] });
  const payload = c.payload ?? [];
  if (payload.length > 1) throw badRequest(`${kind}: höchstens ein payload`, { expression: ['Communication.payload'] });
  if (payload.length === 1) {
    const text = payload[0].contentString;
    if (typeof text !== 'string' || Object.keys(payload[0]).some((k) => k.startsWith('content') && k !== 'contentString')) {
      throw badRequest(`${kind}: payload nur als contentString`, { expression: ['Communication.payload[0].content'] });
    }
    if (FORBIDDEN_CHARS.test(text)) throw badRequest(`${kind}: payload enthält unzulässige Steuerzeichen`, { expression: ['Communication.payload[0].contentString'] });
  }
}

interface ChargeItemRow { kvnr: string; enterer: string; access_code: string }

export interface ChargeChangeParties {
  /** The ChargeItem's id, kept as the message's prescription id. */
  chargeItemId: string;
  /** Telematik-ID or KVNR of the recipient. */
  recipient: string;
  /** sender.identifier and recipient.identifier as stored: the KVNR under the PKV system the ChargeItem uses. */
  senderIdentifier: Identifier;
  recipientIdentifier: Identifier;
}

/**
 * Checks a ChargChangeReq/Reply against its ChargeItem and returns who it goes from and to. Run inside the transaction that stores the message: the ChargeItem row is share-locked, so a
 * concurrent DELETE of the ChargeItem or of the consent waits and then deletes this message as well.
 */
export async function checkChargeChange(tx: Transaction<any>, caller: Caller, c: Communication, kind: ChargeChangeKind): Promise<ChargeChangeParties> {
  const allowedRole = kind === 'ChargChangeReq' ? 'insured' : 'pharmacy';
  if (caller.role !== allowedRole) {
    throw forbidden(kind === 'ChargChangeReq' ? 'ChargChangeReq darf nur der Versicherte senden' : 'ChargChangeReply darf nur die Apotheke senden');
  }
  checkStructure(kind, c);
  const { chargeItemId, accessCode } = chargeItemReferenceOf(kind, c);
  const recipients = c.recipient ?? [];
  const recipientId = recipients[0]?.identifier;
  if (recipients.length !== 1 || !recipientId?.value) throw badRequest(`${kind}: genau ein recipient mit identifier erwartet`, { expression: ['Communication.recipient'] });

  const row = await tx.selectFrom('fachdienst_charge_item').select(['kvnr', 'enterer', 'access_code'])
    .where('id', '=', chargeItemId).forShare().executeTakeFirst() as ChargeItemRow | undefined;
  // A_22734-01: against spam and messages unrelated to a ChargeItem
  if (!row) throw badRequest(`${kind}: das referenzierte ChargeItem ${chargeItemId} existiert nicht`, { expression: ['Communication.basedOn[0].reference'] });

  if (kind === 'ChargChangeReq') {
    if (row.kvnr !== caller.id) throw forbidden('Das ChargeItem gehört nicht zum Versicherten');
    if (recipientId.system !== NS.telematikId || recipientId.value !== row.enterer) {
      throw badRequest('ChargChangeReq: recipient muss die Telematik-ID der Apotheke sein, die die Abrechnungsinformationen bereitgestellt hat', { expression: ['Communication.recipient[0].identifier'] });
    }
    // the AccessCode the insured hands over must be the ChargeItem's: the pharmacy uses it for GET/PUT /ChargeItem
    if (accessCode !== undefined && !secretsEqual(row.access_code, accessCode)) {
      throw badRequest('ChargChangeReq: der AccessCode in basedOn ist nicht der des ChargeItems', { expression: ['Communication.basedOn[0].reference'] });
    }
    return {
      chargeItemId, recipient: row.enterer,
      senderIdentifier: { system: PKV_KVNR_SYSTEM, value: caller.id }, recipientIdentifier: { system: NS.telematikId, value: row.enterer },
    };
  }
  if (accessCode !== undefined) throw badRequest('ChargChangeReply darf keinen AccessCode enthalten', { expression: ['Communication.basedOn[0].reference'] });
  if (row.enterer !== caller.id) throw forbidden('Nur die Apotheke, die die Abrechnungsinformationen bereitgestellt hat, darf dazu antworten');
  if (!KVNR_SYSTEMS.includes(recipientId.system ?? '') || !isValidKvnr(recipientId.value) || recipientId.value !== row.kvnr) {
    throw badRequest('ChargChangeReply: recipient muss die KVNR des Versicherten des ChargeItems sein', { expression: ['Communication.recipient[0].identifier'] });
  }
  return {
    chargeItemId, recipient: row.kvnr,
    senderIdentifier: { system: NS.telematikId, value: caller.id }, recipientIdentifier: { system: recipientId.system!, value: row.kvnr },
  };
}

/** With the ChargeItem go the messages about it (A_22117-01). */
export async function deleteChargeChangesOfChargeItem(tx: Kysely<any>, chargeItemId: string): Promise<void> {
  await tx.deleteFrom('fachdienst_communication').where('prescription_id', '=', chargeItemId).where('kind', 'in', CHARGE_CHANGE_KINDS).execute();
}

/** With the consent go all of the insured's ChargeItem messages, sent or received (A_22157). */
export async function deleteChargeChangesOfInsured(tx: Kysely<any>, kvnr: string): Promise<void> {
  await tx.deleteFrom('fachdienst_communication').where('kind', 'in', CHARGE_CHANGE_KINDS)
    .where((eb) => eb.or([eb('sender', '=', kvnr), eb('recipient', '=', kvnr)])).execute();
}
