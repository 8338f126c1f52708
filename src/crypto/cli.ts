// `erx pki ...` subcommands, for the CLI module to call: list the test PKI's cards and certificates, revoke one.
import { join } from 'node:path';
import { parseCertificate } from './certificate.ts';
import { REVOCATION_REASONS, RevocationRegistry, revokeCertificate, type RevocationReason } from './ocsp.ts';
import { readStoredCertificates } from './pki.ts';

export const PKI_USAGE = `usage:
  erx pki list                          cards and certificates of the test PKI (id, serial, subject, validity, status)
  erx pki revoke <card|entry|serial> [reason]
                                        revoke every certificate of a card (e.g. physician-berger), one entry
                                        (e.g. physician-berger/qes) or a serial (hex); reason default keyCompromise
  erx pki revoked                       the revocation list`;

/** The PKI directory inside the data dir. */
export function pkiDir(dataDir: string): string {
  return join(dataDir, 'pki');
}

/** Runs `erx pki <args>`; returns the exit code. Output lines go to `out`, errors to `err`. */
export async function pkiCommand(
  args: string[], options: { dataDir: string; out?: (line: string) => void; err?: (line: string) => void },
): Promise<number> {
  const out = options.out ?? ((l: string) => console.log(l));
  const err = options.err ?? ((l: string) => console.error(l));
  const dir = pkiDir(options.dataDir);
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'revoke': {
        const [target, reason = 'keyCompromise'] = rest;
        if (!target) {
          err(PKI_USAGE);
          return 2;
        }
        if (!REVOCATION_REASONS.includes(reason as RevocationReason) || reason === '(unused)') {
          err(`unknown reason "${reason}"; one of: ${REVOCATION_REASONS.filter((r) => r !== '(unused)').join(', ')}`);
          return 2;
        }
        const serials = await revokeCertificate(dir, target, reason as RevocationReason);
        for (const s of serials) out(`revoked ${s} (${reason})`);
        return 0;
      }
      case 'list': {
        const registry = new RevocationRegistry(dir, 0);
        for (const { id, cert } of await readStoredCertificates(dir)) {
          const c = parseCertificate(cert);
          const revoked = registry.lookup(c.serial);
          out([
            id.padEnd(40), c.serial, `${c.notBefore.toISOString().slice(0, 10)}..${c.notAfter.toISOString().slice(0, 10)}`,
            revoked ? `REVOKED ${revoked.time}` : 'good', c.identity.name,
          ].join('  '));
        }
        return 0;
      }
      case 'revoked': {
        for (const [serial, r] of Object.entries(new RevocationRegistry(dir, 0).all())) out(`${serial}  ${r.time}  ${r.reason}`);
        return 0;
      }
      default:
        err(PKI_USAGE);
        return 2;
    }
  } catch (e) {
    err(`erx pki ${command}: ${(e as Error).message}`);
    return 1;
  }
}
