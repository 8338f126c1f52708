// LDAP filters: RFC 4515 value escaping for clients that build filter strings, and evaluation of parsed filters
// against an entry. Attribute names match case-insensitively (and by alias); values with caseIgnoreMatch, as the
// VZD's string attributes do. Our own evaluator, because ldapjs' `matches` compares values case-sensitively.
import { findAttribute, type LdapAttributes } from './ldap-entry.ts';

/**
 * Escapes a value for use inside an LDAP filter string (RFC 4515 §3): `\`, `*`, `(`, `)` and NUL become `\XX`.
 * Anything a user or remote party typed must go through this before it is put into `(attr=…)`.
 */
export function escapeLdapFilterValue(value: string): string {
  let out = '';
  for (const ch of value) {
    switch (ch) {
      case '\\': out += '\\5c'; break;
      case '*': out += '\\2a'; break;
      case '(': out += '\\28'; break;
      case ')': out += '\\29'; break;
      case '\0': out += '\\00'; break;
      default: out += ch;
    }
  }
  return out;
}

/** The filter shapes of @ldapjs/filter as parsed from a search request (duck-typed; only what we read). */
export interface ParsedFilter {
  type: string;
  attribute?: string;
  value?: string | Buffer;
  subInitial?: string;
  subAny?: string[];
  subFinal?: string;
  filters?: ParsedFilter[];
  filter?: ParsedFilter;
}

/** A filter we cannot evaluate (e.g. extensible match); the server answers unwillingToPerform. */
export class UnsupportedFilterError extends Error {
  override name = 'UnsupportedFilterError';
}

/** caseIgnoreMatch: case-folded, leading/trailing space dropped, inner runs of space collapsed (RFC 4518 in short). */
function prepare(value: string): string {
  return value.normalize('NFC').trim().replace(/\s+/g, ' ').toLowerCase();
}

function stringValues(attrs: LdapAttributes, attribute: string): string[] | undefined {
  const attr = findAttribute(attrs, attribute);
  if (!attr) return undefined;
  return attr.values.map((v) => (typeof v === 'string' ? prepare(v) : v.toString('base64')));
}

function asString(value: string | Buffer | undefined): string {
  return value === undefined ? '' : typeof value === 'string' ? value : value.toString('utf8');
}

function substringMatches(value: string, initial: string | undefined, any: string[], final: string | undefined): boolean {
  let pos = 0;
  if (initial) {
    if (!value.startsWith(initial)) return false;
    pos = initial.length;
  }
  for (const part of any) {
    if (!part) continue;
    const at = value.indexOf(part, pos);
    if (at < 0) return false;
    pos = at + part.length;
  }
  if (final) return value.length - final.length >= pos && value.endsWith(final);
  return true;
}

/** true, false, or undefined ("Undefined" in RFC 4511 §4.5.1.7, e.g. unknown attribute), combined three-valued. */
function evaluate(filter: ParsedFilter, attrs: LdapAttributes): boolean | undefined {
  switch (filter.type) {
    case 'AndFilter': {
      let result: boolean | undefined = true;
      for (const f of filter.filters ?? []) {
        const r = evaluate(f, attrs);
        if (r === false) return false;
        if (r === undefined) result = undefined;
      }
      return result;
    }
    case 'OrFilter': {
      let result: boolean | undefined = false;
      for (const f of filter.filters ?? []) {
        const r = evaluate(f, attrs);
        if (r === true) return true;
        if (r === undefined) result = undefined;
      }
      return result;
    }
    case 'NotFilter': {
      const r = filter.filter ? evaluate(filter.filter, attrs) : undefined;
      return r === undefined ? undefined : !r;
    }
    case 'PresenceFilter':
      return findAttribute(attrs, filter.attribute ?? '') !== undefined;
    case 'EqualityFilter':
    case 'ApproximateFilter': {
      const values = stringValues(attrs, filter.attribute ?? '');
      if (!values) return false;
      const wanted = prepare(asString(filter.value));
      return values.includes(wanted);
    }
    case 'SubstringFilter': {
      const values = stringValues(attrs, filter.attribute ?? '');
      if (!values) return false;
      const initial = filter.subInitial ? prepare(filter.subInitial) : undefined;
      const any = (filter.subAny ?? []).map((s) => prepare(s));
      const final = filter.subFinal ? prepare(filter.subFinal) : undefined;
      return values.some((v) => substringMatches(v, initial, any, final));
    }
    case 'GreaterThanEqualsFilter':
    case 'LessThanEqualsFilter': {
      const values = stringValues(attrs, filter.attribute ?? '');
      if (!values) return false;
      const bound = prepare(asString(filter.value));
      return values.some((v) => (filter.type === 'GreaterThanEqualsFilter' ? v >= bound : v <= bound));
    }
    default:
      throw new UnsupportedFilterError(`Filter type ${filter.type} is not supported`);
  }
}

/** Whether the entry matches; Undefined counts as no match (RFC 4511 §4.5.1.7). */
export function matchesFilter(filter: ParsedFilter, attrs: LdapAttributes): boolean {
  return evaluate(filter, attrs) === true;
}
