// Test world for the browser suites: the real platform (IDP, VZD, KIM, Fachdienst, web; with `practice` also the
// Konnektor and the practice module) in-process on free ports
// with a temp data dir, prescriptions issued through the Fachdienst with the seeded HBA's QES, Chromium pages
// signed in as seeded identities, accessibility checks and screenshots under test-output/screenshots/.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { prepareZXingModule, readBarcodes } from 'zxing-wasm/reader';
import { startServices } from '../src/cli/erx.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { signCades } from '../src/crypto/cades.ts';
import { loadPki, type LoadedPki } from '../src/crypto/pki.ts';
import { fachdienstService } from '../src/fachdienst/service.ts';
import { toXml } from '../src/fhir/codec.ts';
import { buildPrescriptionBundle } from '../src/fhir/kbv/build-bundle.ts';
import { berlinDay } from '../src/fhir/kbv/dates.ts';
import { idpService } from '../src/idp/service.ts';
import { kimServiceDefinition } from '../src/kim/service.ts';
import { konnektorService } from '../src/konnektor/service.ts';
import { practiceService } from '../src/practice/service.ts';
import { identityById, physician, practice } from '../src/seed/identities.ts';
import { vzdService } from '../src/vzd/service.ts';
import { webService } from '../src/web/service.ts';
import { launchBrowser } from './browser.ts';

export const SCREENSHOTS = resolve(fileURLToPath(new URL('../test-output/screenshots', import.meta.url)));
const ACCESS_CODE = 'https://gematik.de/fhir/erp/NamingSystem/GEM_ERP_NS_AccessCode';

export interface Platform {
  config: Config;
  pki: LoadedPki;
  browser: Browser;
  web: string;
  fachdienst: string;
  /** The practice module's base URL (RED API), when started with `practice`. */
  practice: string;
  token(identityId: string): Promise<string>;
  /** A FHIR JSON call to the Fachdienst as the identity (asserts 2xx, returns the parsed body). */
  fhir(method: string, path: string, identityId: string, body?: unknown, headers?: Record<string, string>): Promise<any>;
  prescribe(options: { patient: string; flowType?: string; medication: string; pzn?: string }): Promise<{ id: string; accessCode: string }>;
  page(app: 'insured' | 'pharmacy' | 'practice', identityId: string): Promise<Page>;
  stop(): Promise<void>;
}

export interface PlatformOptions {
  /** Also the simulated Konnektor and the practice module (signing UI tests). */
  practice?: boolean;
  /** The simulated Konnektor without the practice module (the pharmacy reads an eGK). */
  konnektor?: boolean;
  /** More environment for loadConfig, e.g. ERX_PIN_PROMPT. */
  env?: Record<string, string>;
}

