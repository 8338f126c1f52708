import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from './config.ts';

test('defaults follow the architecture: ports, dev mode on, data in ./data', () => {
  const c = loadConfig({});
  assert.equal(c.ports.fachdienst, 8080);
  assert.equal(c.ports.practice, 29221);
  assert.equal(c.ports.kim_smtp, 2525);
  assert.equal(c.ports.vzd_ldap, 3389);
  assert.equal(c.dev, true);
  assert.equal(c.urls.idp, 'http://localhost:8081');
  assert.ok(c.dataDir.endsWith('/data'));
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.pkiCurve, 'brainpoolP256r1');
});

test('environment overrides ports, URLs, database and dev mode', () => {
  const c = loadConfig({ ERX_FACHDIENST_PORT: '9000', ERX_DEV: '0', DATABASE_URL: 'postgres://u@h/db', ERX_IDP_URL: 'https://idp.example/' });
  assert.equal(c.ports.fachdienst, 9000);
  assert.equal(c.urls.fachdienst, 'http://localhost:9000');
  assert.equal(c.urls.idp, 'https://idp.example');
  assert.equal(c.dev, false);
  assert.equal(c.databaseUrl, 'postgres://u@h/db');
});

test('production turns dev mode off unless asked for', () => {
  assert.equal(loadConfig({ NODE_ENV: 'production' }).dev, false);
});

test('bad values stop the start with a message naming the variable', () => {
  assert.throws(() => loadConfig({ ERX_FACHDIENST_PORT: 'eighty' }), (e: unknown) => e instanceof ConfigError && /ERX_FACHDIENST_PORT/.test(e.message));
  assert.throws(() => loadConfig({ ERX_WEB_PORT: '70000' }), /out of range/);
  assert.throws(() => loadConfig({ ERX_DEV: 'maybe' }), /ERX_DEV/);
  assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/);
  assert.throws(() => loadConfig({ ERX_IDP_URL: 'not a url' }), /ERX_IDP_URL/);
  assert.throws(() => loadConfig({ ERX_LOG_LEVEL: 'loud' }), /ERX_LOG_LEVEL/);
  assert.throws(() => loadConfig({ ERX_PKI_CURVE: 'secp384r1' }), /ERX_PKI_CURVE/);
});

test('ERX_VSDM_KEY: base64 of 32 bytes, else a clear error; unset by default; ERX_ACCEPT_PN3 off by default', () => {
  const key = Buffer.alloc(32, 7);
  assert.deepEqual(loadConfig({ ERX_VSDM_KEY: key.toString('base64') }).vsdmKey, key);
  assert.equal(loadConfig({}).vsdmKey, undefined);
  assert.throws(() => loadConfig({ ERX_VSDM_KEY: Buffer.alloc(16).toString('base64') }), ConfigError);
  assert.throws(() => loadConfig({ ERX_VSDM_KEY: 'not base64!' }), ConfigError);
  assert.equal(loadConfig({}).acceptPn3, false);
  assert.equal(loadConfig({ ERX_ACCEPT_PN3: '1' }).acceptPn3, true);
});

test('ERX_EGK_FAILURES_PER_DAY: 50 by default, a positive integer, else a clear error', () => {
  assert.equal(loadConfig({}).egkFailuresPerDay, 50);
  assert.equal(loadConfig({ ERX_EGK_FAILURES_PER_DAY: '5' }).egkFailuresPerDay, 5);
  assert.throws(() => loadConfig({ ERX_EGK_FAILURES_PER_DAY: '0' }), /ERX_EGK_FAILURES_PER_DAY/);
  assert.throws(() => loadConfig({ ERX_EGK_FAILURES_PER_DAY: 'many' }), /ERX_EGK_FAILURES_PER_DAY/);
});
