// The Fachdienst as `erx` runs it: on the shared PGlite and PKI, accepting tokens from the running IDP over HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { startServices } from '../cli/erx.ts';
import { idpService } from '../idp/service.ts';
import { fachdienstService } from './service.ts';

test('erx serve fachdienst: /health without token, /metadata with an IDP dev token, 401 without', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'erx-fd-'));
  const config = loadConfig({ ERX_DATA_DIR: dir, ERX_FACHDIENST_PORT: '0', ERX_IDP_PORT: '0', ERX_LOG_LEVEL: 'silent', ERX_DEV: '1' });
  const quiet = { info() {}, warn() {}, error() {} };
  const { running, stop } = await startServices(config, [idpService, fachdienstService], quiet);
  try {
    const [idpUrl] = running.find((s) => s.name === 'idp')!.urls;
    const [fdUrl] = running.find((s) => s.name === 'fachdienst')!.urls;
    assert.equal((await fetch(`${fdUrl}/health`)).status, 200);
    assert.equal((await fetch(`${fdUrl}/metadata`)).status, 401);
    const tokenRes = await fetch(`${idpUrl}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'insured-mueller' }) });
    assert.equal(tokenRes.status, 200);
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const meta = await fetch(`${fdUrl}/metadata`, { headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(meta.status, 200, await meta.clone().text());
    assert.match(meta.headers.get('content-type') ?? '', /application\/fhir\+json/, 'JSON is the default for the insured');
    const list = await fetch(`${fdUrl}/Task`, { headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(list.status, 200);
    assert.equal(((await list.json()) as { type: string }).type, 'searchset');
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