/** Starts everything, or returns undefined when no Chromium is there (the caller skips). */
export async function startPlatform(options: PlatformOptions = {}): Promise<Platform | undefined> {
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
  } catch (err) {
    // Installed but not startable (e.g. missing libraries): skip like a missing Chromium, saying why.
    console.log(`# chromium failed to launch: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
  if (!browser) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'erx-web-'));
  const config = loadConfig({
    ERX_DATA_DIR: dir, ERX_DEV: '1', ERX_LOG_LEVEL: 'silent', ERX_RETENTION_INTERVAL: '0', ERX_RATE_LIMIT: '0',
    ERX_IDP_PORT: '0', ERX_VZD_PORT: '0', ERX_VZD_LDAP_PORT: '0', ERX_KIM_SMTP_PORT: '0', ERX_KIM_POP3_PORT: '0',
    ERX_FACHDIENST_PORT: '0', ERX_WEB_PORT: '0', ERX_KONNEKTOR_PORT: '0', ERX_PRACTICE_PORT: '0', ...options.env,
  });
  const quiet = { info() {}, warn() {}, error() {} };
  // The order of `erx start` (src/cli/services.ts): each service reads the URLs of those before it.
  const services = options.practice
    ? [idpService, konnektorService, vzdService, kimServiceDefinition, fachdienstService, practiceService, webService]
    : [idpService, ...(options.konnektor ? [konnektorService] : []), vzdService, kimServiceDefinition, fachdienstService, webService];
  const platform = await startServices(config, services, quiet);
  const pki = await loadPki(join(dir, 'pki'));
  mkdirSync(SCREENSHOTS, { recursive: true });

  const token = async (id: string) => {
    const r = await fetch(`${config.urls.idp}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
    assert.equal(r.status, 200);
    return ((await r.json()) as { access_token: string }).access_token;
  };
  const fd = async (method: string, path: string, who: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(`${config.urls.fachdienst}${path}`, {
      method,
      headers: { authorization: `Bearer ${await token(who)}`, accept: 'application/fhir+json', ...(body ? { 'content-type': 'application/fhir+json' } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };

  return {
    config, pki, browser, token,
    fhir: fd,
    web: config.urls.web,
    fachdienst: config.urls.fachdienst,
    practice: config.urls.practice,
    async prescribe({ patient: patientId, flowType = '160', medication, pzn = '06313728' }) {
      const patient = identityById(patientId)!;
      const task = await fd('POST', '/Task/$create', practice.id, {
        resourceType: 'Parameters', parameter: [{ name: 'workflowType', valueCoding: { system: 'https://gematik.de/fhir/erp/CodeSystem/GEM_ERP_CS_FlowType', code: flowType } }],
      });
      const accessCode = task.identifier.find((i: { system: string }) => i.system === ACCESS_CODE).value as string;
      const now = new Date();
      const bundle = buildPrescriptionBundle({
        flowType, prescriptionId: task.id, authoredOn: berlinDay(now),
        patient: { kvnr: patient.kvnr, given: patient.given, family: patient.family, birthDate: patient.birthDate, address: patient.address },
        coverage: { type: patient.coverage!.type, ik: patient.coverage!.ik, payer: patient.coverage!.payer },
        physician: { lanr: physician.lanr, given: physician.given, family: physician.family, telematikId: physician.telematikId },
        practice: { name: practice.name, bsnr: practice.bsnr, telematikId: practice.telematikId, address: practice.address, phone: practice.phone },
        medication: { kind: 'PZN', pzn, display: medication, normgroesse: 'N1', form: 'TAB' },
        dosage: '1-0-1', quantity: 1,
      });
      const qes = pki.cards[physician.id].qes!;
      const data = signCades(Buffer.from(toXml(bundle), 'utf8'), qes, { signingTime: now }).toString('base64');
      await fd('POST', `/Task/${task.id}/$activate`, practice.id, {
        resourceType: 'Parameters', parameter: [{ name: 'ePrescription', resource: { resourceType: 'Binary', contentType: 'application/pkcs7-mime', data } }],
      }, { 'x-accesscode': accessCode });
      return { id: task.id as string, accessCode };
    },
    async page(app, identityId) {
      const context = await browser.newContext({ locale: 'de-DE', viewport: { width: 1100, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(`${config.urls.web}/${app}/`);
      await page.getByLabel('Identität').selectOption(identityId);
      await page.getByRole('button', { name: 'Anmelden' }).click();
      await page.getByRole('button', { name: 'Abmelden' }).waitFor();
      return page;
    },
    async stop() {
      await browser.close();
      await platform.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * Basic accessibility of the current screen: lang="de", every visible form control has a label, every button
 * has a name, and every visible button is reached with the Tab key.
 */
export async function checkAccessibility(page: Page, screen: string): Promise<void> {
  assert.equal(await page.getAttribute('html', 'lang'), 'de', `${screen}: <html lang="de">`);
  // Page scripts are strings: tsx would wrap inline functions with helpers that do not exist in the page.
  const problems = (await page.evaluate(A11Y_SCAN)) as string[];
  assert.deepEqual(problems, [], `${screen}: ${problems.join(', ')}`);
  const buttons = (await page.evaluate(`Array.from(document.querySelectorAll('button[data-a11y]'))
    .filter((b) => b.offsetParent !== null && !b.disabled).map((b) => b.getAttribute('data-a11y'))`)) as string[];
  const focusables = (await page.evaluate(`document.querySelectorAll('a[href], button, input, select, textarea, [tabindex], summary').length`)) as number;
  // Start Tab navigation at the top of the page (the body, made focusable for this).
  await page.evaluate(`document.body.setAttribute('tabindex', '-1'); document.body.focus()`);
  const reached = new Set<string>();
  // Date inputs take one Tab stop per segment, hence the headroom.
  for (let i = 0; i < focusables * 2 + 4 && reached.size < buttons.length; i++) {
    await page.keyboard.press('Tab');
    const mark = (await page.evaluate(`document.activeElement && document.activeElement.getAttribute('data-a11y')`)) as string | null;
    if (mark) reached.add(mark);
  }
  const missing = buttons.filter((b) => !reached.has(b));
  assert.deepEqual(missing, [], `${screen}: buttons not reachable by Tab`);
}

const A11Y_SCAN = `(() => {
  const out = [];
  const visible = (el) => el.offsetParent !== null;
  for (const c of Array.from(document.querySelectorAll('input, select, textarea'))) {
    if (!visible(c)) continue;
    if (!(c.labels && c.labels.length > 0) && !c.getAttribute('aria-label') && !c.getAttribute('aria-labelledby')) out.push('unlabelled ' + c.tagName + ' ' + (c.name || c.id));
  }
  document.querySelectorAll('button').forEach((b, i) => {
    if (!visible(b)) return;
    if (!((b.textContent || '').trim() || b.getAttribute('aria-label'))) out.push('button without a name');
    b.setAttribute('data-a11y', String(i));
  });
  return out;
})()`;

let zxingReady = false;
/** Decodes the DataMatrix codes in a PNG (zxing-wasm with its wasm from node_modules, no CDN). */
export async function decodePng(png: Buffer): Promise<string[]> {
  if (!zxingReady) {
    const wasm = readFileSync(createRequire(import.meta.url).resolve('zxing-wasm/reader/zxing_reader.wasm'));
    prepareZXingModule({ overrides: { wasmBinary: wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength) as ArrayBuffer }, fireImmediately: true });
    zxingReady = true;
  }
  const results = await readBarcodes(new Uint8Array(png), { formats: ['DataMatrix'] });
  return results.map((r) => r.text);
}
