// The LDAP view of a directory entry (attribute names as in gematik api-vzd LDAP_Attribute.adoc) and attribute
// selection. ldapjs 3.0.7 selects attributes case-sensitively (asking for `telematikID` returns nothing), so we do it.
import { BASE_DN, type Directory, type DirectoryEntry } from './directory.ts';

export type LdapValue = string | Buffer;

/** One attribute as sent: the name we answer with and its values. */
export interface LdapAttribute {
  name: string;
  values: LdapValue[];
}

/** Attributes keyed by lower-cased canonical name. */
export type LdapAttributes = Map<string, LdapAttribute>;

/** Short names and RFC aliases -> canonical VZD name (lower-cased keys). */
const ALIASES: Record<string, string> = {
  street: 'streetAddress',
  l: 'localityName',
  st: 'stateOrProvinceName',
  rfc822mailbox: 'mail',
  o: 'organization',
  surname: 'sn',
  c: 'countryCode',
};

/** Canonical name of an attribute description (case-insensitive, options like `;binary` dropped). */
export function canonicalAttribute(name: string): { key: string; binary: boolean } {
  const [base, ...options] = name.split(';');
  const lower = base.toLowerCase();
  const target = ALIASES[lower];
  return { key: (target ?? base).toLowerCase(), binary: options.some((o) => o.toLowerCase() === 'binary') };
}

function put(attrs: LdapAttributes, name: string, values: (LdapValue | undefined)[] | LdapValue | undefined): void {
  const list = (Array.isArray(values) ? values : [values]).filter((v): v is LdapValue => v !== undefined && v !== '');
  if (list.length) attrs.set(name.toLowerCase(), { name, values: list });
}

export function ldapAttributesOf(entry: DirectoryEntry, directory: Directory): LdapAttributes {
  const a: LdapAttributes = new Map();
  put(a, 'objectClass', ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'telematikMember']);
  put(a, 'uid', entry.uid);
  put(a, 'telematikID', entry.telematikID);
  put(a, 'domainID', entry.domainID);
  put(a, 'displayName', entry.displayName);
  put(a, 'cn', entry.displayName);
  put(a, 'givenName', entry.givenName);
  put(a, 'sn', entry.sn ?? entry.displayName);
  put(a, 'title', entry.title);
  put(a, 'organization', entry.organization);
  put(a, 'streetAddress', entry.streetAddress);
  put(a, 'postalCode', entry.postalCode);
  put(a, 'localityName', entry.localityName);
  put(a, 'stateOrProvinceName', entry.stateOrProvinceName);
  put(a, 'countryCode', entry.countryCode);
  put(a, 'professionOID', entry.professionOID);
  put(a, 'specialization', entry.specialization);
  put(a, 'mail', entry.mail);
  put(a, 'kimData', entry.kimData);
  put(a, 'komLeData', entry.komLeData);
  put(a, 'userCertificate', directory.certificatesOf(entry.telematikID));
  put(a, 'personalEntry', entry.kind === 'person' ? 'TRUE' : 'FALSE');
  put(a, 'dataFromAuthority', 'TRUE');
  put(a, 'active', 'TRUE');
  put(a, 'holder', entry.holder);
  put(a, 'changeDateTime', entry.changeDateTime);
  return a;
}

/** The suffix entry `dc=data,dc=vzd` itself. */
export function rootAttributes(): LdapAttributes {
  const a: LdapAttributes = new Map();
  put(a, 'objectClass', ['top', 'dcObject', 'organization']);
  put(a, 'dc', 'data');
  put(a, 'o', 'Verzeichnisdienst der TI (lokal)');
  return a;
}

/** Root DSE (base search on the empty DN): tells generic clients where the data lives. */
export function rootDseAttributes(): LdapAttributes {
  const a: LdapAttributes = new Map();
  put(a, 'objectClass', 'top');
  put(a, 'namingContexts', BASE_DN);
  put(a, 'supportedLDAPVersion', '3');
  return a;
}

/** Looks an attribute up by any of its names (case-insensitive, aliases, options ignored). */
export function findAttribute(attrs: LdapAttributes, name: string): LdapAttribute | undefined {
  return attrs.get(canonicalAttribute(name).key);
}

/**
 * RFC 4511 attribute selection: none or `*` -> all user attributes under their canonical names; `1.1` -> none;
 * named ones (any case, aliases, `;binary`) are answered under the name the client used, in its canonical spelling.
 */
export function selectAttributes(attrs: LdapAttributes, requested: string[]): LdapAttribute[] {
  const names = requested.filter((r) => r !== '+');
  const all = names.length === 0 || names.includes('*');
  const out: LdapAttribute[] = [];
  const sent = new Set<string>();
  if (all) {
    for (const attr of attrs.values()) {
      out.push(attr);
      sent.add(attr.name.toLowerCase());
    }
  }
  for (const name of names) {
    if (name === '*' || name === '1.1') continue;
    const { key, binary } = canonicalAttribute(name);
    const attr = attrs.get(key);
    if (!attr) continue;
    const [base] = name.split(';');
    const isAlias = ALIASES[base.toLowerCase()] !== undefined;
    // Answer with the spelling of the attribute (or alias) the client asked for, plus `;binary` if it asked so.
    const spelled = isAlias ? aliasSpelling(base) : attr.name;
    const answerName = binary ? `${spelled};binary` : spelled;
    if (sent.has(answerName.toLowerCase())) continue;
    sent.add(answerName.toLowerCase());
    out.push({ name: answerName, values: attr.values });
  }
  return out;
}

const ALIAS_SPELLING: Record<string, string> = { street: 'street', l: 'l', st: 'st', rfc822mailbox: 'rfc822Mailbox', o: 'o', surname: 'surname', c: 'c' };

function aliasSpelling(name: string): string {
  return ALIAS_SPELLING[name.toLowerCase()] ?? name;
}
