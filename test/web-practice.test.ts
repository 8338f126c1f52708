// The physician's signing UI in real Chromium against the running platform (with Konnektor and practice module):
// requests arrive through the RED API, the physician deselects one, assigns a pharmacy via the VZD search, signs
// the rest under a comfort signature, watches the progress bar reach 100 % and downloads a printout; the RED Task
// list then has exactly the signed ones. With ERX_PIN_PROMPT=1 the HBA PIN comes from an accessible modal dialog:
// a wrong PIN shows the remaining tries, the right one signs. Screenshots go to test-output/screenshots/.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { toXml } from '../src/fhir/codec.ts';
import type { Bundle } from '../src/fhir/types.ts';
import { DEV_PIN } from '../src/konnektor/cards.ts';
import { formatRedMinute } from '../src/practice/red-dates.ts';
import { requestBundle, requestId } from '../src/practice/testing.ts';
import { insured, pharmacies, physician, TENANT, type Identity } from '../src/seed/identities.ts';
import { CHROMIUM_SKIP } from './browser.ts';
import { checkAccessibility, screenshot, startPlatform, type Platform } from './web-platform.ts';

const MEDICATIONS = [
  { pzn: '06313728', display: 'Sumatriptan-1a Pharma 100 mg Tabletten' },
  { pzn: '01016055', display: 'Ibuprofen 400 mg Filmtabletten' },
  { pzn: '04351736', display: 'Ramipril 5 mg Tabletten' },
  { pzn: '00427141', display: 'Metformin 500 mg Filmtabletten' },
  { pzn: '02532741', display: 'Pantoprazol 20 mg Tabletten' },
];

interface Created { id: string; patient: Identity; medication: string }

/** The third-party system: `$createerptask` over the RED API, one request per patient. */
async function createRequests(p: Platform, patients: Identity[]): Promise<Created[]> {
  const created: Created[] = [];
  for (const [i, patient] of patients.entries()) {
    const medication = MEDICATIONS[i % MEDICATIONS.length];
    const bundle = requestBundle({ patient, medication: { kind: 'PZN', pzn: medication.pzn, display: medication.display, normgroesse: 'N1', form: 'TAB' } });
    const res = await fetch(`${p.practice}/${TENANT}/TI?action=$createerptask`, {
      method: 'POST', headers: { 'content-type': 'application/fhir+xml;charset=utf-8', 'user-agent': 'KIS-Station/2.1' }, body: toXml(bundle),
    });
    assert.equal(res.status, 201, await res.text());
    created.push({ id: requestId(bundle), patient, medication: medication.display });
  }
  return created;
}

// Page scripts are strings (see web-platform.ts): what has the focus, and is it inside the open dialog.
const focused = (page: Page) => page.evaluate(`(() => { const el = document.activeElement; if (!el) return '';
  return el.tagName + ' ' + (el.tagName === 'INPUT' ? el.type : el.textContent) + (el.closest('dialog[open]') ? ' in-dialog' : ''); })()`) as Promise<string>;
const label = (c: Created) => `${c.patient.given} ${c.patient.family}, ${c.medication}`;
const progressValue = async (page: Page) => Number(await page.getByRole('progressbar').getAttribute('aria-valuenow'));

/** Signing has started: the bar is there, and it reaches 100 % (the results replace nothing of it). */
async function watchProgress(page: Page, shot: string): Promise<void> {
  const bar = page.getByRole('progressbar', { name: 'Fortschritt der Stapelsignatur' });
  await bar.waitFor();
  const first = await progressValue(page);
  assert.ok(first >= 0 && first <= 100, `aria-valuenow ${first}`);
  await screenshot(page, shot);
  await page.locator('[role="progressbar"][aria-valuenow="100"]').waitFor();
  assert.equal(await progressValue(page), 100);
}

async function startFor(env?: Record<string, string>): Promise<Platform | undefined> {
  const p = await startPlatform({ practice: true, env });
  if (!p) console.log(`# SKIP ${CHROMIUM_SKIP}`);
  return p;
}

