// Interoperability: OpenSSL verifies our CMS, we verify OpenSSL's CAdES, and the real gematik QES sample parses
// and passes the signature math (its test-PKI chain is not ours and long expired).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CadesError, signCades, verifyCades } from './cades.ts';
import { children, readRoot } from './der.ts';
import { createTestPki, parseCertificate, toPem } from './pki.ts';
import { TrustStore } from './trust.ts';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const skip = hasOpenssl ? false : 'openssl missing';
const content = Buffer.from('<Bundle xmlns="http://hl7.org/fhir">\r\n  <id value="interop"/>\u00e4\u00f6\u00fc\n</Bundle>');

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'erx-cades-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

for (const curve of ['brainpoolP256r1', 'P-256'] as const) {
  test(`openssl cms -verify accepts our CAdES (${curve})`, { skip }, () => withDir(async (dir) => {
    const pki = createTestPki({ curve });
    const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. Interop', telematikId: '1-1' });
    await writeFile(join(dir, 'sig.der'), signCades(content, hba));
    await writeFile(join(dir, 'ca.pem'), pki.trustList().map((c) => toPem(c)).join(''));
    const r = openssl(['cms', '-verify', '-inform', 'DER', '-in', join(dir, 'sig.der'), '-CAfile', join(dir, 'ca.pem'), '-binary', '-purpose', 'any', '-out', join(dir, 'out')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Verification successful/);
    assert.ok((await readFile(join(dir, 'out'))).equals(content));

    // Root only as CAfile: the sub-CA comes from the CMS certificates.
    await writeFile(join(dir, 'root.pem'), toPem(pki.root.cert));
    const r2 = openssl(['cms', '-verify', '-inform', 'DER', '-in', join(dir, 'sig.der'), '-CAfile', join(dir, 'root.pem'), '-binary', '-purpose', 'any', '-out', join(dir, 'out2')]);
    assert.equal(r2.status, 0, r2.stderr);

    // With the Konnektor's extra signed attributes (mimeType, contentHint, cmsAlgorithmProtection).
    await writeFile(join(dir, 'konnektor.der'), signCades(content, hba, { mimeType: 'text/plain; charset=utf-8', contentHint: 'E-Rezept', algorithmProtection: true }));
    const r3 = openssl(['cms', '-verify', '-inform', 'DER', '-in', join(dir, 'konnektor.der'), '-CAfile', join(dir, 'ca.pem'), '-binary', '-purpose', 'any', '-out', join(dir, 'out3')]);
    assert.equal(r3.status, 0, r3.stderr);
    assert.ok((await readFile(join(dir, 'out3'))).equals(content));
    const printed = spawnSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', join(dir, 'konnektor.der')], { encoding: 'utf8' }).stdout;
    assert.match(printed, /id-smime-aa-contentHint/);
    assert.match(printed, /0\.4\.0\.1733\.2\.1/);
    assert.match(printed, /1\.2\.840\.113549\.1\.9\.52|CMS Algorithm Protection/i);
  }));
}

test('verifyCades accepts `openssl cms -sign -cades` with a brainpool key of our PKI, and rejects a detached one', { skip }, () => withDir(async (dir) => {
  const pki = createTestPki();
  const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. OpenSSL', telematikId: '1-2' });
  await writeFile(join(dir, 'hba.pem'), toPem(hba.cert));
  await writeFile(join(dir, 'hba.key'), hba.key.export({ type: 'pkcs8', format: 'pem' }) as string);
  await writeFile(join(dir, 'chain.pem'), hba.chain.map((c) => toPem(c)).join(''));
  await writeFile(join(dir, 'content'), content);
  const sign = (out: string, extra: string[]) => openssl([
    'cms', '-sign', '-cades', '-binary', '-md', 'sha256', '-signer', join(dir, 'hba.pem'), '-inkey', join(dir, 'hba.key'),
    '-certfile', join(dir, 'chain.pem'), '-outform', 'DER', '-in', join(dir, 'content'), '-out', join(dir, out), ...extra,
  ]);
  const r = sign('sig.der', ['-nodetach']);
  assert.equal(r.status, 0, r.stderr);
  const result = await verifyCades(await readFile(join(dir, 'sig.der')), { trustAnchors: pki.trustAnchors(), requireProfessionOIDs: ['1.2.276.0.76.4.30'] });
  assert.ok(result.content.equals(content));
  assert.equal(result.identity.telematikId, '1-2');
  assert.ok(result.signingTime && Math.abs(result.signingTime.getTime() - Date.now()) < 120_000);

  assert.equal(sign('detached.der', []).status, 0);
  await assert.rejects(verifyCades(await readFile(join(dir, 'detached.der')), { trustAnchors: pki.trustAnchors() }), (err: unknown) => {
    assert.ok(err instanceof CadesError);
    assert.equal(err.rule, 'malformed');
    assert.match(err.message, /detached/);
    return true;
  });
}));

test('gematik QES sample (RSA-PSS, Konnektor-made): content and signature math pass, chain is untrusted here', async () => {
  const b64 = await readFile('/work/shared/fixtures/erp-examples/signatures/qes_4fe2013d_secunet.p7s.b64', 'utf8');
  const der = Buffer.from(b64.trim(), 'base64');
  const ours = createTestPki();
  await assert.rejects(verifyCades(der, { trustAnchors: ours.trustAnchors() }), (err: unknown) => {
    assert.ok(err instanceof CadesError);
    assert.equal(err.rule, 'untrusted-chain');
    return true;
  });

  // Trusting the HBA certificate itself isolates structure, digest and signature math from the foreign chain.
  const sd = children(children(children(readRoot(der))[1])[0]);
  const signerCert = parseCertificate(Buffer.from(der.subarray(children(sd[3])[0].start, children(sd[3])[0].end)));
  const result = await verifyCades(der, { trust: new TrustStore([signerCert]) });
  assert.match(result.content.toString('utf8'), /^<Bundle xmlns="http:\/\/hl7.org\/fhir">/);
  assert.deepEqual(result.signingTime, new Date('2021-04-14T17:14:02Z'));
  assert.ok(result.identity.professionOIDs.includes('1.2.276.0.76.4.30'));
  assert.equal(result.identity.telematikId, undefined, 'this 2018 test card has no registrationNumber');
  assert.equal(result.identity.givenName, 'Sam Freiherr');
  // Checked today the HBA certificate (valid 2018-2023) has expired.
  await assert.rejects(verifyCades(der, { trust: new TrustStore([signerCert]), at: new Date() }), { rule: 'expired' });
});
