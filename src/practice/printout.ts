// The patient printout (Patientenausdruck): patient, one line per medication, and DataMatrix codes holding up to
// three E-Rezept tokens each in gematik's JSON form {"urls":["Task/<id>/$accept?ac=<AccessCode>", …]}.
// More than three prescriptions give several codes (two per page).
import bwipjs from 'bwip-js';
import { PDFDocument, StandardFonts, type PDFFont } from 'pdf-lib';
import { acceptToken } from './red-xml.ts';
import type { PatientSummary } from './store.ts';

export const TOKENS_PER_CODE = 3;
const CODES_PER_PAGE = 2;

export interface PrintoutItem {
  medication: string;
  prescriptionId: string;
  accessCode: string;
}

/** The payload of one DataMatrix code. */
export function codePayload(items: PrintoutItem[]): string {
  if (items.length === 0 || items.length > TOKENS_PER_CODE) throw new RangeError(`a code holds 1..${TOKENS_PER_CODE} tokens`);
  return JSON.stringify({ urls: items.map((i) => acceptToken(i.prescriptionId, i.accessCode)) });
}

/** The DataMatrix as PNG, as it goes into the PDF (white background so scanners find the quiet zone). */
export async function renderDataMatrixPng(payload: string): Promise<Buffer> {
  return bwipjs.toBuffer({ bcid: 'datamatrix', text: payload, scale: 4, padding: 4, backgroundcolor: 'FFFFFF' });
}

/** Groups of at most three prescriptions, in order. */
export function chunkForCodes<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += TOKENS_PER_CODE) out.push(items.slice(i, i + TOKENS_PER_CODE));
  return out;
}

/** Replaces what the PDF standard font cannot encode (WinAnsi) by its base letter or '?'. */
function printable(font: PDFFont, text: string): string {
  let out = '';
  for (const ch of text) {
    const candidates = [ch, ch.normalize('NFD').replace(/[\u0300-\u036f]/g, ''), ch === 'ı' ? 'i' : '?'];
    out += candidates.find((c) => {
      try {
        font.encodeText(c);
        return c !== '';
      } catch {
        return false;
      }
    }) ?? '?';
  }
  return out;
}

export async function renderPrintout(patient: PatientSummary, items: PrintoutItem[]): Promise<Uint8Array> {
  if (items.length === 0) throw new RangeError('no prescriptions to print');
  const pdf = await PDFDocument.create();
  pdf.setTitle('E-Rezept Patientenausdruck');
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const bold = await pdf.embedFont(StandardFonts.HelveticaBold);
  const groups = chunkForCodes(items);
  for (let g = 0; g < groups.length; g += CODES_PER_PAGE) {
    const page = pdf.addPage([595.28, 841.89]); // A4
    let y = 800;
    const text = (s: string, size = 11, f = font) => {
      page.drawText(printable(f, s), { x: 50, y, size, font: f });
      y -= size + 6;
    };
    text('Ausdruck zur Einlösung Ihres E-Rezeptes', 16, bold);
    text(`Patient: ${[patient.given, patient.family].filter(Boolean).join(' ')}${patient.birthDate ? `, geb. ${patient.birthDate}` : ''}`);
    if (patient.kvnr) text(`Versichertennummer: ${patient.kvnr}`);
    y -= 10;
    for (const group of groups.slice(g, g + CODES_PER_PAGE)) {
      for (const item of group) text(`• ${item.medication}  (${item.prescriptionId})`, 10);
      const png = await pdf.embedPng(await renderDataMatrixPng(codePayload(group)));
      const size = 150;
      y -= size;
      page.drawImage(png, { x: 50, y, width: size, height: size });
      y -= 30;
    }
  }
  return pdf.save();
}