describe('signing UI, dev mode (the terminal enters the PIN)', () => {
  let platform: Platform | undefined;
  before(async () => { platform = await startFor(); });
  after(async () => { await platform?.stop(); });

  test('list -> deselect one -> detail with pharmacy assignment -> comfort signature -> sign all -> progress 100 % -> results, printout PDF, RED Task list', async (t) => {
    const p = platform;
    if (!p) return t.skip(CHROMIUM_SKIP);
    const from = formatRedMinute(new Date(Date.now() - 60_000));
    const requests = await createRequests(p, insured);
    const [kept, ...toSign] = [requests[2], ...requests.filter((_, i) => i !== 2)];

    const page = await p.page('practice', physician.id);
    for (const r of requests) await page.locator(`tr[data-request="${r.id}"]`).getByText(r.medication).waitFor();
    const row = page.locator(`tr[data-request="${requests[0].id}"]`);
    assert.match(await row.textContent() ?? '', /Lisa Müller.*KVNR X110614233.*Sumatriptan.*KIS-Station\/2\.1/);
    await page.getByRole('button', { name: 'Alle signieren (5)' }).waitFor();
    await screenshot(page, 'practice-list');
    await checkAccessibility(page, 'practice list');

    await page.getByRole('checkbox', { name: `${label(kept)} signieren` }).uncheck();
    await page.getByText('4 von 5 ausgewählt.').waitFor();

    // Detail: the bundle's facts; a pharmacy from the VZD search makes it a direct assignment (169), removable.
    const detailOf = toSign[0];
    await page.getByRole('button', { name: `Details zu ${label(detailOf)}` }).click();
    const detail = page.getByRole('region', { name: `Verordnung für ${detailOf.patient.given} ${detailOf.patient.family}` });
    await detail.getByText(`${detailOf.patient.coverage!.payer} (GKV, IK ${detailOf.patient.coverage!.ik})`).waitFor();
    assert.match(await detail.textContent() ?? '', /Dosierung1-0-1.*Flowtype160 – Muster 16 \(GKV\).*Apothekekeine/);
    await detail.getByLabel('Name der Apotheke').fill(pharmacies[2].name);
    await detail.getByRole('button', { name: 'Apotheke suchen' }).click();
    await detail.getByRole('button', { name: `${pharmacies[2].name} zuweisen` }).click();
    await detail.getByText(`${pharmacies[2].name} (Telematik-ID ${pharmacies[2].telematikId})`).waitFor();
    await detail.getByText('169 – Muster 16, direkte Zuweisung (GKV)').waitFor();
    await screenshot(page, 'practice-detail');
    await checkAccessibility(page, 'practice detail');
    await detail.getByRole('button', { name: 'Zuweisung entfernen' }).click();
    await detail.getByText('160 – Muster 16 (GKV)').waitFor();
    await detail.getByRole('button', { name: 'Apotheke suchen' }).click();
    await detail.getByRole('button', { name: `${pharmacies[2].name} zuweisen` }).click();
    await page.locator(`tr[data-request="${detailOf.id}"]`).getByText('Direkte Zuweisung (169)').waitFor();
    await detail.getByRole('button', { name: 'Details schließen' }).click();

    // Comfort signature on: the mode line shows the remaining count and time; the batch uses it.
    const modeLine = page.getByTestId('signature-mode');
    await page.getByRole('switch', { name: 'Komfortsignatur' }).click();
    await modeLine.getByText(/Komfortsignatur aktiv: noch \d+ Signaturen, noch \d+ h/).waitFor();
    assert.equal(await page.getByRole('switch', { name: 'Komfortsignatur' }).getAttribute('aria-checked'), 'true');
    const remaining = () => modeLine.textContent().then((s) => Number(/noch (\d+) Signaturen/.exec(s ?? '')?.[1]));
    const before = await remaining();

    await page.getByRole('button', { name: 'Alle signieren (4)' }).click();
    await watchProgress(page, 'practice-progress');
    const results = page.getByRole('region', { name: 'Ergebnis' });
    for (const r of toSign) await results.locator(`tr[data-result="${r.id}"]`).getByText(/^Signiert/).waitFor();
    assert.equal(await results.locator('tr[data-result]').count(), 4);
    assert.match(await results.locator(`tr[data-result="${toSign[1].id}"]`).textContent() ?? '', /160\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}/);
    assert.match(await results.locator(`tr[data-result="${detailOf.id}"]`).textContent() ?? '', /169\.\d{3}\./);
    // The deselected request is still pending and listed; the others left the list.
    await page.getByText('0 von 1 ausgewählt.').waitFor();
    assert.equal(await page.getByRole('checkbox', { name: `${label(kept)} signieren` }).isChecked(), false, 'still deselected');
    await modeLine.getByText(`noch ${before - 4} Signaturen`).waitFor();
    await screenshot(page, 'practice-results');
    await checkAccessibility(page, 'practice results');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      results.getByRole('button', { name: `Ausdruck (PDF) für ${label(toSign[1])} herunterladen` }).click(),
    ]);
    const pdf = await readFile((await download.path())!);
    assert.equal(pdf.subarray(0, 4).toString('latin1'), '%PDF');
    assert.match(download.suggestedFilename(), /^E-Rezept-160\..*\.pdf$/);

    // The third-party system fetches the results: exactly the signed ones.
    const to = formatRedMinute(new Date(Date.now() + 60_000));
    const list = await fetch(`${p.practice}/${TENANT}/Task?from=${from}&to=${to}&_format=json`);
    assert.equal(list.status, 200);
    const bundle = (await list.json()) as Bundle;
    assert.deepEqual(bundle.entry!.map((e) => e.resource!.id).sort(), toSign.map((r) => r.id).sort());
    assert.ok(bundle.entry!.every((e) => (e.resource as { status?: string }).status === 'ready'));
  });
});

