import { test } from 'node:test';
import assert from 'node:assert/strict';
import ldapjs from 'ldapjs';
import { escapeLdapFilterValue, matchesFilter, UnsupportedFilterError, type ParsedFilter } from './ldap-filter.ts';
import { ldapAttributesOf } from './ldap-entry.ts';
import { createDirectory } from './directory.ts';
import { defaultPharmacy } from '../seed/identities.ts';

test('escapeLdapFilterValue follows RFC 4515 §4 examples', () => {
  assert.equal(escapeLdapFilterValue('Parens R Us (for all your parenthetical needs)'), 'Parens R Us \\28for all your parenthetical needs\\29');
  assert.equal(escapeLdapFilterValue('*'), '\\2a');
  assert.equal(escapeLdapFilterValue('C:\\MyFile'), 'C:\\5cMyFile');
  assert.equal(escapeLdapFilterValue('a\0b'), 'a\\00b');
  assert.equal(escapeLdapFilterValue('Lučić'), 'Lučić'); // UTF-8 stays as is
  assert.equal(escapeLdapFilterValue('3-11.2.1000001.16.101'), '3-11.2.1000001.16.101');
});

const directory = createDirectory();
const attrs = ldapAttributesOf(directory.byTelematikId(defaultPharmacy.telematikId!)!, directory);
const parse = (f: string) => (ldapjs as unknown as { parseFilter(s: string): ParsedFilter }).parseFilter(f);
const matches = (f: string) => matchesFilter(parse(f), attrs);

test('filters match attribute names and values case-insensitively', () => {
  assert.equal(matches('(DISPLAYNAME=apotheke AM gendarmenmarkt)'), true);
  assert.equal(matches('(displayName=  Apotheke   am Gendarmenmarkt )'), true);
  assert.equal(matches('(displayName=Apotheke am)'), false);
  assert.equal(matches('(displayName=*am*markt)'), true);
  assert.equal(matches('(displayName=*markt*am*)'), false); // order of the parts matters
  assert.equal(matches('(l=berlin)'), true);
  assert.equal(matches('(&(postalCode=10117)(!(postalCode=10178)))'), true);
  assert.equal(matches('(|(postalCode=1)(postalCode=2))'), false);
  assert.equal(matches('(nonexistent=*)'), false);
  assert.equal(matches('(postalCode>=10000)'), true);
  assert.equal(matches('(postalCode<=10000)'), false);
});

test('an escaped wildcard is a literal character, not a wildcard', () => {
  assert.equal(matches(`(displayName=${escapeLdapFilterValue('*')})`), false);
  assert.equal(matches(`(displayName=${escapeLdapFilterValue('Apotheke am Gendarmenmarkt')})`), true);
});

test('extensible match is refused, not guessed', () => {
  assert.throws(() => matches('(displayName:caseExactMatch:=x)'), UnsupportedFilterError);
});
