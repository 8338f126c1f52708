// /api/practice: the signing UI API of the signed-in physician's (or practice's) tenant, chosen from the verified
// token, never from the browser; other roles refused; only the UI resources reachable (not the RED API); PDF bytes
// passed through unchanged. The upstream is a recording fetch; the browser journey is test/web-practice.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TrustStore } from '../crypto/trust.ts';
import type { AccessTokenClaims } from '../idp/tokens.ts';
import { identities, pharmacies, physician, practice, TENANT } from '../seed/identities.ts';
import { buildWebApp, practiceTenantOf } from './app.ts';

const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from([0xe2, 0xe3, 0xcf, 0xd3, 0x00, 0xff, 0x80])]);

function setup(practiceUrl: string | null = 'http://practice.invalid') {
  const dist = mkdtempSync(join(tmpdir(), 'erx-web-'));
  const upstream: { method: string; url: string; headers: Record<string, string>; body?: string }[] = [];
  // The bearer token names the identity; the verifier accepts "good-<identity id>" only.
  const tokenVerifier = {
    async verify(token: string) {
      const who = identities.find((i) => token === `good-${i.id}`);
      if (!who) throw new Error('invalid');
      return { professionOID: who.professionOID, idNummer: who.telematikId ?? who.kvnr } as AccessTokenClaims;
    },
  };
  const app = buildWebApp({
    distDir: dist,
    urls: () => ({ fachdienst: 'http://fd.invalid', vzd: 'http://vzd.invalid', idp: 'http://idp.invalid', practice: practiceUrl ?? undefined }),
    pop3: () => ({ host: '127.0.0.1', port: 1 }),
    tokenVerifier,
    trust: undefined as unknown as TrustStore,
    fetch: (async (url: string, init?: RequestInit) => {
      const body = init?.body ? Buffer.from(init.body as Uint8Array).toString('utf8') : undefined;
      upstream.push({ method: init?.method ?? 'GET', url, headers: (init?.headers ?? {}) as Record<string, string>, body });
      if (url.endsWith('/dev/identities')) return Response.json(identities.map((i) => ({ id: i.id, role: i.role, name: i.name })));
      if (url.endsWith('/printout.pdf')) return new Response(PDF, { status: 200, headers: { 'content-type': 'application/pdf' } });
      return new Response('{"batchId":"b1","total":2}', { status: 202, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch,
  });
  return { app, upstream, close: () => { rmSync(dist, { recursive: true, force: true }); return app.close(); } };
}

const auth = (id: string) => ({ authorization: `Bearer good-${id}` });

test('practiceTenantOf: a physician through their practice, the practice itself; nobody else', () => {
  assert.equal(practiceTenantOf(physician.telematikId!), TENANT);
  assert.equal(practiceTenantOf(practice.telematikId!), TENANT);
  assert.equal(practiceTenantOf(pharmacies[0].telematikId!), undefined);
  assert.equal(practiceTenantOf('1-unknown'), undefined);
});

test('/api/practice forwards to the caller\'s tenant UI API: query, JSON body, no token upstream', async () => {
  const { app, upstream, close } = setup();
  try {
    const list = await app.inject({ url: '/api/practice/requests?status=pending', headers: auth(physician.id) });
    assert.equal(list.statusCode, 202);
    assert.equal(list.headers['cache-control'], 'no-store');
    assert.equal(upstream[0].url, `http://practice.invalid/${TENANT}/ui/requests?status=pending`);
    assert.equal(upstream[0].headers.accept, 'application/json');
    assert.equal(upstream[0].headers.authorization, undefined, 'the practice API gets no bearer token');

    const sign = await app.inject({ method: 'POST', url: '/api/practice/sign', headers: { ...auth(practice.id), 'content-type': 'application/json' }, payload: '{"ids":["a"],"pin":"123456"}' });
    assert.equal(sign.statusCode, 202);
    assert.deepEqual(sign.json(), { batchId: 'b1', total: 2 });
    assert.deepEqual({ method: upstream[1].method, url: upstream[1].url, type: upstream[1].headers['content-type'], body: upstream[1].body },
      { method: 'POST', url: `http://practice.invalid/${TENANT}/ui/sign`, type: 'application/json', body: '{"ids":["a"],"pin":"123456"}' });

    const pdf = await app.inject({ url: '/api/practice/requests/abc/printout.pdf', headers: auth(physician.id) });
    assert.equal(pdf.headers['content-type'], 'application/pdf');
    assert.deepEqual(pdf.rawPayload, PDF, 'binary body unchanged');
  } finally {
    await close();
  }
});

test('/api/practice refuses: no or bad token 401, pharmacy and insured 403, RED API and odd paths 400/404, no practice 503', async () => {
  const { app, upstream, close } = setup();
  try {
    assert.equal((await app.inject({ url: '/api/practice/requests' })).statusCode, 401);
    assert.equal((await app.inject({ url: '/api/practice/requests', headers: { authorization: 'Bearer forged' } })).statusCode, 401);
    const pharmacy = await app.inject({ url: '/api/practice/requests', headers: auth(pharmacies[0].id) });
    assert.equal(pharmacy.statusCode, 403);
    assert.match(pharmacy.json().message, /Ärzt/);
    assert.equal((await app.inject({ url: '/api/practice/requests', headers: auth('insured-mueller') })).statusCode, 403);
    for (const bad of ['/api/practice/TI?action=$processerp', '/api/practice/Task?from=1&to=2', '/api/practice/webhooks', '/api/practice/requests/..%2F..%2FTI', '/api/practice/%2e%2e/TI']) {
      const r = await app.inject({ url: bad, headers: auth(physician.id) });
      assert.ok([400, 404].includes(r.statusCode), `${bad}: ${r.statusCode}`);
    }
    assert.equal(upstream.length, 0, 'nothing reached the practice');
  } finally {
    await close();
  }
  const without = setup(null);
  try {
    assert.equal((await without.app.inject({ url: '/api/practice/requests', headers: auth(physician.id) })).statusCode, 503);
  } finally {
    await without.close();
  }
});

test('/api/idp/identities takes several roles (physician,practice for the practice sign-in)', async () => {
  const { app, close } = setup();
  try {
    const r = await app.inject({ url: '/api/idp/identities?role=physician%2Cpractice' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json().map((i: { id: string }) => i.id).sort(), [physician.id, practice.id].sort());
    assert.deepEqual((await app.inject({ url: '/api/idp/identities?role=physician' })).json().map((i: { id: string }) => i.id), [physician.id]);
  } finally {
    await close();
  }
});
