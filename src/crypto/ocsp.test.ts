import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import {
  buildOcspRequest, checkOcsp, createHttpOcspChecker, createOcspChecker, createOcspResponder, ocspRoutes,
  OcspUnavailableError, parseOcspResponse, queryOcsp, RevocationRegistry, revokeCertificate,
} from './ocsp.ts';
import { createTestPki, loadOrCreatePki, parseCertificate, toPem } from './pki.ts';
import { TrustStore } from './trust.ts';
import { children, readTlv } from './der.ts';
import { physician } from '../seed/identities.ts';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

const dir = await mkdtemp(join(tmpdir(), 'erx-ocsp-'));
const pki = await loadOrCreatePki(dir);
const trust = TrustStore.fromCertificates(pki.trustList());
const registry = new RevocationRegistry(dir, 0);
const responderOptions = { signer: pki.ocsp, issuers: pki.trustList(), registry };
const hba = pki.cards[physician.id].qes!;
const pharmacy = Object.values(pki.cards).find((c) => c.type === 'SMC-B' && c.id.startsWith('pharmacy-'))!;

async function app() {
  const a = Fastify();
  await a.register(ocspRoutes, { prefix: '/ocsp', ...responderOptions });
  return a;
}

test.after(() => rm(dir, { recursive: true, force: true }));

test('responder over HTTP (POST and GET): good, then revoked after revokeCertificate(dir, cardId)', async () => {
  const a = await app();
  const card = pki.cards['insured-schmidt'].aut;
  const post = (payload: Buffer) => a.inject({ method: 'POST', url: '/ocsp', headers: { 'content-type': 'application/ocsp-request' }, payload })
    .then((r) => {
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-type'], 'application/ocsp-response');
      return r.rawPayload;
    });
  assert.equal(await checkOcsp(card.cert, card.chain[0], post, { trust }), 'good');

  const revoked = await revokeCertificate(dir, 'insured-schmidt', 'keyCompromise', new Date('2026-02-01T10:00:00Z'));
  assert.deepEqual(revoked, [parseCertificate(card.cert).serial]);
  const result = await queryOcsp(card.cert, card.chain[0], post, { trust });
  assert.deepEqual(result, { status: 'revoked', revokedAt: new Date('2026-02-01T10:00:00Z'), reason: 'keyCompromise' });

  // GET form (RFC 6960 A.1): base64 of the DER request, URL-encoded.
  const get = (req: Buffer) => a.inject({ method: 'GET', url: `/ocsp/${encodeURIComponent(req.toString('base64'))}` }).then((r) => r.rawPayload);
  assert.equal(await checkOcsp(card.cert, card.chain[0], get, { trust }), 'revoked');
  assert.equal(await checkOcsp(pharmacy.aut.cert, pharmacy.aut.chain[0], get, { trust }), 'good');
  await a.close();
});

test('revokeCertificate: by card (all its certificates), by entry id, by serial with colons; unknown id is an error', async () => {
  const hbaSerials = await revokeCertificate(dir, physician.id);
  assert.equal(hbaSerials.length, 3, 'QES, AUT and ENC');
  assert.ok(hbaSerials.includes(parseCertificate(hba.cert).serial));
  const osig = await revokeCertificate(dir, `${pharmacy.id}/osig`);
  assert.deepEqual(osig, [parseCertificate(pharmacy.osig!.cert).serial]);
  assert.deepEqual(await revokeCertificate(dir, '00:AB:cd:01'), ['abcd01']);
  assert.equal(registry.lookup('ABCD01')?.reason, 'keyCompromise');
  await assert.rejects(revokeCertificate(dir, 'no-such-card'), /no card, certificate or serial/);
  const stored = JSON.parse(await readFile(join(dir, 'revoked.json'), 'utf8')) as Record<string, { time: string; reason: string }>;
  assert.ok(stored[parseCertificate(hba.cert).serial].time);
  assert.equal(registry.lookup(parseCertificate(pharmacy.aut.cert).serial), undefined, 'the AUT of that card stays good');
});

test('in-process checker reads the registry; HTTP checker caches answers', async () => {
  const local = createOcspChecker(new RevocationRegistry(dir, 0));
  const card = pki.cards['insured-yilmaz'].aut;
  const c = parseCertificate(card.cert);
  const issuer = parseCertificate(card.chain[0]);
  assert.equal((await local.check(c, issuer)).status, 'good');
  await revokeCertificate(dir, 'insured-yilmaz', 'cessationOfOperation');
  assert.equal((await local.check(c, issuer)).status, 'revoked');
  assert.equal((await local.check(c, issuer)).reason, 'cessationOfOperation');

  const respond = createOcspResponder(responderOptions);
  let calls = 0;
  const http = createHttpOcspChecker((req) => {
    calls++;
    return respond(req);
  }, { trust, cacheTtlMs: 60_000 });
  const other = pki.cards['insured-weber'].aut;
  assert.equal((await http.check(parseCertificate(other.cert), parseCertificate(other.chain[0]))).status, 'good');
  assert.equal((await http.check(parseCertificate(other.cert), parseCertificate(other.chain[0]))).status, 'good');
  assert.equal(calls, 1);
});

