// The seed workflow across the running platform, over real sockets, as the README walks through it:
// a third party prescribes (RED $createerptask) -> the physician batch-signs ($processerp) -> the third party fetches
// PrescriptionID and AccessCode (Task?from&to) -> the pharmacy gets a KIM assignment (169) and dispenses ->
// the insured sees the prescription, the dispense and the access protocol.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../src/config.ts';
import { startServices } from '../src/cli/erx.ts';
import { services } from '../src/cli/services.ts';
import type { Logger } from '../src/cli/service.ts';
import { seedDemoData } from '../src/seed/demo.ts';
import { parseXml } from '../src/fhir/codec.ts';
import type { Bundle, Task } from '../src/fhir/types.ts';
import { fetchNewMail } from '../src/kim/pop3-client.ts';
import { parseErezeptMessage } from '../src/kim/erezept-messages.ts';
import { dispenseParameters, readAcceptBundle } from '../src/pharmacy/dispense.ts';
import { defaultPharmacy, insured, TENANT } from '../src/seed/identities.ts';

const quiet: Logger = { info() {}, warn() {}, error() {} };
let config: Config;
let platform: Awaited<ReturnType<typeof startServices>>;
let dataDir: string;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'erx-seed-'));
  const ports = ['FACHDIENST', 'PRACTICE', 'IDP', 'KONNEKTOR', 'VZD', 'VZD_LDAP', 'KIM_SMTP', 'KIM_POP3', 'WEB'];
  config = loadConfig({ ERX_DATA_DIR: dataDir, ERX_LOG_LEVEL: 'silent', ERX_RATE_LIMIT: '0', ...Object.fromEntries(ports.map((p) => [`ERX_${p}_PORT`, '0'])) });
  // The browser apps have their own journeys (test/web-*.test.ts); everything else runs here.
  platform = await startServices(config, services.filter((s) => s.name !== 'web'), quiet);
});

after(async () => {
  await platform?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function token(id: string): Promise<string> {
  const res = await fetch(`${config.urls.idp}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id }) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function fd(path: string, id: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${config.urls.fachdienst}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${await token(id)}`, accept: 'application/fhir+json', ...(init.headers as Record<string, string>) },
  });
}

/** RED's `YYYYMMDDHHmm` in Berlin wall-clock time. */
function redMinute(d: Date): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
      .formatToParts(d).map((p) => [p.type, p.value]),
  );
  return `${parts.year}${parts.month}${parts.day}${parts.hour}${parts.minute}`;
}

test('prescribe -> batch-sign -> fetch -> pharmacy -> insured', async () => {
  const started = new Date(Date.now() - 60_000);
  const demo = await seedDemoData({ practiceUrl: config.urls.practice, dataDir });
  assert.deepEqual(demo, { signed: 4, pending: 2 });

  // The third party fetches PrescriptionID and AccessCode of the signed requests (RED Task?from&to, Berlin time).
  const list = await fetch(`${config.urls.practice}/${TENANT}/Task?from=${redMinute(started)}&to=${redMinute(new Date(Date.now() + 120_000))}&page=1`);
  assert.equal(list.status, 200);
  const searchset = parseXml(await list.text()) as Bundle;
  assert.equal(searchset.total, 4);
  const tasks = searchset.entry!.map((e) => e.resource as Task);
  assert.ok(tasks.every((t) => t.status === 'ready'));
  const idOf = (t: Task, suffix: string) => t.identifier!.find((i) => i.system!.endsWith(suffix))!.value!;
  assert.ok(tasks.every((t) => /^1(60|69)\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}$/.test(idOf(t, 'PrescriptionId')) && /^[0-9a-f]{64}$/.test(idOf(t, 'AccessCode'))));

  // Two requests wait in the physician's signing list.
  const pending = (await (await fetch(`${config.urls.practice}/${TENANT}/ui/requests?status=pending`)).json()) as unknown[];
  assert.equal(pending.length, 2);

  // The insured sees her own prescriptions.
  const lisa = insured.find((i) => i.id === 'insured-mueller')!;
  const own = (await (await fd('/Task', lisa.id)).json()) as Bundle;
  assert.equal(own.entry?.length, 2);
  assert.ok(own.entry!.every((e) => (e.resource as Task).for?.identifier?.value === lisa.kvnr));

  // The 169 prescription went by KIM to the named pharmacy.
  const kim = (await (await fetch(`${config.urls.idp}/dev/identities`)).json()) as { id: string; kim?: { pop3User: string; password: string } }[];
  const account = kim.find((i) => i.id === defaultPharmacy.id)!.kim!;
  let mails: { raw: Buffer }[] = [];
  for (let i = 0; i < 50 && mails.length === 0; i++) {
    mails = await fetchNewMail({ host: '127.0.0.1', port: config.ports.kim_pop3, user: account.pop3User, password: account.password });
    if (mails.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(mails.length, 1, 'one KIM assignment in the pharmacy mailbox');
  const message = await parseErezeptMessage(mails[0].raw);
  assert.equal(message.kind, 'zuweisung');
  if (message.kind !== 'zuweisung') return;
  assert.equal(message.dienstkennung, 'eRezept;Zuweisung;V1.0');

  // The pharmacy accepts with the token from the mail, dispenses and closes with a signed receipt.
  const { taskId, accessCode } = message.token;
  const accepted = await fd(`/Task/${taskId}/$accept?ac=${accessCode}`, defaultPharmacy.id, { method: 'POST' });
  assert.equal(accepted.status, 200);
  const { secret, task } = readAcceptBundle((await accepted.json()) as Bundle);
  const schmidt = insured.find((i) => i.kvnr === task.for?.identifier?.value)!;
  assert.equal(schmidt.id, 'insured-schmidt');
  const parameters = dispenseParameters({
    taskId, kvnr: schmidt.kvnr!, telematikId: defaultPharmacy.telematikId!, whenHandedOver: new Date().toISOString().slice(0, 10),
    medicationText: 'Amoxicillin-ratiopharm 500 mg Filmtabletten', pzn: '01080923',
  });
  const closed = await fd(`/Task/${taskId}/$close?secret=${secret}`, defaultPharmacy.id, {
    method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(parameters),
  });
  assert.equal(closed.status, 200);
  const receipt = (await closed.json()) as Bundle;
  assert.equal(receipt.type, 'document');
  assert.ok(receipt.signature?.data, 'the receipt is signed');

  // The insured sees the dispense and who read and changed her data.
  const dispenses = (await (await fd('/MedicationDispense', schmidt.id)).json()) as Bundle;
  assert.equal(dispenses.entry?.filter((e) => e.resource?.resourceType === 'MedicationDispense').length, 1);
  const audit = (await (await fd('/AuditEvent', schmidt.id, { headers: { 'accept-language': 'de' } })).json()) as Bundle;
  const texts = audit.entry!.map((e) => JSON.stringify(e.resource));
  assert.ok(texts.some((t) => t.includes(defaultPharmacy.name)), 'the protocol names the pharmacy');
});
