// KIM accounts of the seeded world: every identity with a `kimLocal` has the address `${kimLocal}@${KIM_DOMAIN}`,
// a mailbox and a password derived from its id (deterministic, so the dev identities list and clients agree
// without storing secrets; pass another secret to change all of them at once).
import { createHmac } from 'node:crypto';
import { identities, kimAddress, type Identity } from '../seed/identities.ts';
import { secretsEqual } from '../fhir/identifiers.ts';
import { formatKimUserName } from './username.ts';

export const DEV_KIM_SECRET = 'erx-dev-kim-accounts';

export interface KimAccount {
  identityId: string;
  address: string;
  /** Ready-made SMTP user name (KIM format) for this account. */
  smtpUser: string;
  /** Ready-made POP3 user name (KIM format); for an HBA mailbox it carries the holder's UserId. */
  pop3User: string;
  password: string;
}

export interface KimAccountOptions {
  /** Host and ports written into the user names (the MTA the client module would reach). */
  host?: string;
  smtpPort?: number;
  pop3Port?: number;
  secret?: string;
  identities?: Identity[];
}

export function kimPassword(identityId: string, secret = DEV_KIM_SECRET): string {
  return createHmac('sha256', secret).update(`kim:${identityId}`).digest('base64url').slice(0, 20);
}

/** The Konnektor call context a seeded client system uses: one Mandant, the client system by role, one workplace. */
function callContext(identity: Identity) {
  return {
    mandantId: identity.tenant ?? 'Mandant1',
    clientSystemId: identity.role === 'pharmacy' ? 'AVS' : 'PVS',
    workplaceId: 'Arbeitsplatz1',
  };
}

export function kimAccounts(options: KimAccountOptions = {}): KimAccount[] {
  const host = options.host ?? 'localhost';
  const accounts: KimAccount[] = [];
  for (const identity of options.identities ?? identities) {
    const address = kimAddress(identity);
    if (!address) continue;
    const context = { address: address.toLowerCase(), host, ...callContext(identity) };
    // A person's mailbox belongs to the HBA, whose holder is named by the UserId in the POP3 user name.
    const userId = identity.role === 'physician' ? identity.id : undefined;
    accounts.push({
      identityId: identity.id,
      address: context.address,
      smtpUser: formatKimUserName({ ...context, port: options.smtpPort ?? 2525 }, 'smtp'),
      pop3User: formatKimUserName({ ...context, port: options.pop3Port ?? 2110, userId }, 'pop3'),
      password: kimPassword(identity.id, options.secret),
    });
  }
  return accounts;
}

/** Looks accounts up by address and checks passwords in constant time. */
export class KimAccountDirectory {
  private readonly byAddress = new Map<string, KimAccount>();

  constructor(accounts: KimAccount[]) {
    for (const a of accounts) this.byAddress.set(a.address.toLowerCase(), a);
  }

  find(address: string): KimAccount | undefined {
    return this.byAddress.get(address.toLowerCase());
  }

  addresses(): string[] {
    return [...this.byAddress.keys()];
  }

  checkPassword(address: string, password: string): KimAccount | undefined {
    const account = this.find(address);
    // Compare against something even for unknown users, so timing does not tell which addresses exist.
    const ok = secretsEqual(account?.password ?? DEV_KIM_SECRET, password);
    return account && ok ? account : undefined;
  }
}
