import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { startServices } from '../cli/erx.ts';
import { createTokenVerifier } from './verify.ts';
import { idpService } from './service.ts';

const silent = { info() {}, warn() {}, error() {} };

test('idp service on a real port: health, dev token verified through discovery over HTTP', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'erx-idp-'));
  const platform = await startServices(loadConfig({ ERX_DATA_DIR: dataDir, ERX_IDP_PORT: '0', ERX_DEV: '1' }), [idpService], silent);
  try {
    const [url] = platform.running[0].urls;
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const res = await fetch(`${url}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: 'pharmacy-gendarmenmarkt' }) });
    assert.equal(res.status, 200);
    const { access_token } = (await res.json()) as { access_token: string };
    // The service's issuer is config.urls.idp (http://localhost:0 with port 0), so the verifier takes it from discovery.
    const claims = await createTokenVerifier({ idpUrl: url }).verify(access_token);
    assert.equal(claims.professionOID, '1.2.276.0.76.4.54');
    assert.equal((await fetch(`${url}/dev/identities`)).status, 200);
  } finally {
    await platform.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
