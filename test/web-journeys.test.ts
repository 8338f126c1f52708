// Browser journeys against the running platform (real Chromium via test/browser.ts): insured list -> detail ->
// 2D code -> pharmacy accept/close -> insured sees dispense and protocol; representative access; DispReq
// assignment; a flowtype 169 assignment by KIM; the pharmacy reads the insured's eGK instead of a code. Screenshots go to test-output/screenshots/.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { CHROMIUM_SKIP } from './browser.ts';
import { checkAccessibility, decodePng, screenshot, startPlatform, type Platform } from './web-platform.ts';
import { buildZuweisung } from '../src/kim/erezept-messages.ts';
import { kimAccounts } from '../src/kim/accounts.ts';
import { sendKimMail } from '../src/kim/service.ts';
import { insured, pharmacies, practice } from '../src/seed/identities.ts';
import { signCades } from '../src/crypto/cades.ts';
import { toXml } from '../src/fhir/codec.ts';
import { dispenseParameters, readAcceptBundle } from '../src/pharmacy/dispense.ts';

let platform: Platform | undefined;
const LISA = insured[0].id; // representative for her child Jonas
const JONAS = insured[1].id;
const [GENDARMENMARKT, FRIEDRICHSTADT] = pharmacies;

before(async () => {
  platform = await startPlatform({ konnektor: true });
  if (!platform) console.log(`# SKIP ${CHROMIUM_SKIP}`);
});
after(async () => {
  await platform?.stop();
});

function world(t: TestContext): Platform | undefined {
  if (!platform) t.skip(CHROMIUM_SKIP);
  return platform;
}

