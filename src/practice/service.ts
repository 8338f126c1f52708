// `erx serve practice`: the RED-compatible practice API on its port, talking to the Konnektor, the Fachdienst (with
// an access token the practice's SMC-B gets through the IDP's card-based flow, signed by the Konnektor), the VZD
// (LDAP) and KIM over their public protocols.
import type { ServiceDefinition } from '../cli/service.ts';
import { getDatabase } from '../cli/shared.ts';
import { kimAccounts } from '../kim/accounts.ts';
import { sendKimMail } from '../kim/service.ts';
import { createKonnektorClient, type KonnektorClient } from '../konnektor/client.ts';
import { identities, physician, practice, type Identity } from '../seed/identities.ts';
import { lookupKimAddress } from '../vzd/client.ts';
import { createPracticeApp } from './app.ts';
import type { Tenant } from './batch-signing.ts';
import { createFachdienstClient, konnektorTokenSource, smcbHandleOf } from './fachdienst-client.ts';
import { startOutboxSender } from './outbox.ts';
import { PracticeStore } from './store.ts';

/**
 * Seeded tenants: each practice with a tenant name, signing with the first physician of that practice, logged in at
 * the IDP with its SMC-B (found in the Konnektor by its Telematik-ID).
 */
export function seededTenants(fachdienstUrl: string, idpUrl: string, konnektor: KonnektorClient): Tenant[] {
  return identities.filter((i) => i.tenant).map((org) => ({
    name: org.tenant!,
    practice: org,
    physician: identities.find((p) => p.role === 'physician' && p.organization === org.id) ?? physician,
    fachdienst: createFachdienstClient({
      baseUrl: fachdienstUrl,
      tokens: konnektorTokenSource({ idpUrl, konnektor, smcbHandle: () => smcbHandleOf(konnektor, org.telematikId!) }),
    }),
  }));
}

export const practiceService: ServiceDefinition = {
  name: 'practice',
  description: 'practice module: RED-interchange-compatible API, batch signing (Stapel-/Komfortsignatur), KIM assignment outbox',
  async start(ctx) {
    const { config } = ctx;
    const database = await getDatabase(ctx);
    const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
    const konnektor = createKonnektorClient(config.urls.konnektor, {
      context: { MandantId: practice.tenant!, ClientSystemId: 'PVS', WorkplaceId: 'Arbeitsplatz1' },
    });
    const tenants = seededTenants(config.urls.fachdienst, config.urls.idp, konnektor);
    const accounts = () => kimAccounts({ host, smtpPort: config.ports.kim_smtp, pop3Port: config.ports.kim_pop3 });
    const sender = startOutboxSender({
      store: new PracticeStore(database),
      lookupKimAddress: (telematikId) => lookupKimAddress({ ldapUrl: `ldap://${host}:${config.ports.vzd_ldap}`, telematikId }),
      kimAccount: (tenant) => {
        const org: Identity | undefined = tenants.find((t) => t.name === tenant)?.practice;
        const account = org && accounts().find((a) => a.identityId === org.id);
        return account && { from: account.address, target: { host, port: config.ports.kim_smtp, user: account.smtpUser, password: account.password } };
      },
      sendKimMail,
      onError: (message, err) => ctx.log.warn({ outbox: message?.id, err: String(err) }, 'practice outbox delivery failed; will retry'),
    });
    const { app } = await createPracticeApp({
      database, konnektor, tenants, pinPrompt: config.pinPrompt, onOutbox: () => sender.kick(),
      logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    });
    const address = await app.listen({ host: config.host, port: config.ports.practice });
    const url = config.ports.practice === 0 ? `http://localhost:${new URL(address).port}` : config.urls.practice;
    ctx.log.info({ tenants: tenants.map((t) => t.name), pinPrompt: config.pinPrompt }, 'practice ready');
    return {
      name: 'practice',
      urls: [url],
      async stop() {
        await sender.stop();
        await app.close();
      },
    };
  },
};
