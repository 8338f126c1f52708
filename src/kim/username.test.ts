import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatKimUserName, KimUserNameError, parseKimUserName } from './username.ts';

test('parses the SMTP user name of the api-kim example, with and without KonnektorId', () => {
  const plain = parseKimUserName('erik.mustermann@hrst_domain.kim.telematik#hrst_domain.kim.telematik:465#1#KIM#7', 'smtp');
  assert.deepEqual(plain, {
    address: 'erik.mustermann@hrst_domain.kim.telematik',
    host: 'hrst_domain.kim.telematik',
    port: 465,
    mandantId: '1',
    clientSystemId: 'KIM',
    workplaceId: '7',
    konnektorId: undefined,
  });
  const multi = parseKimUserName('erik.mustermann@hrst_domain.kim.telematik#hrst_domain.kim.telematik:465#1#KIM#7#Konn_1', 'smtp');
  assert.equal(multi.konnektorId, 'Konn_1');
});

test('parses POP3 user names: UserId in position 6, `*` for a skipped UserId before a KonnektorId', () => {
  const skipped = parseKimUserName('erik.mustermann@hrst_domain.kim.telematik#hrst_domain.kim.telematik:995#1#KOM_LE#7#*#Konn_1', 'pop3');
  assert.equal(skipped.port, 995);
  assert.equal(skipped.userId, undefined);
  assert.equal(skipped.konnektorId, 'Konn_1');
  const hba = parseKimUserName('a.b@x.kim.telematik#x.kim.telematik:995#1#KOM_LE#7#user-42', 'pop3');
  assert.equal(hba.userId, 'user-42');
  assert.equal(hba.konnektorId, undefined);
});

test('tolerates another separator between host and port and lower-cases the address', () => {
  const name = parseKimUserName('Praxis.Berger@ERX.kim.telematik-test#localhost;2525#m#cs#wp', 'smtp');
  assert.equal(name.address, 'praxis.berger@erx.kim.telematik-test');
  assert.equal(name.host, 'localhost');
  assert.equal(name.port, 2525);
});

test('rejects malformed user names with a message naming the problem and the format', () => {
  const cases: [string, 'smtp' | 'pop3', RegExp][] = [
    ['praxis@erx.kim.telematik-test', 'smtp', /1 field\(s\), at least 5/],
    ['not-an-address#h:1#m#c#w', 'smtp', /is not a mail address/],
    ['a@b.de#hostonly#m#c#w', 'smtp', /is not host:port/],
    ['a@b.de#h:99999#m#c#w', 'smtp', /out of range/],
    ['a@b.de#h:25#*#c#w', 'smtp', /MandantId is missing/],
    ['a@b.de#h:25#m##w', 'smtp', /ClientsystemId is missing/],
    ['a@b.de#h:25#m#c#w#k#x', 'smtp', /7 fields, at most 6/],
    ['a@b.de#h:25#m#c#w#*', 'smtp', /KonnektorId is "\*"/],
    ['a@b.de#h:25#m#c#w#*', 'pop3', /UserId is "\*"/],
    ['a@b.de#h:25#m#c#w#u#k#z', 'pop3', /8 fields, at most 7/],
    ['', 'pop3', /empty/],
  ];
  for (const [value, protocol, message] of cases) {
    assert.throws(() => parseKimUserName(value, protocol), (err: unknown) => {
      assert.ok(err instanceof KimUserNameError, `${value}: ${String(err)}`);
      assert.match(err.message, message, value);
      assert.match(err.message, /expected address#host:port#MandantId/);
      return true;
    });
  }
});

test('format is the inverse of parse, writing `*` for a skipped POP3 UserId', () => {
  const base = { address: 'a@x.kim.telematik', host: 'localhost', port: 2110, mandantId: '1', clientSystemId: 'PVS', workplaceId: 'WP1' };
  const pop3 = formatKimUserName({ ...base, konnektorId: 'K1' }, 'pop3');
  assert.equal(pop3, 'a@x.kim.telematik#localhost:2110#1#PVS#WP1#*#K1');
  assert.deepEqual(parseKimUserName(pop3, 'pop3'), { ...base, userId: undefined, konnektorId: 'K1' });
  assert.equal(formatKimUserName(base, 'smtp'), 'a@x.kim.telematik#localhost:2110#1#PVS#WP1');
  assert.throws(() => formatKimUserName({ ...base, userId: 'u' }, 'smtp'), KimUserNameError);
});
