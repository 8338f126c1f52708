// The web app's own behaviour without the platform behind it: pages, caching, security headers, and the
// forwarding rules that refuse anything but the public resources (the journeys run in test/web-*.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrustStore } from '../crypto/trust.ts';
import { buildWebApp } from './app.ts';

function setup() {
  const dist = mkdtempSync(join(tmpdir(), 'erx-web-'));
  for (const app of ['insured', 'pharmacy', 'practice']) {
    mkdirSync(join(dist, app));
    writeFileSync(join(dist, app, 'index.html'), `<!doctype html><html lang="de"><title>${app}</title></html>`);
  }
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'assets', 'x-123.js'), 'console.log(1)');
  const upstream: string[] = [];
  const app = buildWebApp({
    distDir: dist,
    urls: () => ({ fachdienst: 'http://fd.invalid', vzd: 'http://vzd.invalid', idp: 'http://idp.invalid' }),
    pop3: () => ({ host: '127.0.0.1', port: 1 }),
    tokenVerifier: { verify: async () => { throw new Error('invalid'); } },
    trust: undefined as unknown as TrustStore, // not reached: the token is refused first
    // The outside world: records what would have been sent.
    fetch: (async (url: string, init?: RequestInit) => {
      upstream.push(`${init?.method ?? 'GET'} ${url} ${JSON.stringify(init?.headers ?? {})}`);
      return new Response('{"resourceType":"Bundle","type":"searchset"}', { status: 200, headers: { 'content-type': 'application/fhir+json' } });
    }) as typeof fetch,
  });
  return { app, upstream, close: () => { rmSync(dist, { recursive: true, force: true }); return app.close(); } };
}

test('pages, assets with immutable caching, security headers, 404', async () => {
  const { app, close } = setup();
  try {
    const page = await app.inject('/insured/');
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-type'] as string, /text\/html/);
    assert.match(page.body, /lang="de"/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    assert.match(page.headers['content-security-policy'] as string, /default-src 'self'/);
    assert.equal((await app.inject('/pharmacy/some/view')).statusCode, 200);
    const asset = await app.inject('/assets/x-123.js');
    assert.match(asset.headers['cache-control'] as string, /immutable/);
    assert.match(asset.headers['content-type'] as string, /javascript/);
    const again = await app.inject({ url: '/assets/x-123.js', headers: { 'if-none-match': asset.headers.etag as string } });
    assert.equal(again.statusCode, 304);
    assert.equal((await app.inject('/assets/../../etc/passwd')).statusCode, 404);
    assert.equal((await app.inject('/')).headers.location, '/insured/');
  } finally {
    await close();
  }
});

test('forwarding: bearer required, only public FHIR resources, JSON forced, X-AccessCode passed', async () => {
  const { app, upstream, close } = setup();
  try {
    assert.equal((await app.inject('/api/fachdienst/Task')).statusCode, 401);
    const ok = await app.inject({ url: '/api/fachdienst/Task/160.000.000.000.001.04?x=1', headers: { authorization: 'Bearer abc', 'x-accesscode': 'a'.repeat(64) } });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['cache-control'], 'no-store');
    assert.match(upstream[0], /^GET http:\/\/fd\.invalid\/Task\/160\.000\.000\.000\.001\.04\?x=1 /);
    assert.match(upstream[0], /"accept":"application\/fhir\+json"/);
    assert.match(upstream[0], /"x-accesscode":"a{64}"/);
    for (const bad of ['/api/fachdienst/admin', '/api/fachdienst/Task/..%2F..%2Fdev%2Ftoken', '/api/fachdienst/%2e%2e/dev/token', '/api/vzd/Task']) {
      const r = await app.inject({ url: bad, headers: { authorization: 'Bearer abc' } });
      assert.ok([400, 404].includes(r.statusCode), `${bad}: ${r.statusCode}`);
    }
    assert.equal(upstream.length, 1, 'nothing else reached an upstream');
    assert.equal((await app.inject({ url: '/api/vzd/Organization?name=Linden' })).statusCode, 200);
    assert.match(upstream[1], /vzd\.invalid\/Organization\?name=Linden/);
  } finally {
    await close();
  }
});

test('pharmacy endpoints refuse an invalid token; token endpoint validates the id', async () => {
  const { app, close } = setup();
  try {
    assert.equal((await app.inject({ url: '/api/kim/inbox', headers: { authorization: 'Bearer nope' } })).statusCode, 401);
    assert.equal((await app.inject({ url: '/api/kim/inbox' })).statusCode, 401);
    const r = await app.inject({ method: 'POST', url: '/api/idp/token', headers: { 'content-type': 'application/json' }, payload: '{"id":"../x"}' });
    assert.equal(r.statusCode, 400);
    assert.match(r.json().message, /Identität/);
  } finally {
    await close();
  }
});
