// KIM user names (gemSpec_CM_KOMLE 3.3.2.2 / 3.4.2.2, api-kim Primaersystem.adoc):
//   SMTP: <kim-address>#<MTA-host>:<port>#<MandantId>#<ClientsystemId>#<WorkplaceId>[#<KonnektorId>]
//   POP3: <kim-address>#<MTA-host>:<port>#<MandantId>#<ClientsystemId>#<WorkplaceId>[#<UserId>][#<KonnektorId>]
// An optional field before a filled one is written as `*`. Between host and port other separators than `:` are
// tolerated (api-kim TIP), so any character that cannot be part of a host name separates them.

export type KimProtocol = 'smtp' | 'pop3';

export interface KimUserName {
  /** The KIM mail address, lower-cased. */
  address: string;
  host: string;
  port: number;
  mandantId: string;
  clientSystemId: string;
  workplaceId: string;
  /** POP3 only: the HBA holder's UserId when the mailbox belongs to an HBA. */
  userId?: string;
  konnektorId?: string;
}

export class KimUserNameError extends Error {
  override name = 'KimUserNameError';
}

const ADDRESS = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/;
const HOST_PORT = /^([A-Za-z0-9._-]*[A-Za-z0-9_-])[^A-Za-z0-9._-](\d{1,5})$/;
const FIELD = /^[^#\s]{1,64}$/;

function formatHint(protocol: KimProtocol): string {
  return protocol === 'smtp'
    ? 'address#host:port#MandantId#ClientsystemId#WorkplaceId[#KonnektorId]'
    : 'address#host:port#MandantId#ClientsystemId#WorkplaceId[#UserId][#KonnektorId]';
}

/** True when the string is a plain mail address as KIM uses it (no display name, no comments). */
export function isKimAddress(value: string): boolean {
  return value.length <= 254 && ADDRESS.test(value);
}

/**
 * Splits a KIM user name. The address itself may contain `#` in theory, but KIM addresses do not
 * (they come from the VZD), so `#` is always the field separator here.
 */
export function parseKimUserName(value: string, protocol: KimProtocol): KimUserName {
  const fail = (why: string): never => {
    throw new KimUserNameError(`invalid KIM ${protocol.toUpperCase()} user name: ${why} (expected ${formatHint(protocol)})`);
  };
  if (typeof value !== 'string' || value.length === 0) fail('empty');
  if (value.length > 512) fail('too long');
  const parts = value.split('#');
  const maxParts = protocol === 'smtp' ? 6 : 7;
  if (parts.length < 5) fail(`${parts.length} field(s), at least 5 are needed`);
  if (parts.length > maxParts) fail(`${parts.length} fields, at most ${maxParts} are allowed`);
  const [address, hostPort, mandantId, clientSystemId, workplaceId, ...optional] = parts;
  if (!isKimAddress(address)) fail(`"${address}" is not a mail address`);
  const hp = HOST_PORT.exec(hostPort);
  if (!hp) fail(`"${hostPort}" is not host:port`);
  const port = Number(hp![2]);
  if (port < 1 || port > 65535) fail(`port ${port} is out of range`);
  for (const [name, field] of [['MandantId', mandantId], ['ClientsystemId', clientSystemId], ['WorkplaceId', workplaceId]]) {
    if (!FIELD.test(field) || field === '*') fail(`${name} is missing or malformed`);
  }
  const result: KimUserName = {
    address: address.toLowerCase(),
    host: hp![1],
    port,
    mandantId,
    clientSystemId,
    workplaceId,
  };
  const optionalField = (name: string, field: string | undefined, last: boolean): string | undefined => {
    if (field === undefined) return undefined;
    if (!FIELD.test(field)) fail(`${name} is malformed`);
    if (field === '*') {
      // `*` only stands in for a field that a later filled field follows.
      if (last) fail(`${name} is "*" but no later field follows`);
      return undefined;
    }
    return field;
  };
  if (protocol === 'smtp') {
    result.konnektorId = optionalField('KonnektorId', optional[0], true);
  } else {
    result.userId = optionalField('UserId', optional[0], optional.length === 1);
    result.konnektorId = optionalField('KonnektorId', optional[1], true);
  }
  return result;
}

/** Builds the user name a client configures, writing `*` for a skipped UserId. */
export function formatKimUserName(name: KimUserName, protocol: KimProtocol): string {
  const fields = [name.address, `${name.host}:${name.port}`, name.mandantId, name.clientSystemId, name.workplaceId];
  if (protocol === 'pop3') {
    if (name.userId !== undefined || name.konnektorId !== undefined) fields.push(name.userId ?? '*');
  } else if (name.userId !== undefined) {
    throw new KimUserNameError('a UserId is only part of a POP3 user name');
  }
  if (name.konnektorId !== undefined) fields.push(name.konnektorId);
  const formatted = fields.join('#');
  // Round-trip through the parser so a bad part is reported the same way as on input.
  parseKimUserName(formatted, protocol);
  return formatted;
}
