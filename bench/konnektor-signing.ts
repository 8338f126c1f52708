// Batch signing (Stapelsignatur) of 250 prescriptions through the Konnektor's SignDocument (one PIN entry, 250
// CAdES QES), against the baseline measured in the same run: 250 signCades calls with the same HBA key and bundles.
// Run: node --import tsx bench/konnektor-signing.ts   (ERX_BENCH_ROUNDS=<n>, default 5)
import { signCades } from '../src/crypto/cades.ts';
import { toXml } from '../src/fhir/codec.ts';
import { buildPrescriptionBundle } from '../src/fhir/kbv/build-bundle.ts';
import { formatPrescriptionId } from '../src/fhir/identifiers.ts';
import { CONTEXT, post, startTestKonnektor } from '../src/konnektor/testing.ts';
import { insured, physician, practice } from '../src/seed/identities.ts';

const ROUNDS = Number(process.env.ERX_BENCH_ROUNDS ?? 5);
const BATCH = 250;
const k = await startTestKonnektor();
const patient = insured[0];
const bundles = Array.from({ length: BATCH }, (_, i) => Buffer.from(toXml(buildPrescriptionBundle({
  flowType: '160', prescriptionId: formatPrescriptionId('160', BigInt(i + 1)), authoredOn: '2026-01-15',
  patient: { kvnr: patient.kvnr!, given: patient.given!, family: patient.family!, birthDate: patient.birthDate!, address: patient.address! },
  coverage: { type: patient.coverage!.type, ik: patient.coverage!.ik, payer: patient.coverage!.payer },
  physician: { lanr: physician.lanr!, given: physician.given!, family: physician.family!, telematikId: physician.telematikId! },
  practice: { name: practice.name, bsnr: practice.bsnr!, telematikId: practice.telematikId!, address: practice.address!, phone: practice.phone },
  medication: { kind: 'PZN', pzn: '06313728', display: 'Sumatriptan-1a Pharma 100 mg Tabletten', normgroesse: 'N1', form: 'TAB' },
  dosage: '1-0-1', quantity: 1,
} as Parameters<typeof buildPrescriptionBundle>[0])), 'utf8'));
const qes = k.pki.cards[physician.id].qes!;

async function batch(): Promise<number> {
  const job = (await post(k.app, '/SignatureService/GetJobNumber', { Context: CONTEXT })).body.JobNumber;
  const start = performance.now();
  const res = await post(k.app, '/SignatureService/SignDocument', {
    Context: CONTEXT, CardHandle: k.hba, JobNumber: job,
    SignRequests: bundles.map((b, i) => ({ RequestID: `r${i}`, Document: { Base64Data: b.toString('base64'), MimeType: 'text/plain; charset=utf-8', ShortText: `E-Rezept ${i}` }, IncludeRevocationInfo: false })),
  });
  const ms = performance.now() - start;
  if (res.status !== 200 || res.body.SignResponses.length !== BATCH) throw new Error(`SignDocument: ${res.status} ${JSON.stringify(res.body).slice(0, 300)}`);
  return ms;
}

function raw(): number {
  const start = performance.now();
  for (const b of bundles) signCades(b, qes);
  return performance.now() - start;
}

await batch();
raw();
const batchMs: number[] = [];
const rawMs: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  batchMs.push(await batch());
  rawMs.push(raw());
}
await k.close();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const b = median(batchMs);
const r = median(rawMs);
console.log(`\nBatch signing of ${BATCH} prescriptions (${bundles[0].length} bytes each), median of ${ROUNDS} rounds\n`);
console.log('| case | ms per batch | ms per signature | ratio to baseline |');
console.log('| --- | ---: | ---: | ---: |');
console.log(`| Konnektor SignDocument, ${BATCH} QES with one PIN | ${b.toFixed(0)} | ${(b / BATCH).toFixed(2)} | ${(100 * r / b).toFixed(0)} % |`);
console.log(`| baseline: ${BATCH} x signCades in-process | ${r.toFixed(0)} | ${(r / BATCH).toFixed(2)} | 100 % |`);
