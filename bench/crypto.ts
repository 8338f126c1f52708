// Crypto throughput: CAdES and JWT against raw node:crypto ECDSA in the same run.
// Run: node --import tsx bench/crypto.ts   (ERX_BENCH_MS=<ms per case>, default 1500)
import { sign, verify, createHash } from 'node:crypto';
import { signCades, verifyCades } from '../src/crypto/cades.ts';
import { signJwt, verifyJwt } from '../src/crypto/jws.ts';
import { createOcspChecker, RevocationRegistry } from '../src/crypto/ocsp.ts';
import { createTestPki, type Curve } from '../src/crypto/pki.ts';
import { TrustStore } from '../src/crypto/trust.ts';

const MS = Number(process.env.ERX_BENCH_MS ?? 1500);

async function perSecond(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 200; i++) await fn(); // warm-up (JIT, caches)
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < MS) {
    for (let i = 0; i < 50; i++) await fn();
    n += 50;
  }
  return (n * 1000) / (performance.now() - start);
}

interface Row { curve: string; operation: string; perSecond: number; rawPerSecond: number }
const rows: Row[] = [];

// A prescription bundle is typically 3-8 KB of XML.
const bundle = Buffer.from(`<Bundle xmlns="http://hl7.org/fhir">${'<entry><fullUrl value="http://pvs.praxis.local/fhir/Patient/9774f67f"/></entry>'.repeat(70)}</Bundle>`);

for (const curve of ['brainpoolP256r1', 'P-256'] as Curve[]) {
  const pki = createTestPki({ curve });
  const hba = pki.issue({ kind: 'hba-qes', name: 'Dr. Bench', telematikId: '1-1' });
  const trust = TrustStore.fromCertificates(pki.trustList());
  const ocsp = createOcspChecker(new RevocationRegistry(null));
  const cms = signCades(bundle, hba);
  // Raw baseline: ECDSA over the same kind of input the CMS signs (the ~200-byte signed attributes).
  const attrs = Buffer.alloc(220, 0x31);
  const rawSig = sign('sha256', attrs, hba.key);
  const publicKey = (await verifyCades(cms, { trust })).signerCertificate.publicKey;
  const rawSign = await perSecond(() => sign('sha256', attrs, hba.key));
  const rawVerify = await perSecond(() => verify('sha256', attrs, publicKey, rawSig));

  rows.push({ curve, operation: 'CAdES sign (5 KB bundle)', perSecond: await perSecond(() => signCades(bundle, hba)), rawPerSecond: rawSign });
  rows.push({
    curve, operation: 'CAdES verify (chain, OCSP in-process, profession)',
    perSecond: await perSecond(() => verifyCades(cms, { trust, ocsp, requireProfessionOIDs: ['1.2.276.0.76.4.30'] })),
    rawPerSecond: rawVerify,
  });
  const alg = curve === 'P-256' ? 'ES256' : 'BP256R1';
  const claims = { iss: 'https://idp', aud: 'https://erp', exp: Math.floor(Date.now() / 1000) + 300, professionOID: '1.2.276.0.76.4.30', idNummer: '1-1' };
  const jwt = signJwt(claims, hba.key, { alg });
  rows.push({ curve, operation: `JWT sign (${alg})`, perSecond: await perSecond(() => signJwt(claims, hba.key, { alg })), rawPerSecond: rawSign });
  rows.push({
    curve, operation: `JWT verify (${alg})`,
    perSecond: await perSecond(() => verifyJwt(jwt, { keys: publicKey, algorithms: [alg], issuer: 'https://idp', audience: 'https://erp' })),
    rawPerSecond: rawVerify,
  });
  rows.push({ curve, operation: 'raw node:crypto sign', perSecond: rawSign, rawPerSecond: rawSign });
  rows.push({ curve, operation: 'raw node:crypto verify', perSecond: rawVerify, rawPerSecond: rawVerify });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
console.log(`node ${process.version}, ${MS} ms per case, bundle ${bundle.length} bytes, sha256 ${createHash('sha256').update(bundle).digest('hex').slice(0, 8)}`);
console.log('| curve | operation | per second | raw per second | ratio |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.curve} | ${r.operation} | ${fmt(r.perSecond)} | ${fmt(r.rawPerSecond)} | ${((100 * r.perSecond) / r.rawPerSecond).toFixed(0)} % |`);
}
