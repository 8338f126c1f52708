import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config.ts';
import { adoptActualPorts } from './erx.ts';
import { loadOrCreatePki } from '../crypto/pki.ts';

const bin = new URL('../../bin/erx.mjs', import.meta.url).pathname;

function erx(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
}

test('erx help lists the commands and every service', () => {
  const r = erx(['help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /erx start/);
  assert.match(r.stdout, /start one service \(idp, konnektor, vzd, kim, fachdienst/);
});

test('an unknown service or command exits 2 with a clear message', () => {
  const r = erx(['serve', 'nope']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown service nope; one of: idp, konnektor/);
  assert.equal(erx(['frobnicate']).status, 2);
});

test('a bad configuration value stops the start naming the variable, without a stack trace', () => {
  const r = erx(['start'], { ERX_FACHDIENST_PORT: 'eighty' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /configuration error: ERX_FACHDIENST_PORT=eighty is not a whole number/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('erx pki revoke revokes every certificate of a card in one command', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'erx-cli-'));
  try {
    await loadOrCreatePki(join(dataDir, 'pki')); // as the first `erx start` does
    const r = erx(['pki', 'revoke', 'pharmacy-gendarmenmarkt'], { ERX_DATA_DIR: dataDir });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.stdout.trim().split('\n').filter((l) => l.startsWith('revoked ')).length >= 2);
    const list = erx(['pki', 'revoked'], { ERX_DATA_DIR: dataDir });
    assert.match(list.stdout, /keyCompromise/);
    assert.notEqual(erx(['pki', 'revoke', 'no-such-card'], { ERX_DATA_DIR: dataDir }).status, 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('services started on port 0 publish their actual ports to the shared config', () => {
  const config = loadConfig({ ERX_IDP_PORT: '0', ERX_KIM_SMTP_PORT: '0', ERX_VZD_LDAP_PORT: '0', ERX_FACHDIENST_PORT: '8080' });
  adoptActualPorts(config, { name: 'idp', urls: ['http://localhost:41234'], stop: async () => {} });
  adoptActualPorts(config, { name: 'kim', urls: ['smtp://127.0.0.1:42525', 'pop3://127.0.0.1:42110'], stop: async () => {} });
  adoptActualPorts(config, { name: 'vzd', urls: ['http://127.0.0.1:8083', 'ldap://127.0.0.1:43389'], stop: async () => {} });
  adoptActualPorts(config, { name: 'fachdienst', urls: ['http://localhost:9999'], stop: async () => {} });
  assert.equal(config.urls.idp, 'http://localhost:41234');
  assert.equal(config.ports.kim_smtp, 42525);
  assert.equal(config.ports.kim_pop3, 2110, 'a fixed port stays as configured');
  assert.equal(config.ports.vzd_ldap, 43389);
  assert.equal(config.urls.fachdienst, 'http://localhost:8080', 'a fixed port is not overwritten');
});

test('erx example-bundle prints a KBV bundle a third party can hand to $createerptask', () => {
  const r = erx(['example-bundle', 'A123456780']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^<Bundle xmlns="http:\/\/hl7.org\/fhir">/);
  assert.match(r.stdout, /KBV_PR_ERP_Bundle\|1\.3/);
  assert.match(r.stdout, /<value value="A123456780"\/>/);
  assert.equal(erx(['example-bundle', 'X000000000']).status, 2);
});
