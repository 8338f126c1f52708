import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pkiCommand, pkiDir } from './cli.ts';
import { RevocationRegistry } from './ocsp.ts';
import { loadOrCreatePki, parseCertificate } from './pki.ts';

test('erx pki revoke <card> marks the card revoked; list and revoked show it; bad input exits non-zero', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'erx-cli-'));
  try {
    const pki = await loadOrCreatePki(pkiDir(dataDir));
    const lines: string[] = [];
    const errors: string[] = [];
    const io = { dataDir, out: (l: string) => lines.push(l), err: (l: string) => errors.push(l) };
    assert.equal(await pkiCommand(['revoke', 'insured-weber'], io), 0);
    const serial = parseCertificate(pki.cards['insured-weber'].aut.cert).serial;
    assert.deepEqual(lines, [`revoked ${serial} (keyCompromise)`]);
    assert.equal(new RevocationRegistry(pkiDir(dataDir)).lookup(serial)?.reason, 'keyCompromise');

    lines.length = 0;
    assert.equal(await pkiCommand(['list'], io), 0);
    assert.ok(lines.some((l) => l.startsWith('insured-weber/aut') && l.includes('REVOKED')));
    assert.ok(lines.some((l) => l.startsWith('physician-berger/qes') && l.includes('good')));

    lines.length = 0;
    assert.equal(await pkiCommand(['revoked'], io), 0);
    assert.equal(lines.length, 1);

    assert.equal(await pkiCommand(['revoke', 'nobody'], io), 1);
    assert.match(errors.at(-1)!, /no card, certificate or serial "nobody"/);
    assert.equal(await pkiCommand(['revoke', 'insured-weber', 'because'], io), 2);
    assert.equal(await pkiCommand(['frobnicate'], io), 2);
    assert.match(errors.at(-1)!, /usage:/);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