test('insured list -> detail -> DataMatrix decodes to the token -> pharmacy accepts and closes -> insured sees dispense and protocol', async (t) => {
  const p = world(t);
  if (!p) return;
  const rx = await p.prescribe({ patient: LISA, medication: 'Ibuprofen 400 mg Filmtabletten', pzn: '01016055' });

  // Keyboard sign-in: the identity list and the button are reached and used without a mouse.
  const context = await p.browser.newContext({ locale: 'de-DE', viewport: { width: 1100, height: 900 } });
  const insuredPage = await context.newPage();
  insuredPage.setDefaultTimeout(15_000);
  await insuredPage.goto(`${p.web}/insured/`);
  await insuredPage.getByLabel('Identität').selectOption(LISA);
  await screenshot(insuredPage, 'insured-sign-in');
  await checkAccessibility(insuredPage, 'insured sign-in');
  await insuredPage.getByLabel('Identität').focus();
  await insuredPage.keyboard.press('Tab');
  await insuredPage.keyboard.press('Enter');
  const row = insuredPage.locator(`tr[data-task="${rx.id}"]`);
  await row.getByText('Ibuprofen 400 mg Filmtabletten').waitFor();
  await assert.doesNotReject(row.getByText('Einlösbar').waitFor());
  await assert.doesNotReject(row.getByText(/Berger/).waitFor());
  await screenshot(insuredPage, 'insured-list');
  await checkAccessibility(insuredPage, 'insured list');

  await row.getByRole('button', { name: /Details zu Ibuprofen/ }).click();
  const code = insuredPage.getByTestId('datamatrix');
  await code.waitFor();
  const token = `Task/${rx.id}/$accept?ac=${rx.accessCode}`;
  assert.equal(await insuredPage.getByTestId('token-text').textContent(), token);
  const codePng = await code.screenshot();
  const [decoded] = await decodePng(codePng);
  assert.equal(decoded, JSON.stringify({ urls: [token] }), 'the code on screen carries the gematik JSON');
  await screenshot(insuredPage, 'insured-detail-2d-code');
  await checkAccessibility(insuredPage, 'insured detail');

  // The pharmacy scans: a photo of the code, decoded in the browser by zxing-wasm (served locally, CSP-compliant).
  const pharmacy = await p.page('pharmacy', GENDARMENMARKT.id);
  await pharmacy.getByLabel('Bild eines 2D-Codes hochladen').setInputFiles({ name: 'code.png', mimeType: 'image/png', buffer: codePng });
  await pharmacy.getByRole('list', { name: 'Erkannte Rezepte' }).waitFor();
  assert.equal(await pharmacy.getByLabel('Inhalt des 2D-Codes oder E-Rezept-Token').inputValue(), decoded);
  await screenshot(pharmacy, 'pharmacy-scan');
  await checkAccessibility(pharmacy, 'pharmacy scan');
  await pharmacy.getByRole('button', { name: `Rezept ${rx.id} annehmen` }).click();
  const card = pharmacy.locator(`section[data-task="${rx.id}"]`);
  await card.getByText('Qualifizierte Signatur geprüft').waitFor();
  await card.getByText(/Lisa Müller \(KVNR X110614233\)/).waitFor();
  await card.getByText(/Ibuprofen 400 mg Filmtabletten \(PZN 01016055\)/).waitFor();
  await screenshot(pharmacy, 'pharmacy-accepted');
  await checkAccessibility(pharmacy, 'pharmacy accepted');
  await card.getByRole('button', { name: 'Abgabeinformationen speichern' }).click();
  await card.getByText('Abgabeinformationen gespeichert').waitFor();
  await card.getByRole('button', { name: 'Abgabe abschließen' }).click();
  await card.getByText(/Abgabe abgeschlossen\. Quittung .*vom Fachdienst signiert/).waitFor();
  await screenshot(pharmacy, 'pharmacy-receipt');

  // A second scan of the same code: the Fachdienst refuses and the pharmacy sees why.
  await pharmacy.getByRole('button', { name: 'Code prüfen' }).click();
  await pharmacy.getByRole('button', { name: `Rezept ${rx.id} annehmen` }).click();
  await pharmacy.getByRole('alert').filter({ hasText: rx.id }).waitFor();

  // Back to the insured: dispense information and access protocol.
  await insuredPage.reload();
  await insuredPage.getByRole('button', { name: /Details zu Ibuprofen/ }).click();
  await insuredPage.getByTestId('dispense').getByText(/Ibuprofen 400 mg Filmtabletten.*abgegeben am/).waitFor();
  assert.equal(await insuredPage.getByTestId('datamatrix').count(), 0, 'no code for a redeemed prescription');
  await screenshot(insuredPage, 'insured-dispense');
  await insuredPage.getByRole('button', { name: 'Zugriffsprotokoll' }).click();
  const events = insuredPage.getByTestId('audit-event');
  await events.first().waitFor();
  const texts = await events.allTextContents();
  assert.ok(texts.some((x) => x.includes(GENDARMENMARKT.name) && x.includes(rx.id)), `protocol names the pharmacy: ${texts.join(' | ')}`);
  await screenshot(insuredPage, 'insured-protocol');
  await checkAccessibility(insuredPage, 'insured protocol');
  await context.close();
  await pharmacy.context().close();
});

