// Every gematik/KBV example bundle (shared/fixtures/erp-examples/kbv-bundle) through POST /Task/{id}/$activate, in
// XML, QES-signed by the test HBA. Valid examples activate once the Task's PrescriptionID and the signing day are put
// in (the kbv helpers); invalid ones are refused with 400 and an OperationOutcome naming the rule.
//
// Clock: the test PKI's CAs are valid only from their creation, so every QES is made *now*; where a test needs the
// version table of another day, only the Fachdienst's clock (world.clock) moves. authoredOn is always the signing day.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { signCades } from '../../crypto/cades.ts';
import { parseFhir, toXml } from '../../fhir/codec.ts';
import { kvnrWithCheckDigit } from '../../fhir/identifiers.ts';
import { setAuthoredOn, setPrescriptionId } from '../../fhir/kbv/build-bundle.ts';
import { addDays, addMonths, berlinDay } from '../../fhir/kbv/dates.ts';
import { configWindowAt } from '../../fhir/kbv/versions.ts';
import { EVDGA_EXAMPLE, EVDGA_EXAMPLE_REPAIRS, resourceOf } from '../../fhir/kbv/test-support.ts';
import type { Bundle, Composition, Extension, MedicationRequest, Patient, Task } from '../../fhir/types.ts';
import { listFixtures, readFixture } from '../../../test/fixtures.ts';
import { EXT, NS } from '../task-resource.ts';
import { activateParameters, call, createTask, type TaskHandle, useWorld } from '../testing.ts';

const env = useWorld();

const load = (path: string) => parseFhir(readFixture(`kbv-bundle/${path}`), 'xml') as Bundle;

/** The test HBA's QES over the XML bytes, made now (base64, what Binary.data carries). */
function sign(xml: string, signingTime: Date): string {
  return signCades(Buffer.from(xml, 'utf8'), env.world.qes, { signingTime }).toString('base64');
}

/** The example for this Task: PrescriptionID = Task id, authoredOn = signing day; everything else as in the file. */
function forTask(bundle: Bundle, task: TaskHandle, signingTime: Date): Bundle {
  setPrescriptionId(bundle, task.id);
  setAuthoredOn(bundle, berlinDay(signingTime));
  return bundle;
}

function setKvnr(bundle: Bundle, kvnr: string): void {
  resourceOf<Patient>(bundle, 'Patient').identifier!.find((i) => i.system === NS.kvnr)!.value = kvnr;
}

async function activate(task: TaskHandle, data: string) {
  return call(env.world, 'practice', 'POST', `/Task/${task.id}/$activate`, {
    format: 'xml', body: activateParameters(data), headers: { 'x-accesscode': task.accessCode },
  });
}

/** Runs `fn` with the Fachdienst's clock on `iso` (the QES is still made now). */
async function onDay<T>(iso: string, fn: () => Promise<T>): Promise<T> {
  const saved = env.world.clock.now;
  env.world.clock.now = new Date(iso);
  try {
    return await fn();
  } finally {
    env.world.clock.now = saved;
  }
}

function assertRefused(r: { status: number; body: any }, text: RegExp, code?: string): void {
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.resourceType, 'OperationOutcome');
  assert.match(r.body.issue[0].details.text, text);
  if (code) assert.equal(r.body.issue[0].code, code);
}

const extensionValue = (task: Task, url: string) => task.extension?.find((e) => e.url === url)?.valueDate;

// ---------------------------------------------------------------------------------------------------------------
// Valid examples

interface Adaptation {
  why: string;
  edit: (b: Bundle, signingDay: string) => void;
  /** The refusal the example gets without this edit. */
  without: RegExp;
}

interface ValidCase {
  flowType: string;
  /** KVNR the Task gets (Task.for). */
  kvnr: string;
  /** Edits beyond PrescriptionID and authoredOn, in the order the validator meets them. */
  adapt?: Adaptation[];
  /** Day of the Fachdienst's clock when the example's KBV version is not accepted today. */
  acceptedOn?: { day: string; todayRefused: RegExp };
}

const MVO_URL = 'https://fhir.kbv.de/StructureDefinition/KBV_EX_ERP_Multiple_Prescription';
const mvoPeriod = (b: Bundle) => resourceOf<MedicationRequest>(b, 'MedicationRequest').extension!
  .find((e) => e.url === MVO_URL)!.extension!.find((e: Extension) => e.url === 'Zeitraum')!.valuePeriod!;
const daysBetween = (from: string, to: string) => Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);

