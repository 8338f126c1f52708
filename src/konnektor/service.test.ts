import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { verifyCades } from '../crypto/cades.ts';
import { loadTrustList } from '../crypto/pki.ts';
import { startServices } from '../cli/erx.ts';
import { physician } from '../seed/identities.ts';
import { createKonnektorClient, KonnektorClientError, newUserId } from './client.ts';
import { konnektorService } from './service.ts';

const silent = { info() {}, warn() {}, error() {} };

test('konnektor service on a real port: client lists cards, signs a batch, comfort mode, OCSP, JSON errors', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'erx-konnektor-'));
  const config = loadConfig({ ERX_DATA_DIR: dataDir, ERX_KONNEKTOR_PORT: '0', ERX_DEV: '1' });
  const platform = await startServices(config, [konnektorService], silent);
  try {
    const [url] = platform.running[0].urls;
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const client = createKonnektorClient(url, { context: { MandantId: 'demopraxis_1000', ClientSystemId: 'PVS', WorkplaceId: 'Arbeitsplatz1' } });
    const [hba] = await client.getCards({ telematikId: physician.telematikId, cardType: 'HBA' });
    assert.equal(hba.CardHolderName, physician.name);
    assert.match(hba.Iccsn, /^80276/);
    assert.match(hba.CertificateExpirationDate, /^\d{4}-\d{2}-\d{2}$/);
    const terminals = await client.getCardTerminals();
    assert.ok(terminals.some((t) => t.CtId === hba.CtId));
    assert.equal((await client.getCards()).length, 30, '1 HBA + practice + 22 pharmacies + payer SMC-B + 5 eGK');

    const { mode, signed } = await client.signDocuments(hba.CardHandle, [{ content: '<Bundle/>', shortText: 'E-Rezept' }, { content: '<Bundle id="2"/>' }]);
    assert.equal(mode, 'PIN');
    assert.equal(signed.length, 2);
    const verified = await verifyCades(signed[1].cms, { trustAnchors: (await loadTrustList(join(dataDir, 'pki'))).slice(0, 1) });
    assert.equal(verified.content.toString(), '<Bundle id="2"/>');

    const userId = newUserId();
    await client.activateComfortSignature(hba.CardHandle, userId);
    assert.equal((await client.signDocuments(hba.CardHandle, [{ content: 'x' }], { userId })).mode, 'COMFORT');
    assert.equal((await client.getSignatureMode(hba.CardHandle, userId)).SessionInfo?.CountRemaining, 249);
    assert.equal(await client.deactivateComfortSignature(hba.CardHandle, userId), 1);

    await assert.rejects(client.verifyPin(hba.CardHandle, 'PIN.CH', '000000'), (e: KonnektorClientError) =>
      e.status === 403 && e.error === 'PIN_REJECTED' && e.details.leftTries === 2);
    await client.verifyPin(hba.CardHandle, 'PIN.CH');

    const notFound = await fetch(`${url}/SignatureService/Nope`, { method: 'POST' });
    assert.equal(notFound.status, 404);
    assert.equal((await notFound.json()).error, 'NOT_FOUND');
    const ocsp = await fetch(`${url}/ocsp`, { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body: Buffer.from('3000', 'hex') });
    assert.equal(ocsp.headers.get('content-type'), 'application/ocsp-response');
  } finally {
    await platform.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
