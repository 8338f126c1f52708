// Demo data for `npm start`: prescriptions go through the same public path a third-party system uses (RED
// `$createerptask`, then `$processerp`), so the insured app, the pharmacy app and the physician's signing list all
// have something to show. Runs once per data directory.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toXml } from '../fhir/codec.ts';
import { buildPrescriptionBundle, type MedicationInput } from '../fhir/kbv/build-bundle.ts';
import { defaultPharmacy, insured, practice, TENANT, type Identity } from './identities.ts';

export interface DemoRequest {
  patient: Identity;
  medication: MedicationInput;
  dosage: string;
  /** Telematik-ID of a pharmacy: flowtype 169/209, assigned by KIM after signing. */
  pharmacy?: string;
}

const person = (id: string): Identity => {
  const found = insured.find((i) => i.id === id);
  if (!found) throw new Error(`no seeded insured ${id}`);
  return found;
};

const ibuprofen: MedicationInput = { kind: 'PZN', pzn: '06313728', display: 'IBU-ratiopharm 400 mg akut Schmerztabletten', normgroesse: 'N1', form: 'FTA' };
const ramipril: MedicationInput = { kind: 'Ingredient', ingredient: 'Ramipril', askCode: '22686', strength: { value: 5, unit: 'mg' }, form: 'Tabletten', amount: { value: '100', unit: 'Stück' } };
const hydrochlorothiazid: MedicationInput = {
  kind: 'Compounding', form: 'Suspension', amount: { value: '100', unit: 'ml' },
  ingredients: [{ name: 'Hydrochlorothiazid', amount: { value: 200, unit: 'mg' } }, { name: 'Suspensionsgrundlage (NRF S.50.)', amountText: 'ad 100 ml' }],
  instructions: 'Hydrochlorothiazid 2 mg/ml (NRF 26.4) Suspension',
};
// PZNs must pass their check digit at $activate (A_24033).
const amoxicillin: MedicationInput = { kind: 'PZN', pzn: '01080923', display: 'Amoxicillin-ratiopharm 500 mg Filmtabletten', normgroesse: 'N2', form: 'FTA' };
const salbutamol: MedicationInput = { kind: 'FreeText', text: 'Salbutamol Dosieraerosol 100 µg, 1 Stück' };

/** Signed at start: three for Lisa Müller (X110614233) and one directly assigned to a pharmacy by KIM (169). */
export const signedAtStart: DemoRequest[] = [
  { patient: person('insured-mueller'), medication: ibuprofen, dosage: 'bei Bedarf 1 Tablette, höchstens 3 täglich' },
  { patient: person('insured-mueller'), medication: ramipril, dosage: '1-0-0-0' },
  { patient: person('insured-mueller-kind'), medication: hydrochlorothiazid, dosage: '2 x täglich 2 ml' },
  { patient: person('insured-schmidt'), medication: amoxicillin, dosage: '1-1-1-0 für 7 Tage', pharmacy: defaultPharmacy.telematikId },
];

/** Left pending for the physician's signing list at /practice. */
export const pendingAtStart: DemoRequest[] = [
  { patient: person('insured-yilmaz'), medication: salbutamol, dosage: 'bei Bedarf 1-2 Hübe' },
  { patient: person('insured-weber'), medication: ibuprofen, dosage: 'bei Bedarf 1 Tablette' },
];

export function demoBundleXml(request: DemoRequest): string {
  const p = request.patient;
  const bundle = buildPrescriptionBundle({
    flowType: p.coverage?.type === 'PKV' ? (request.pharmacy ? '209' : '200') : request.pharmacy ? '169' : '160',
    patient: { kvnr: p.kvnr, given: p.given, family: p.family, birthDate: p.birthDate, address: p.address },
    coverage: p.coverage!,
    practice: { name: practice.name, bsnr: practice.bsnr, telematikId: practice.telematikId, address: practice.address, phone: practice.phone },
    medication: request.medication,
    dosage: request.dosage,
    quantity: 1,
  });
  return toXml(bundle);
}

async function createRequest(practiceUrl: string, request: DemoRequest): Promise<void> {
  const query = request.pharmacy ? `&pharmacy=${encodeURIComponent(request.pharmacy)}` : '';
  const res = await fetch(`${practiceUrl}/${TENANT}/TI?action=$createerptask${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/fhir+xml; charset=utf-8', 'user-agent': 'erx-demo/1.0 erx/demo-seed' },
    body: demoBundleXml(request),
  });
  if (res.status !== 201 && res.status !== 200) throw new Error(`demo $createerptask answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
}

export interface DemoResult { signed: number; pending: number }

/** Creates the demo prescriptions once per data directory (marker file `demo-seeded.json`). */
export async function seedDemoData(options: { practiceUrl: string; dataDir: string }): Promise<DemoResult | undefined> {
  const marker = join(options.dataDir, 'demo-seeded.json');
  if (existsSync(marker)) return undefined;
  for (const request of signedAtStart) await createRequest(options.practiceUrl, request);
  const processed = await fetch(`${options.practiceUrl}/${TENANT}/TI?action=$processerp`);
  if (processed.status !== 200) throw new Error(`demo $processerp answered ${processed.status}: ${(await processed.text()).slice(0, 300)}`);
  for (const request of pendingAtStart) await createRequest(options.practiceUrl, request);
  const result = { signed: signedAtStart.length, pending: pendingAtStart.length };
  writeFileSync(marker, JSON.stringify({ ...result, at: new Date().toISOString() }) + '\n');
  return result;
}

export function demoSeeded(dataDir: string): DemoResult | undefined {
  const marker = join(dataDir, 'demo-seeded.json');
  return existsSync(marker) ? (JSON.parse(readFileSync(marker, 'utf8')) as DemoResult) : undefined;
}
