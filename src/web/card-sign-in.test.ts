// Web sign-in with a soft card goes through the shared IDP card client (idp/card-login.ts) against the real IDP
// app: the token carries the card's identity and the IDP saw no /dev/token call.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TrustStore } from '../crypto/trust.ts';
import { createTestIdp, TEST_ISSUER } from '../idp/testing.ts';
import { createTokenVerifier } from '../idp/verify.ts';
import { insured, pharmacies } from '../seed/identities.ts';
import { buildWebApp } from './app.ts';
import { WEB_CLIENT_ID } from './card-sign-in.ts';

test('POST /api/idp/token with a soft card: card-based flow, token of that card, no dev token', async () => {
  const idp = createTestIdp();
  const dist = mkdtempSync(join(tmpdir(), 'erx-web-'));
  const called: string[] = [];
  const app = buildWebApp({
    distDir: dist,
    urls: () => ({ fachdienst: 'http://fd.invalid', vzd: 'http://vzd.invalid', idp: TEST_ISSUER }),
    pop3: () => ({ host: '127.0.0.1', port: 1 }),
    tokenVerifier: { verify: async () => { throw new Error('not used'); } },
    trust: undefined as unknown as TrustStore,
    softCards: { [insured[0].id]: idp.pki.cards[insured[0].id], [pharmacies[0].id]: idp.pki.cards[pharmacies[0].id] },
    fetch: (async (input: string, init?: RequestInit) => {
      called.push(`${init?.method ?? 'GET'} ${new URL(input).pathname}`);
      return idp.fetch(input, init);
    }) as typeof fetch,
  });
  try {
    const verifier = createTokenVerifier({ idpUrl: TEST_ISSUER, fetch: idp.fetch });
    for (const who of [insured[0], pharmacies[0]]) {
      const res = await app.inject({ method: 'POST', url: '/api/idp/token', headers: { 'content-type': 'application/json', host: 'web.test' }, payload: { id: who.id } });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().method, 'card');
      assert.equal(res.json().expires_in, 300);
      const claims = await verifier.verify(res.json().access_token);
      assert.equal(claims.idNummer, who.kvnr ?? who.telematikId);
      assert.equal(claims.client_id, WEB_CLIENT_ID);
    }
    assert.ok(called.includes('POST /auth') && called.includes('POST /token'));
    assert.ok(!called.includes('POST /dev/token'));
  } finally {
    await app.close();
    rmSync(dist, { recursive: true, force: true });
  }
});