test('certificates of a foreign CA are unknown to the responder', async () => {
  const foreign = createTestPki().issue({ kind: 'hba-qes', name: 'Foreign' });
  const respond = createOcspResponder(responderOptions);
  assert.equal(await checkOcsp(foreign.cert, foreign.chain[0], respond, { trust }), 'unknown');
});

test('bad responses and transports -> OcspUnavailableError (the Fachdienst answers 512)', async () => {
  const respond = createOcspResponder(responderOptions);
  const card = pki.cards['insured-mueller'].aut;
  const expectUnavailable = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OcspUnavailableError, String(err));
    assert.match((err as Error).message, re);
    return true;
  });
  await expectUnavailable(checkOcsp(card.cert, card.chain[0], 'http://127.0.0.1:9/ocsp', { trust, timeoutMs: 500 }), /unreachable/);
  await expectUnavailable(checkOcsp(card.cert, card.chain[0], () => Buffer.from('garbage'), { trust }), /malformed/);
  // A responder nobody trusts (signed by another PKI's OCSP certificate).
  const rogue = createTestPki();
  const rogueRespond = createOcspResponder({ signer: rogue.issue({ kind: 'ocsp', name: 'Rogue' }), issuers: pki.trustList(), registry });
  await expectUnavailable(checkOcsp(card.cert, card.chain[0], rogueRespond, { trust }), /not authorised/);
  // Replay of an old answer: the nonce does not match.
  const old = respond(buildOcspRequest(card.cert, card.chain[0], Buffer.alloc(16, 7)));
  await expectUnavailable(checkOcsp(card.cert, card.chain[0], () => old, { trust }), /nonce/);
  // Malformed request -> responder answers malformedRequest, which the client reports.
  const malformed = respond(Buffer.from([1, 2, 3]));
  assert.ok(malformed.equals(Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01])));
  assert.throws(() => parseOcspResponse(malformed, card.cert, card.chain[0]), /status 1/);
  // Tampered signature: flip the last byte of the BasicOCSPResponse's BIT STRING.
  const good = respond(buildOcspRequest(card.cert, card.chain[0]));
  const basicAt = good.indexOf(Buffer.from('06092b0601050507300101', 'hex')) + 11;
  const basic = children(readTlv(good, readTlv(good, basicAt).valueStart));
  const tampered = Buffer.from(good);
  tampered[basic[2].end - 1] ^= 0x01;
  assert.throws(() => parseOcspResponse(tampered, card.cert, card.chain[0], { trust }), /signature is invalid/);
});

test('openssl ocsp accepts our responses and our responder answers OpenSSL requests', { skip: !hasOpenssl && 'openssl missing' }, async () => {
  const respond = createOcspResponder(responderOptions);
  const card = pki.cards['insured-mueller-kind'].aut;
  const t = await mkdtemp(join(tmpdir(), 'erx-ocsp-ossl-'));
  try {
    await writeFile(join(t, 'cert.pem'), toPem(card.cert));
    await writeFile(join(t, 'issuer.pem'), toPem(card.chain[0]));
    await writeFile(join(t, 'ca.pem'), pki.trustList().map((c) => toPem(c)).join(''));
    await writeFile(join(t, 'ocsp.pem'), toPem(pki.ocsp.cert));
    const req = spawnSync('openssl', ['ocsp', '-issuer', join(t, 'issuer.pem'), '-cert', join(t, 'cert.pem'), '-reqout', join(t, 'req.der')], { encoding: 'utf8' });
    assert.equal(req.status, 0, req.stderr);
    await writeFile(join(t, 'resp.der'), respond(await readFile(join(t, 'req.der'))));
    const check = spawnSync('openssl', [
      'ocsp', '-respin', join(t, 'resp.der'), '-issuer', join(t, 'issuer.pem'), '-cert', join(t, 'cert.pem'),
      '-CAfile', join(t, 'ca.pem'), '-VAfile', join(t, 'ocsp.pem'), '-no_nonce',
    ], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stderr, /Response verify OK/);
    assert.match(check.stdout, /: good/);
  } finally {
    await rm(t, { recursive: true, force: true });
  }
});
