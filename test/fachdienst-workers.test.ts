// `erx serve fachdienst` with ERX_FACHDIENST_WORKERS=2 on PostgreSQL: two worker processes answer on one port,
// a worker killed by SIGKILL is replaced while the other keeps serving; several workers on PGlite are refused.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findPostgresBin, POSTGRES_SKIP_REASON, startTestPostgres, type TestPostgres } from '../src/storage/test-postgres.ts';
import { startFachdienstProcess, startIdp, type FachdienstProcess, type Idp } from '../src/fachdienst/testing-process.ts';
import { createParameters } from '../src/fachdienst/testing.ts';

function childrenOf(pid: number): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] === String(pid);
    } catch {
      return false;
    }
  }).map(Number);
}

describe('Fachdienst workers', { skip: findPostgresBin() ? false : POSTGRES_SKIP_REASON }, () => {
  let root: string;
  let idp: Idp;
  let pg: TestPostgres;
  let fd: FachdienstProcess;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'erx-workers-'));
    idp = await startIdp(root);
    pg = (await startTestPostgres())!;
    fd = await startFachdienstProcess({ dataDir: root, idpUrl: idp.url, databaseUrl: pg.url, workers: 2 });
  });
  after(async () => {
    await fd?.stop();
    await idp?.stop();
    await pg?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('two workers share the port; a killed worker is replaced and requests keep being served', async () => {
    const workers = childrenOf(fd.child.pid!);
    assert.equal(workers.length, 2, `workers: ${workers}`);
    const token = await idp.token('practice-demopraxis');
    const create = async () => (await fetch(`${fd.url}/Task/$create`, {
      method: 'POST', signal: AbortSignal.timeout(5_000),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json', connection: 'close' },
      body: JSON.stringify(createParameters('160')),
    })).status;
    const statuses = await Promise.all(Array.from({ length: 20 }, create));
    assert.deepEqual(new Set(statuses), new Set([201]));
    process.kill(workers[0], 'SIGKILL');
    // A connection the primary handed to the worker as it died is lost (node:cluster): clients retry once.
    const createWithRetry = async () => create().catch(() => create());
    for (let i = 0; i < 10; i++) assert.equal(await createWithRetry(), 201, 'the other worker serves');
    const deadline = Date.now() + 30_000;
    let now = childrenOf(fd.child.pid!);
    while ((now.length !== 2 || now.includes(workers[0])) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      now = childrenOf(fd.child.pid!);
    }
    assert.equal(now.length, 2, 'replacement worker started');
    assert.ok(!now.includes(workers[0]));
    assert.equal(await create(), 201);
  });

  test('several workers without DATABASE_URL are a configuration error', () => {
    const r = spawnSync(process.execPath, ['bin/erx.mjs', 'serve', 'fachdienst'], {
      cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8', timeout: 60_000,
      env: { ...process.env, DATABASE_URL: '', ERX_DATA_DIR: root, ERX_FACHDIENST_WORKERS: '2', ERX_FACHDIENST_PORT: '0', ERX_IDP_URL: idp.url },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /ERX_FACHDIENST_WORKERS=2 needs DATABASE_URL/);
  });
});