test('representative access with AccessCode; a wrong code is refused', async (t) => {
  const p = world(t);
  if (!p) return;
  const rx = await p.prescribe({ patient: JONAS, medication: 'Paracetamol 250 mg Zäpfchen', pzn: '03024573' });
  // Sign-in goes through the IDP's card-based flow with Lisa's soft eGK (not the /dev/token shortcut).
  const signIn = await fetch(`${p.web}/api/idp/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: LISA }) });
  const session = (await signIn.json()) as { access_token: string; method: string };
  assert.equal(session.method, 'card');
  const claims = JSON.parse(Buffer.from(session.access_token.split('.')[1], 'base64url').toString());
  assert.equal(claims.idNummer, insured[0].kvnr);
  assert.equal(claims.client_id, 'erx-web');
  const page = await p.page('insured', LISA);
  await page.getByRole('button', { name: 'Vertreterzugriff' }).click();
  await page.getByLabel('Rezept-ID').fill(rx.id);
  await page.getByLabel('AccessCode').fill('0'.repeat(64));
  await page.getByRole('button', { name: 'Rezept abrufen' }).click();
  await page.getByRole('alert').waitFor();
  await page.getByLabel('AccessCode').fill(rx.accessCode);
  await page.getByRole('button', { name: 'Rezept abrufen' }).click();
  const region = page.getByRole('region', { name: 'Rezept des Vertretenen' });
  await region.getByText('Paracetamol 250 mg Zäpfchen').first().waitFor();
  await region.getByText('Jonas Müller').waitFor();
  await screenshot(page, 'insured-representative');
  await checkAccessibility(page, 'insured representative');
  // A malicious "token" never reaches the Fachdienst.
  await page.getByLabel('Oder: E-Rezept-Token bzw. Inhalt des 2D-Codes').fill(`{"urls":["https://evil.example/Task/${rx.id}/$accept?ac=${rx.accessCode}"]}`);
  await page.getByRole('button', { name: 'Rezept abrufen' }).click();
  await page.getByRole('alert').getByText(/Kein E-Rezept-Token/).waitFor();
  await page.context().close();
});

test('insured searches a pharmacy by postal code and assigns by DispReq; the pharmacy accepts it in one click', async (t) => {
  const p = world(t);
  if (!p) return;
  const rx = await p.prescribe({ patient: LISA, medication: 'Amoxicillin 1000 mg Filmtabletten', pzn: '04466215' });
  const page = await p.page('insured', LISA);
  await page.locator(`tr[data-task="${rx.id}"]`).getByRole('button').click();
  await page.getByLabel('Postleitzahl').fill('10117');
  await page.getByRole('button', { name: 'Apotheke suchen' }).click();
  const hits = page.getByRole('list', { name: 'Gefundene Apotheken' });
  await hits.getByText(FRIEDRICHSTADT.name).waitFor();
  assert.ok((await hits.getByRole('listitem').count()) >= 4, 'several pharmacies in 10117');
  await page.getByLabel('Wie möchten Sie das Medikament erhalten?').selectOption('delivery');
  await screenshot(page, 'insured-pharmacy-search');
  await checkAccessibility(page, 'insured pharmacy search');
  await page.getByRole('button', { name: `Rezept an ${FRIEDRICHSTADT.name} senden` }).click();
  await page.getByText(`Das Rezept wurde an ${FRIEDRICHSTADT.name} gesendet.`).waitFor();

  const pharmacy = await p.page('pharmacy', FRIEDRICHSTADT.id);
  await pharmacy.getByRole('button', { name: 'Zuweisungen von Versicherten' }).click();
  await pharmacy.getByText(/Lisa Müller.*Botendienst/).waitFor();
  await screenshot(pharmacy, 'pharmacy-dispreq');
  await checkAccessibility(pharmacy, 'pharmacy DispReq');
  await pharmacy.getByRole('button', { name: `Rezept ${rx.id} von Lisa Müller annehmen` }).click();
  await pharmacy.locator(`section[data-task="${rx.id}"]`).getByText('Qualifizierte Signatur geprüft').waitFor();

  // The pharmacy answers with a Communication Reply from the request list.
  await pharmacy.getByRole('button', { name: 'Zuweisungen von Versicherten' }).click();
  await pharmacy.getByRole('button', { name: 'Lisa Müller antworten' }).click();
  const answer = pharmacy.getByRole('form', { name: 'Antwort an Lisa Müller' });
  await answer.getByLabel('Versorgung').selectOption('onPremise');
  await answer.getByLabel('Abholcode (optional)').fill('123456789');
  await answer.getByLabel('Nachricht an den Versicherten').fill('Liegt ab 16 Uhr bereit.');
  await answer.getByRole('button', { name: 'Antwort senden' }).click();
  await answer.getByRole('alert').getByText(/höchstens 8 Zeichen/).waitFor();
  await answer.getByLabel('Abholcode (optional)').fill('B7');
  await answer.getByRole('button', { name: 'Antwort senden' }).click();
  await answer.getByText('Antwort gesendet.').waitFor();
  await checkAccessibility(pharmacy, 'pharmacy reply');
  await page.reload();
  await page.locator(`tr[data-task="${rx.id}"]`).getByText('In Abgabe (Apotheke)').waitFor();
  await page.locator(`tr[data-task="${rx.id}"]`).getByRole('button').click();
  await page.getByText('Liegt ab 16 Uhr bereit. · Abholcode: B7').waitFor();
  await page.getByText(new RegExp(`Zugewiesen an Apotheke ${FRIEDRICHSTADT.telematikId!.replace(/\./g, '\\.')}`)).waitFor();
  await screenshot(page, 'insured-messages');
  await page.context().close();
  await pharmacy.context().close();
});

test('flowtype 169: no 2D code and no assignment for the insured; the KIM assignment arrives in the pharmacy inbox and is accepted', async (t) => {
  const p = world(t);
  if (!p) return;
  const rx = await p.prescribe({ patient: LISA, flowType: '169', medication: 'Methotrexat 7,5 mg Tabletten', pzn: '00571748' });
  const accounts = kimAccounts({ smtpPort: p.config.ports.kim_smtp, pop3Port: p.config.ports.kim_pop3 });
  const from = accounts.find((a) => a.identityId === practice.id)!;
  const to = accounts.find((a) => a.identityId === GENDARMENMARKT.id)!;
  const mail = await buildZuweisung({ from: from.address, to: to.address, taskId: rx.id, accessCode: rx.accessCode, text: 'Bitte Methotrexat für Frau Müller bereitstellen.' });
  await sendKimMail({ port: p.config.ports.kim_smtp, user: from.smtpUser, password: from.password }, { from: from.address, to: to.address, raw: mail.raw });

  const page = await p.page('insured', LISA);
  await page.locator(`tr[data-task="${rx.id}"]`).getByRole('button').click();
  await page.getByText(/direkt einer Apotheke zugewiesen/).first().waitFor();
  assert.equal(await page.getByTestId('datamatrix').count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Apotheke suchen' }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Rezept löschen' }).count(), 0, 'no delete before it is redeemed');
  await screenshot(page, 'insured-169');

  const pharmacy = await p.page('pharmacy', GENDARMENMARKT.id);
  await pharmacy.getByRole('button', { name: 'KIM-Posteingang' }).click();
  await pharmacy.getByText('Bitte Methotrexat für Frau Müller bereitstellen.').waitFor();
  await screenshot(pharmacy, 'pharmacy-kim-inbox');
  await checkAccessibility(pharmacy, 'pharmacy KIM inbox');
  await pharmacy.getByRole('button', { name: `Zugewiesenes Rezept ${rx.id} annehmen` }).click();
  const card = pharmacy.locator(`section[data-task="${rx.id}"]`);
  await card.getByText(/Methotrexat 7,5 mg Tabletten/).first().waitFor();
  await card.getByRole('button', { name: 'Rezept zurückgeben' }).click();
  await card.getByText('Das Rezept wurde zurückgegeben').waitFor();
  await page.context().close();
  await pharmacy.context().close();
});

test('insured deletes a redeemable prescription after confirming', async (t) => {
  const p = world(t);
  if (!p) return;
  const rx = await p.prescribe({ patient: LISA, medication: 'Cetirizin 10 mg Filmtabletten', pzn: '02133389' });
  const page = await p.page('insured', LISA);
  await page.locator(`tr[data-task="${rx.id}"]`).getByRole('button').click();
  await page.getByRole('button', { name: 'Rezept löschen' }).click();
  await page.getByRole('button', { name: 'Ja, endgültig löschen' }).click();
  await page.getByText('Das Rezept wurde gelöscht.').waitFor();
  await page.getByRole('button', { name: 'Zurück zur Übersicht' }).click();
  await page.getByRole('heading', { name: 'Meine E-Rezepte' }).waitFor();
  await page.locator('tbody tr').first().waitFor();
  assert.equal(await page.locator(`tr[data-task="${rx.id}"]`).count(), 0);
  await page.context().close();
});

test('PKV insured gives the billing consent, sees and deletes the pharmacy\'s billing information, revokes the consent', async (t) => {
  const p = world(t);
  if (!p) return;
  const weber = insured.find((i) => i.coverage?.type === 'PKV')!;
  const rx = await p.prescribe({ patient: weber.id, flowType: '200', medication: 'Pantoprazol 20 mg magensaftresistente Tabletten', pzn: '01019740' });
  const page = await p.page('insured', weber.id);
  await page.getByRole('button', { name: 'Abrechnungsinformationen' }).click();
  await page.getByRole('button', { name: 'Einwilligung erteilen' }).click();
  await page.getByText(/Einwilligung erteilt am/).waitFor();

  // The pharmacy dispenses and stores its billing data (signed with its SMC-B), as its software would.
  const { secret } = readAcceptBundle(await p.fhir('POST', `/Task/${rx.id}/$accept?ac=${rx.accessCode}`, GENDARMENMARKT.id));
  const day = new Date().toLocaleDateString('sv-SE', { timeZone: 'Europe/Berlin' });
  await p.fhir('POST', `/Task/${rx.id}/$close?secret=${secret}`, GENDARMENMARKT.id,
    dispenseParameters({ taskId: rx.id, kvnr: weber.kvnr!, telematikId: GENDARMENMARKT.telematikId!, whenHandedOver: day, medicationText: 'Pantoprazol 20 mg', pzn: '01019740' }));
  const abgabedaten = toXml({ resourceType: 'Bundle', id: crypto.randomUUID(), type: 'document', identifier: { system: 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_PrescriptionId', value: rx.id }, timestamp: new Date().toISOString() });
  const data = signCades(Buffer.from(abgabedaten, 'utf8'), p.pki.cards[GENDARMENMARKT.id].osig!, { signingTime: new Date() }).toString('base64');
  await p.fhir('POST', `/ChargeItem?task=${rx.id}&secret=${secret}`, GENDARMENMARKT.id, {
    resourceType: 'ChargeItem', status: 'billable',
    contained: [{ resourceType: 'Binary', id: 'abgabedaten', contentType: 'application/pkcs7-mime', data }],
    code: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'not-applicable' }] },
    subject: { identifier: { system: 'http://fhir.de/sid/pkv/kvid-10', value: weber.kvnr } },
    supportingInformation: [{ reference: '#abgabedaten', display: 'Binary' }],
  });

  await page.getByRole('button', { name: 'Meine Rezepte' }).click();
  await page.getByRole('button', { name: 'Abrechnungsinformationen' }).click();
  const list = page.getByRole('list', { name: 'Abrechnungsinformationen' });
  await list.getByText(new RegExp(`Rezept ${rx.id.replace(/\./g, '\\.')}, abgegeben am`)).waitFor();
  await screenshot(page, 'insured-billing');
  await checkAccessibility(page, 'insured billing');
  await list.getByRole('button', { name: `Abrechnungsinformation zu Rezept ${rx.id} löschen` }).click();
  await page.getByText('Keine Abrechnungsinformationen gespeichert.').waitFor();
  await page.getByRole('button', { name: 'Einwilligung widerrufen' }).click();
  await page.getByRole('group', { name: 'Widerruf bestätigen' }).getByRole('button', { name: 'Ja, widerrufen und löschen' }).click();
  await page.getByRole('button', { name: 'Einwilligung erteilen' }).waitFor();
  const consents = await p.fhir('GET', '/Consent', weber.id);
  assert.equal(consents.total ?? consents.entry?.length ?? 0, 0);
  await page.context().close();
});

test('pharmacy: "eGK stecken" lists the insured\'s redeemable prescriptions through the Konnektor; one is accepted', async (t) => {
  const p = world(t);
  if (!p) return;
  const rx = await p.prescribe({ patient: JONAS, medication: 'Sumatriptan-1a Pharma 100 mg Tabletten' });
  const other = await p.prescribe({ patient: LISA, medication: 'Ibuprofen 400 mg Filmtabletten', pzn: '01016055' });
  const pharmacy = await p.page('pharmacy', FRIEDRICHSTADT.id);
  await pharmacy.getByLabel('Karte im Terminal am HV-Tisch').selectOption({ label: 'Jonas Müller' });
  await pharmacy.getByRole('button', { name: 'eGK stecken' }).click();
  const list = pharmacy.getByRole('list', { name: 'E-Rezepte der eGK' });
  await list.getByText(`Rezept ${rx.id}`).waitFor();
  assert.equal(await list.getByText(`Rezept ${other.id}`).count(), 0, 'only the card holder\'s prescriptions');
  await screenshot(pharmacy, 'pharmacy-egk');
  await checkAccessibility(pharmacy, 'pharmacy eGK');
  await pharmacy.getByRole('button', { name: `Rezept ${rx.id} annehmen` }).click();
  await pharmacy.locator(`section[data-task="${rx.id}"]`).getByText('Qualifizierte Signatur geprüft').waitFor();
  await pharmacy.context().close();
});