describe('signing UI, ERX_PIN_PROMPT=1 (the PIN comes from the UI)', () => {
  let platform: Platform | undefined;
  before(async () => { platform = await startFor({ ERX_PIN_PROMPT: '1' }); });
  after(async () => { await platform?.stop(); });

  test('PIN dialog: modal with focus kept inside, Escape closes; wrong PIN shows the remaining tries; the right PIN signs; comfort signature on with the PIN', async (t) => {
    const p = platform;
    if (!p) return t.skip(CHROMIUM_SKIP);
    const requests = await createRequests(p, insured.slice(0, 2));
    const page = await p.page('practice', physician.id);
    for (const r of requests) await page.locator(`tr[data-request="${r.id}"]`).waitFor();
    await page.getByTestId('signature-mode').getByText(/eine PIN-Eingabe/).waitFor();
    await checkAccessibility(page, 'practice list (PIN prompt)');

    const signAll = page.getByRole('button', { name: 'Alle signieren (2)' });
    await signAll.click();
    const dialog = page.getByRole('dialog', { name: 'HBA-PIN für die Stapelsignatur' });
    await dialog.waitFor();
    const pin = dialog.getByLabel('PIN.QES');
    assert.equal(await focused(page), 'INPUT password in-dialog', 'focus moves into the PIN field');
    for (const key of ['Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
      await page.keyboard.press(key);
      assert.match(await focused(page), / in-dialog$/, `focus stays in the dialog (${key})`);
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await focused(page), 'BUTTON Alle signieren (2)', 'focus returns to the button');

    await signAll.click();
    await pin.fill('000000');
    await screenshot(page, 'practice-pin-dialog');
    await dialog.getByRole('button', { name: 'Signieren' }).click();
    const alert = dialog.getByRole('alert');
    await alert.getByText(/Falsche PIN.*noch 2 Versuche/).waitFor();
    assert.equal(await pin.inputValue(), '', 'the wrong PIN is cleared');
    await screenshot(page, 'practice-pin-wrong');
    for (const r of requests) await page.locator(`tr[data-request="${r.id}"]`).waitFor(); // still pending

    await pin.fill(DEV_PIN);
    await dialog.getByRole('button', { name: 'Signieren' }).click();
    await dialog.waitFor({ state: 'detached' });
    await watchProgress(page, 'practice-pin-progress');
    const results = page.getByRole('region', { name: 'Ergebnis' });
    for (const r of requests) await results.locator(`tr[data-result="${r.id}"]`).getByText(/^Signiert/).waitFor();
    await page.getByText('Keine offenen Verordnungen.').waitFor();
    await checkAccessibility(page, 'practice results (PIN prompt)');

    // Comfort signature with the PIN prompt: switching it on asks for the PIN in the same dialog.
    await page.getByRole('switch', { name: 'Komfortsignatur' }).click();
    const comfort = page.getByRole('dialog', { name: 'HBA-PIN für die Komfortsignatur' });
    await comfort.getByLabel('PIN.QES').fill(DEV_PIN);
    await comfort.getByRole('button', { name: 'Komfortsignatur einschalten' }).click();
    await comfort.waitFor({ state: 'detached' });
    await page.getByTestId('signature-mode').getByText(/Komfortsignatur aktiv: noch \d+ Signaturen/).waitFor();
  });
});