/** The MVO period moves with authoredOn (it starts on the example's own issue day): same offset, same length. */
function shiftMvo(originalAuthoredOn: string): Adaptation {
  return {
    why: `MVO period starts on the example's issue day ${originalAuthoredOn}, before the signing day; shifted with it`,
    edit: (b, day) => {
      const period = mvoPeriod(b);
      const offset = daysBetween(originalAuthoredOn, day);
      period.start = addDays(period.start!, offset);
      if (period.end) period.end = addDays(period.end, offset);
    },
    without: /MVO: Beginn des Einlösezeitraums darf nicht vor dem Ausstellungsdatum liegen/,
  };
}

const kvnrFix = (wrong: string, stem: string): Adaptation => ({
  why: `KVNR ${wrong} fails its check digit`,
  edit: (b) => setKvnr(b, kvnrWithCheckDigit(stem)),
  without: new RegExp(`Ungültige Versichertennummer \\(KVNR\\) ${wrong}: .*Prüfziffer`),
});

const VALID: Record<string, ValidCase> = {
  'api-2025-01-15_02_Prescription_Bundle.xml': {
    flowType: '160',
    kvnr: kvnrWithCheckDigit('X23456789'),
    adapt: [shiftMvo('2025-01-15'), kvnrFix('X234567890', 'X23456789')],
    // KBV 1.1.0: accepted until 2026-03-31 (versions.ts), refused since 2026-04-01
    acceptedOn: { day: '2026-03-31T10:00:00Z', todayRefused: /KBV-Profilversion 1\.1\.0 von KBV_PR_ERP_Bundle wird am \d{4}-\d{2}-\d{2} nicht akzeptiert/ },
  },
  'e2e-2025-10-01_GKV_PZN_Nr1_VerordnungArzt.xml': { flowType: '160', kvnr: 'X234567891' },
  'e2e-2025-10-01_PKV_PZN_Nr1_VerordnungArzt.xml': { flowType: '200', kvnr: 'P123464117' },
  'kbv-1.3.2_Beispiel_16_Wirkstoffverordnung.xml': { flowType: '160', kvnr: 'K220645122' },
  'kbv-1.3.2_Beispiel_1_PZN.xml': { flowType: '160', kvnr: 'K220635158' },
  'kbv-1.3.2_Beispiel_21_1_MVO.xml': { flowType: '160', kvnr: 'K220635158', adapt: [shiftMvo('2024-04-01')] },
  'kbv-1.3.2_Beispiel_22_Freitext.xml': { flowType: '160', kvnr: 'S040464113' },
  'kbv-1.3.2_Beispiel_23_Rezeptur.xml': { flowType: '160', kvnr: 'K220645122' },
  'kbv-1.3.2_Beispiel_3_PKV.xml': { flowType: '200', kvnr: kvnrWithCheckDigit('P12346411'), adapt: [kvnrFix('P123464113', 'P12346411')] },
  // DiGA (KBV_PR_EVDGA_Bundle 1.1): the example's defects are described with their repairs in the kbv test-support;
  // accept and close by the payer: diga.test.ts
  [EVDGA_EXAMPLE.slice('valid/'.length)]: {
    flowType: '162',
    kvnr: kvnrWithCheckDigit('X23456789'),
    adapt: EVDGA_EXAMPLE_REPAIRS,
    // eVDGA 1.1: accepted until 2026-03-31 (versions.ts, column evdga), refused since 2026-04-01
    acceptedOn: { day: '2026-03-31T10:00:00Z', todayRefused: /KBV-Profilversion 1\.1 von KBV_PR_EVDGA_Bundle wird am \d{4}-\d{2}-\d{2} nicht akzeptiert/ },
  },
};

test('the table covers every file in kbv-bundle/valid/', () => {
  const files = listFixtures('.xml').filter((p) => p.startsWith('kbv-bundle/valid/')).map((p) => p.slice('kbv-bundle/valid/'.length));
  assert.deepEqual(files, Object.keys(VALID).sort());
});

