// The VZD service: FHIR-Directory search (HTTP) and the LDAP directory, both from the one seeded directory.
import type { FastifyServerOptions } from 'fastify';
import type { ServiceDefinition } from '../cli/service.ts';
import { getPki } from '../cli/shared.ts';
import type { LoadedPki } from '../crypto/pki.ts';
import { createFhirServer } from '../http/fhir-server.ts';
import { seededDirectory, type Directory } from './directory.ts';
import { vzdFhirRoutes } from './fhir-routes.ts';
import { startLdapServer, type LdapLogger } from './ldap-server.ts';

export interface StartVzdOptions {
  host?: string;
  /** 0 = a free port. */
  httpPort?: number;
  ldapPort?: number;
  directory?: Directory;
  /** Base URL for links in FHIR Bundles; default: the request's Host. */
  baseUrl?: string;
  /** pino options for the HTTP side, or false (default) for none. */
  logger?: FastifyServerOptions['logger'];
  ldapLog?: LdapLogger;
  /** LDAP server-side size limit. */
  maxLdapResults?: number;
  /** Like the real VZD, LDAP finds only entries with a certificate (set once the PKI supplied them). */
  requireCertificate?: boolean;
}

export interface RunningVzd {
  httpUrl: string;
  ldapUrl: string;
  stop(): Promise<void>;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startVzd(options: StartVzdOptions = {}): Promise<RunningVzd> {
  const host = options.host ?? '127.0.0.1';
  const directory = options.directory ?? seededDirectory;
  const app = createFhirServer({ logger: options.logger ?? false });
  await app.register(vzdFhirRoutes, { directory, baseUrl: options.baseUrl });
  await app.listen({ host, port: options.httpPort ?? 0 });
  let ldap;
  try {
    ldap = await startLdapServer({
      directory, host, port: options.ldapPort ?? 0, log: options.ldapLog, maxResults: options.maxLdapResults,
      requireCertificate: options.requireCertificate,
    });
  } catch (e) {
    await app.close();
    throw e;
  }
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : 0;
  return {
    httpUrl: `http://${urlHost(host)}:${httpPort}`,
    ldapUrl: ldap.url,
    async stop() {
      await Promise.all([app.close(), ldap.stop()]);
    },
  };
}

/**
 * LDAP `userCertificate` per Telematik-ID: the ENC certificates of the seeded HBA and SMC-B cards, which the KIM
 * clients encrypt to (ti-components.md §2.1).
 */
export function directoryCertificates(pki: LoadedPki): Map<string, Buffer[]> {
  const certificates = new Map<string, Buffer[]>();
  for (const card of Object.values(pki.cards)) {
    const telematikId = card.identity.telematikId;
    if (!telematikId || !card.enc || card.type === 'eGK') continue;
    certificates.set(telematikId, [...(certificates.get(telematikId) ?? []), card.enc.cert]);
  }
  return certificates;
}

export const vzdService: ServiceDefinition = {
  name: 'vzd',
  description: 'Verzeichnisdienst: FHIR-Directory search (HTTP) and LDAP (dc=data,dc=vzd) with the seeded practice, physician, pharmacies and payer',
  async start(context) {
    const { config, log } = context;
    seededDirectory.setCertificates(directoryCertificates(await getPki(context)));
    const running = await startVzd({
      directory: seededDirectory,
      requireCertificate: true,
      host: config.host,
      httpPort: config.ports.vzd,
      ldapPort: config.ports.vzd_ldap,
      // A fixed port has a known public URL (ERX_VZD_URL); with port 0 the request's Host is the only truth.
      baseUrl: config.ports.vzd !== 0 ? config.urls.vzd : undefined,
      logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
      ldapLog: log,
    });
    return { name: 'vzd', urls: [running.httpUrl, running.ldapUrl], stop: running.stop };
  },
};
