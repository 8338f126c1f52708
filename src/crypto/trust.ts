// Certificate path validation against a fixed set of trust anchors (the trust list).
// What is cached, and why it is safe:
//   - CA certificates (anchors, intermediates, CA certs found in a CMS): "this CA certificate chains to an anchor
//     by valid signatures", keyed by DER hash. Bytes and anchors do not change, so neither does the answer.
//   - End-entity certificates: only the signature math "these bytes were signed by that CA key" (keyed by both DER
//     hashes). Validity period, revocation and profession are evaluated on every call.
import { fromPem, parseCertificate, signedBy, describe, type ParsedCertificate } from './certificate.ts';

export type TrustFailure = 'untrusted-chain' | 'expired';

export class TrustError extends Error {
  override name = 'TrustError';
  constructor(readonly rule: TrustFailure, message: string, readonly certificate?: ParsedCertificate) {
    super(message);
  }
}

const MAX_PATH = 6;
const EE_CACHE_LIMIT = 20000;

export class TrustStore {
  private readonly anchors = new Map<string, ParsedCertificate>();
  private readonly bySubject = new Map<string, ParsedCertificate[]>();
  /** CA hash -> path from that CA up to and including its anchor. */
  private readonly caPaths = new Map<string, ParsedCertificate[]>();
  private readonly eeSignatures = new Map<string, true>();

  constructor(anchors: Iterable<Buffer | ParsedCertificate>, intermediates: Iterable<Buffer | ParsedCertificate> = []) {
    for (const a of anchors) {
      const p = parseCertificate(a);
      this.anchors.set(p.hash, p);
      this.caPaths.set(p.hash, [p]);
      this.index(p);
    }
    if (this.anchors.size === 0) throw new Error('TrustStore needs at least one trust anchor');
    for (const i of intermediates) this.index(parseCertificate(i));
  }

  /** A trust list such as `trust-list.pem`: self-signed certificates become anchors, the rest intermediates. */
  static fromCertificates(certs: Iterable<Buffer | ParsedCertificate>): TrustStore {
    const parsed = [...certs].map((c) => parseCertificate(c));
    return new TrustStore(parsed.filter((c) => c.selfIssued), parsed.filter((c) => !c.selfIssued));
  }

  static fromPem(pem: string): TrustStore {
    return TrustStore.fromCertificates(fromPem(pem));
  }

  anchorCertificates(): Buffer[] {
    return [...this.anchors.values()].map((a) => a.der);
  }

  private index(c: ParsedCertificate): void {
    const key = c.subjectDer.toString('latin1');
    const list = this.bySubject.get(key) ?? [];
    if (!list.some((x) => x.hash === c.hash)) list.push(c);
    this.bySubject.set(key, list);
  }

  /**
   * Finds and checks the path of `cert` to an anchor. `extra` are certificates delivered with the signature.
   * Every certificate on the path must be valid at `at`. Returns [cert, issuer, ..., anchor].
   */
  validate(cert: ParsedCertificate, extra: ParsedCertificate[], at: Date): ParsedCertificate[] {
    const path = this.anchors.has(cert.hash) ? [cert] : this.pathFor(cert, extra, 0);
    if (!path) throw new TrustError('untrusted-chain', `no valid path from ${describe(cert)} to a trusted root`, cert);
    for (const c of path) {
      if (at < c.notBefore) throw new TrustError('expired', `certificate ${describe(c)} is not valid before ${c.notBefore.toISOString()}`, c);
      if (at > c.notAfter) throw new TrustError('expired', `certificate ${describe(c)} expired ${c.notAfter.toISOString()}`, c);
    }
    return path;
  }

  private pathFor(cert: ParsedCertificate, extra: ParsedCertificate[], depth: number): ParsedCertificate[] | undefined {
    if (depth > MAX_PATH) return undefined;
    const key = cert.issuerDer.toString('latin1');
    const candidates = [
      ...(this.bySubject.get(key) ?? []),
      ...extra.filter((e) => e.isCA && e.subjectDer.equals(cert.issuerDer) && e.hash !== cert.hash),
    ];
    for (const issuer of candidates) {
      if (!issuer.isCA || (issuer.keyUsage && !issuer.keyUsage.has('keyCertSign'))) continue;
      const issuerPath = this.caPath(issuer, extra, depth + 1);
      if (!issuerPath) continue;
      if (!this.checkSignature(cert, issuer)) continue;
      return [cert, ...issuerPath];
    }
    return undefined;
  }

  private caPath(ca: ParsedCertificate, extra: ParsedCertificate[], depth: number): ParsedCertificate[] | undefined {
    const known = this.caPaths.get(ca.hash);
    if (known) return known;
    if (ca.selfIssued) return undefined; // a root that is not an anchor
    const path = this.pathFor(ca, extra, depth);
    if (path) this.caPaths.set(ca.hash, path);
    return path;
  }

  private checkSignature(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
    if (cert.isCA) return signedBy(cert, issuer); // the CA path itself is cached by caPath
    const key = cert.hash + issuer.hash;
    if (this.eeSignatures.has(key)) return true;
    if (!signedBy(cert, issuer)) return false;
    if (this.eeSignatures.size >= EE_CACHE_LIMIT) this.eeSignatures.delete(this.eeSignatures.keys().next().value as string);
    this.eeSignatures.set(key, true);
    return true;
  }
}
