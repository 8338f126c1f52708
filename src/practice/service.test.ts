// The practice service in the platform over real sockets: IDP, Konnektor, VZD, KIM, Fachdienst and practice on
// free ports; a flowtype-169 request is signed by $processerp, listed by Task?from&to and its KIM assignment
// delivered by the outbox sender (the request reaches `done` only then).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServices } from '../cli/erx.ts';
import { loadConfig } from '../config.ts';
import { fachdienstService } from '../fachdienst/service.ts';
import { parseXml, toXml } from '../fhir/codec.ts';
import type { Bundle } from '../fhir/types.ts';
import { idpService } from '../idp/service.ts';
import { kimServiceDefinition } from '../kim/service.ts';
import { konnektorService } from '../konnektor/service.ts';
import { pharmacies } from '../seed/identities.ts';
import { vzdService } from '../vzd/service.ts';
import { formatRedMinute } from './red-dates.ts';
import { practiceService } from './service.ts';
import { requestBundle, requestId, TENANT } from './testing.ts';

const silent = { info() {}, warn() {}, error() {} };

test('practice service with the simulated TI on real ports: 169 request signed, listed, assigned by KIM', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'erx-practice-'));
  const env: Record<string, string> = { ERX_DATA_DIR: dataDir, ERX_DEV: '1', ERX_LOG_LEVEL: 'silent', ERX_RETENTION_INTERVAL: '0' };
  for (const p of ['FACHDIENST', 'PRACTICE', 'IDP', 'KONNEKTOR', 'VZD', 'VZD_LDAP', 'KIM_SMTP', 'KIM_POP3']) env[`ERX_${p}_PORT`] = '0';
  const config = loadConfig(env);
  const platform = await startServices(config, [idpService, konnektorService, vzdService, kimServiceDefinition, fachdienstService, practiceService], silent);
  try {
    const url = platform.running.find((s) => s.name === 'practice')!.urls[0];
    const base = `${url}/${TENANT}`;
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const from = formatRedMinute(new Date(Date.now() - 60_000));
    const bundle = requestBundle();
    const created = await fetch(`${base}/TI?action=$createerptask&pharmacy=${pharmacies[0].telematikId}`, {
      method: 'POST', headers: { 'content-type': 'application/fhir+xml' }, body: toXml(bundle),
    });
    assert.equal(created.status, 201, await created.text());
    const processed = await fetch(`${base}/TI?action=$processerp`);
    const body = await processed.text();
    assert.equal(processed.status, 200, body);
    assert.match(body, /Task\/169\.\d{3}\.\d{3}\.\d{3}\.\d{3}\.\d{2}\/\$accept\?ac=[0-9a-f]{64}/);

    const list = await fetch(`${base}/Task?from=${from}&to=${formatRedMinute(new Date(Date.now() + 60_000))}&page=1`);
    const searchset = parseXml(await list.text()) as Bundle;
    assert.equal(searchset.total, 1);
    assert.equal(searchset.entry![0].resource!.id, requestId(bundle));

    // The sender was woken by the activation; wait until it reports the request done.
    let status = '';
    for (let i = 0; i < 200 && status !== 'done'; i++) {
      status = ((await (await fetch(`${base}/ui/requests/${requestId(bundle)}`, { headers: { accept: 'application/json' } })).json()) as { status: string }).status;
      if (status !== 'done') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 'done', 'KIM assignment delivered');
  } finally {
    await platform.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
