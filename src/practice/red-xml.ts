// The non-standard XML shapes of the RED interchange API: the Task searchset with `<entry><Task>` (no <resource>
// wrapper), the `<Prescriptions>` answer of $processerp and the `<ConnectorResponse>` of $getcards.
import { toXml } from '../fhir/codec.ts';
import { ERP_SYSTEM } from '../fhir/systems.ts';
import type { Bundle, Task } from '../fhir/types.ts';
import type { CardInfo } from '../konnektor/client.ts';
import type { PatientSummary } from './store.ts';

export const NS_PRESCRIPTION_ID = ERP_SYSTEM.prescriptionId;
export const NS_ACCESS_CODE = ERP_SYSTEM.accessCode;
const FHIR_NS = ' xmlns="http://hl7.org/fhir"';

/** Escapes element text (quotes stay as they are, so `<url>` shows the JSON exactly as RED does). */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The token of the 2D code: `Task/<PrescriptionID>/$accept?ac=<AccessCode>`. */
export function acceptToken(prescriptionId: string, accessCode: string): string {
  return `Task/${prescriptionId}/$accept?ac=${accessCode}`;
}

/**
 * A searchset Bundle as RED writes it: each entry holds the Task directly. With `strict` the standard FHIR form
 * (`<entry><resource><Task>`) is written instead.
 */
export function taskSearchsetXml(bundle: Bundle, strict = false): string {
  if (strict) return toXml(bundle);
  const { entry, ...rest } = bundle;
  const shell = toXml(rest as Bundle);
  const entries = (entry ?? []).map((e) => {
    const task = toXml(e.resource as Task).replace(/^<\?xml[^>]*>\s*/, '').replace(FHIR_NS, '');
    return `<entry>${task}</entry>`;
  }).join('');
  // Entries follow total/link, which the shell already holds; Bundle has no later elements we write.
  return shell.replace(/<\/Bundle>\s*$/, `${entries}</Bundle>`);
}

export interface PrescriptionLine {
  patient: PatientSummary;
  medication: string;
  prescriptionId: string;
  accessCode: string;
}

/** `<Prescriptions>` grouped by person (newer RED page version), one `<url>` JSON per prescription. */
export function prescriptionsXml(lines: PrescriptionLine[]): string {
  const groups = new Map<string, PrescriptionLine[]>();
  for (const line of lines) {
    const key = JSON.stringify([line.patient.kvnr ?? '', line.patient.family ?? '', line.patient.given ?? '', line.patient.birthDate ?? '']);
    groups.set(key, [...(groups.get(key) ?? []), line]);
  }
  let xml = '<?xml version="1.0" encoding="UTF-8"?><Prescriptions>';
  for (const group of groups.values()) {
    const p = group[0].patient;
    xml += '<person><person>';
    xml += `<lastname>${escapeXml(p.family ?? '')}</lastname><firstname>${escapeXml(p.given ?? '')}</firstname><birthday>${escapeXml(p.birthDate ?? '')}</birthday>`;
    xml += '</person><prescriptions>';
    for (const line of group) {
      const url = JSON.stringify({ urls: [acceptToken(line.prescriptionId, line.accessCode)] });
      xml += `<prescription><name>${escapeXml(line.medication)}</name><url>${escapeXml(url)}</url></prescription>`;
    }
    xml += '</prescriptions></person>';
  }
  return xml + '</Prescriptions>';
}

export function cardsXml(cards: CardInfo[]): string {
  let xml = '<?xml version="1.0" encoding="UTF-8"?><ConnectorResponse>';
  for (const c of cards) {
    xml += `<Card><CardType>${escapeXml(c.CardType)}</CardType><CardHandle>${escapeXml(c.CardHandle)}</CardHandle><Iccsn>${escapeXml(c.Iccsn)}</Iccsn>`
      + `<CtId>${escapeXml(c.CtId)}</CtId><SlotId>${c.SlotId}</SlotId><CardHolderName>${escapeXml(c.CardHolderName)}</CardHolderName></Card>`;
  }
  return xml + '</ConnectorResponse>';
}