describe('valid examples activate (XML, signed by the test HBA)', () => {
  for (const [file, c] of Object.entries(VALID)) {
    const adapted = c.adapt ? ` (adapted: ${c.adapt.map((a) => a.why).join('; ')})` : '';
    test(`${file}: flowtype ${c.flowType} -> 200 ready, Task.for ${c.kvnr}${adapted}`, async () => {
      const run = async () => {
        const task = await createTask(env.world, c.flowType, 'xml');
        const signingTime = new Date();
        const day = berlinDay(signingTime);
        const bundle = forTask(load(`valid/${file}`), task, signingTime);
        for (const a of c.adapt ?? []) {
          // without the edit the example fails exactly for the reason given
          assertRefused(await activate(task, sign(toXml(bundle), signingTime)), a.without);
          a.edit(bundle, day);
        }
        const r = await activate(task, sign(toXml(bundle), signingTime));
        // every example's LANR passes its check digit: plain 200, never 252
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.res.headers.warning, undefined);
        assert.match(String(r.res.headers['content-type']), /application\/fhir\+xml/);
        const ready = r.body as Task;
        assert.equal(ready.status, 'ready');
        assert.equal(ready.id, task.id);
        assert.equal(ready.for?.identifier?.system, NS.kvnr);
        assert.equal(ready.for?.identifier?.value, c.kvnr);
        assert.equal(ready.extension?.find((e) => e.url === EXT.prescriptionType)?.valueCoding?.code, c.flowType);
        if (c.flowType === '162') {
          // DiGA (TAB_eRpDM_005): accept = expiry = signing day + 3 calendar months
          assert.equal(extensionValue(ready, EXT.expiryDate), addMonths(day, 3));
          assert.equal(extensionValue(ready, EXT.acceptDate), addMonths(day, 3));
        } else if (resourceOf<MedicationRequest>(bundle, 'MedicationRequest').extension?.some((x) => x.url === MVO_URL && x.extension?.some((k) => k.valueBoolean === true))) {
          // MVO: redeemable until Zeitraum.end, else 365 days from the signing day
          const end = mvoPeriod(bundle).end ?? addDays(day, 365);
          assert.equal(extensionValue(ready, EXT.expiryDate), end);
          assert.equal(extensionValue(ready, EXT.acceptDate), end);
        }
      };
      if (!c.acceptedOn) return run();
      // today the profile version is refused first ...
      const task = await createTask(env.world, c.flowType, 'xml');
      const signingTime = new Date();
      const bundle = forTask(load(`valid/${file}`), task, signingTime);
      for (const a of c.adapt ?? []) a.edit(bundle, berlinDay(signingTime));
      assertRefused(await activate(task, sign(toXml(bundle), signingTime)), c.acceptedOn.todayRefused, 'business-rule');
      // ... on a day its version was accepted it activates
      await onDay(c.acceptedOn.day, run);
    });
  }

  test('flowtype must fit the coverage: PKV example as 160 and GKV example as 200 are refused', async () => {
    const pkv = await createTask(env.world, '160', 'xml');
    const signingTime = new Date();
    const pkvBundle = forTask(load('valid/e2e-2025-10-01_PKV_PZN_Nr1_VerordnungArzt.xml'), pkv, signingTime);
    assertRefused(await activate(pkv, sign(toXml(pkvBundle), signingTime)), /Coverage "PKV" not allowed for flowtype 160/, 'business-rule');
    const gkv = await createTask(env.world, '200', 'xml');
    const gkvBundle = forTask(load('valid/kbv-1.3.2_Beispiel_1_PZN.xml'), gkv, signingTime);
    assertRefused(await activate(gkv, sign(toXml(gkvBundle), signingTime)), /Coverage "GKV" not allowed for flowtype 200/, 'business-rule');
  });

  test('bundle and flowtype must fit: the DiGA example on a 160 Task and a medicine example on a 162 Task are refused', async () => {
    const signingTime = new Date();
    const on160 = await createTask(env.world, '160', 'xml');
    const diga = forTask(load(EVDGA_EXAMPLE), on160, signingTime);
    for (const repair of EVDGA_EXAMPLE_REPAIRS) repair.edit(diga);
    assertRefused(await activate(on160, sign(toXml(diga), signingTime)), /^KBV_PR_EVDGA_Bundle \(DiGA\) ist nur mit Flowtype 162 zulässig, nicht mit 160$/, 'business-rule');
    const on162 = await createTask(env.world, '162', 'xml');
    const medicine = forTask(load('valid/kbv-1.3.2_Beispiel_1_PZN.xml'), on162, signingTime);
    const r = await activate(on162, sign(toXml(medicine), signingTime));
    assertRefused(r, /^Für diesen Workflowtypen sind nur Verordnungen für Digitale Gesundheitsanwendungen zulässig/, 'business-rule');
    assert.deepEqual(r.body.issue[0].expression, ['Bundle.meta.profile']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Invalid examples

// neg-*: KBV 1.1.0 bundles, each one element away from a valid base (fixtures README).
const NEGATIVE: Record<string, { rule: RegExp; expression: RegExp }> = {
  'neg-18_ucum_system_uppercase.xml': {
    rule: /Mengenangabe: quantity\.system muss exakt http:\/\/unitsofmeasure\.org sein, nicht HTTP:\/\/unitsofmeasure\.org/,
    expression: /\.dispenseRequest\.quantity\.system$/,
  },
  // the README says Coverage payor; the changed element is the Organization's identifier (type BSNR, old IK NamingSystem, 10 digits)
  'neg-22_iknr_wrong_system.xml': {
    rule: /IKNR: NamingSystem muss http:\/\/fhir\.de\/sid\/arge-ik\/iknr sein, nicht http:\/\/fhir\.de\/NamingSystem\/arge-ik\/iknr/,
    expression: /^Bundle\.entry\[\d+\]\.resource\.identifier\[0\]\.system$/,
  },
  'neg-26_patient_identifier_wrong_system.xml': {
    rule: /Patient\.identifier: Versichertennummer mit NamingSystem http:\/\/fhir\.de\/sid\/gkv\/kvid-10 fehlt/,
    expression: /\.identifier$/,
  },
  'neg-28_kvnr_format_1X11043327.xml': { rule: /Ungültige Versichertennummer \(KVNR\) 1X11043327: Format/, expression: /\.identifier\.value$/ },
  'neg-30_kvnr_lowercase.xml': { rule: /Ungültige Versichertennummer \(KVNR\) x110433273: Format/, expression: /\.identifier\.value$/ },
  'neg-31_kvnr_too_short.xml': { rule: /Ungültige Versichertennummer \(KVNR\) X11043332: Format/, expression: /\.identifier\.value$/ },
  'neg-35_lanr_with_letter.xml': { rule: /Ungültige LANR 987G54423: muss aus 9 Ziffern bestehen/, expression: /\.identifier\[\d+\]\.value$/ },
  'neg-41_missing_coverage_section.xml': { rule: /Composition: Abschnitt \(section\) 'Coverage' fehlt/, expression: /\.section$/ },
  'neg-42_formular_art_lowercase_e16a.xml': { rule: /Formular-Art \(Composition\.type\) muss 'e16A' .* nicht 'e16a'/, expression: /\.type\.coding\.code$/ },
};

const FHIR_INFO = [
  'fhirinfo-01_fullUrl_id_mismatch.xml', 'fhirinfo-02_mixed_reference.xml', 'fhirinfo-03_fullUrl_format.xml',
  'fhirinfo-04_patient_without_id.xml', 'fhirinfo-05_urn_oid_fullUrl.xml',
];

test('the tables cover every file in kbv-bundle/invalid/', () => {
  const files = listFixtures('.xml').filter((p) => p.startsWith('kbv-bundle/invalid/')).map((p) => p.slice('kbv-bundle/invalid/'.length));
  assert.deepEqual(files, [...FHIR_INFO, ...Object.keys(NEGATIVE)].sort());
});

describe('neg-* (KBV 1.1.0): refused today for the profile version; on 2025-08-01 for their own rule', () => {
  test('the version table accepted KBV 1.1 on 2025-08-01 (so the specific rules can be reached then)', () => {
    assert.ok(configWindowAt(new Date('2025-08-01T10:00:00Z'))?.erp.includes('1.1'));
    assert.ok(!configWindowAt(env.world.clock.now)?.erp.includes('1.1'), 'and does not accept it today');
  });

  for (const [file, expected] of Object.entries(NEGATIVE)) {
    test(file, async () => {
      const task = await createTask(env.world, '160', 'xml');
      const signingTime = new Date();
      const data = sign(toXml(forTask(load(`invalid/${file}`), task, signingTime)), signingTime);
      const today = await activate(task, data);
      assertRefused(today, new RegExp(`KBV-Profilversion 1\\.1\\.0 von KBV_PR_ERP_Bundle wird am ${berlinDay(env.world.clock.now)} nicht akzeptiert \\(zulässig: [0-9., ]+\\)`), 'business-rule');
      assert.deepEqual(today.body.issue[0].expression, ['Bundle.meta.profile']);
      // the Task stayed draft; in August 2025 the file's own rule fires
      const then = await onDay('2025-08-01T10:00:00Z', () => activate(task, data));
      assertRefused(then, expected.rule);
      assert.equal(then.body.issue[0].expression.length, 1);
      assert.match(then.body.issue[0].expression[0], expected.expression);
    });
  }
});

describe('fhirinfo-*: the FD reactions of the gematik "erp_fhir_infos" examples', () => {
  // As they are, the files are fragments (no KBV profile, or no Bundle at all): refused for that first.
  for (const file of FHIR_INFO) {
    test(`${file} signed as it is: 400`, async () => {
      const task = await createTask(env.world, '160', 'xml');
      const r = await activate(task, sign(readFixture(`kbv-bundle/invalid/${file}`), new Date()));
      assertRefused(r, file.startsWith('fhirinfo-04')
        ? /Die Verordnung muss eine Bundle-Ressource sein/
        : /meta\.profile muss https:\/\/fhir\.kbv\.de\/StructureDefinition\/KBV_PR_ERP_Bundle mit Version angeben/);
    });
  }

  // Their one defect carried into a complete prescription (a valid example for the Task): what the README describes.
  async function withDefect(base: string, defect: (b: Bundle) => void) {
    const task = await createTask(env.world, '160', 'xml');
    const signingTime = new Date();
    const bundle = forTask(load(`valid/${base}`), task, signingTime);
    defect(bundle);
    return { task, r: await activate(task, sign(toXml(bundle), signingTime)) };
  }
  const entryOf = (b: Bundle, type: string) => b.entry!.find((e) => e.resource?.resourceType === type)!;

  test('01 fullUrl id != resource id: 253 success with warning, Task ready', async () => {
    const fixturePatient = load('invalid/fhirinfo-01_fullUrl_id_mismatch.xml').entry![0].resource as Patient;
    const { r } = await withDefect('e2e-2025-10-01_GKV_PZN_Nr1_VerordnungArzt.xml', (b) => {
      entryOf(b, 'Patient').resource!.id = fixturePatient.id; // fullUrl keeps .../Patient/9774f67f-…
    });
    assert.equal(r.status, 253, JSON.stringify(r.body));
    assert.match(String(r.res.headers.warning), /^253 erp-fachdienst ".*fullUrl .*Patient\/9774f67f-a238-4daf-b4e6-679deeef3811.*43ed0c32-27e0-429c-a2fb-8f92518de721/);
    assert.equal((r.body as Task).status, 'ready');
  });

  test('02 mixed reference (relative next to urn:uuid fullUrls): 400', async () => {
    const { r } = await withDefect('kbv-1.3.2_Beispiel_1_PZN.xml', (b) => {
      const patientId = entryOf(b, 'Patient').resource!.id;
      (entryOf(b, 'Composition').resource as Composition).subject = { reference: `Patient/${patientId}` };
    });
    assertRefused(r, /Gemischte Referenzen: relative Referenz 'Patient\/[0-9a-f-]+' in einer Ressource mit fullUrl urn:uuid:/);
  });

  test('03 fullUrl not in FHIR format: 254 success with warning, Task ready', async () => {
    const { r } = await withDefect('kbv-1.3.2_Beispiel_1_PZN.xml', (b) => {
      const composition = entryOf(b, 'Composition');
      composition.fullUrl = `www.pvs.praxis-topp-gluecklich.local/fhir/Composition/${composition.resource!.id}`;
    });
    assert.equal(r.status, 254, JSON.stringify(r.body));
    assert.match(String(r.res.headers.warning), /^254 erp-fachdienst "fullUrl www\.pvs\.praxis-topp-gluecklich\.local\/fhir\/Composition\//);
    assert.doesNotMatch(String(r.res.headers.warning), /253/);
    assert.equal((r.body as Task).status, 'ready');
  });

  test('04 resource without id: 400', async () => {
    const { r } = await withDefect('kbv-1.3.2_Beispiel_1_PZN.xml', (b) => {
      delete entryOf(b, 'Patient').resource!.id;
    });
    assertRefused(r, /Ressource ohne id: jede Ressource im Bundle braucht eine id \(Bundle\.entry\[\d\]\.resource\.id\)/);
  });

  test('05 urn:oid fullUrl: 400', async () => {
    const { r } = await withDefect('kbv-1.3.2_Beispiel_1_PZN.xml', (b) => {
      entryOf(b, 'Patient').fullUrl = 'urn:oid:1.3.6.1.4.1.12345.1.1.1';
    });
    assertRefused(r, /fullUrl im Format urn:oid ist nicht zulässig \(urn:oid:1\.3\.6\.1\.4\.1\.12345\.1\.1\.1\)/);
  });
});
