// The crash test: a real child process (practice + Fachdienst on PostgreSQL, or a PGlite data directory when no
// postgres binary exists) is killed with SIGKILL in the middle of a 100-request batch. After a restart: no request
// lost, none activated twice at the Fachdienst, the rest finished by the next $processerp.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { toXml } from '../fhir/codec.ts';
import { openDatabase } from '../storage/database.ts';
import { findPostgresBin, startTestPostgres, type TestPostgres } from '../storage/test-postgres.ts';
import { requestBundle, TENANT } from './testing.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const TOTAL = 100;

let dir: string;
let postgres: TestPostgres | undefined;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'practice-crash-'));
  if (findPostgresBin()) postgres = await startTestPostgres();
});
after(async () => {
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function dbOptions() {
  return postgres ? { databaseUrl: postgres.url } : { dataDir: join(dir, 'data') };
}

async function startChild(claimLeaseMs: number): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ ...dbOptions(), pkiDir: dir, claimLeaseMs, activateDelayMs: 40 })], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
  });
  return { child, base: `http://127.0.0.1:${JSON.parse(line).port}/${TENANT}` };
}

async function statuses(base: string): Promise<Record<string, string>> {
  const res = await fetch(`${base}/ui/requests`, { headers: { accept: 'application/json' } });
  assert.equal(res.status, 200);
  return Object.fromEntries(((await res.json()) as { id: string; status: string }[]).map((r) => [r.id, r.status]));
}

async function kill(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

test('SIGKILL in the middle of a 100-request batch: nothing lost, nothing activated twice, rest finished after restart', { timeout: 180_000 }, async () => {
  let { child, base } = await startChild(120_000);
  try {
    const ids: string[] = [];
    for (let i = 0; i < TOTAL; i += 10) {
      await Promise.all(Array.from({ length: 10 }, async () => {
        const bundle = requestBundle();
        const res = await fetch(`${base}/TI?action=$createerptask`, { method: 'POST', headers: { 'content-type': 'application/fhir+xml' }, body: toXml(bundle) });
        assert.equal(res.status, 201);
        ids.push(bundle.entry!.find((e) => e.resource?.resourceType === 'MedicationRequest')!.resource!.id!);
      }));
    }
    // Start the batch and kill the process once the first activations are recorded.
    fetch(`${base}/TI?action=$processerp`).catch(() => undefined);
    for (;;) {
      const done = Object.values(await statuses(base)).filter((s) => s === 'done').length;
      if (done >= 5) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await kill(child, 'SIGKILL');

    // Restart; claims of the dead process count as abandoned at once (lease 0).
    ({ child, base } = await startChild(0));
    const afterCrash = await statuses(base);
    assert.equal(Object.keys(afterCrash).length, TOTAL, 'no request lost');
    const doneAtCrash = Object.values(afterCrash).filter((s) => s === 'done').length;
    assert.ok(doneAtCrash > 0 && doneAtCrash < TOTAL, `killed mid-batch (${doneAtCrash} done)`);
    assert.ok(Object.values(afterCrash).some((s) => s === 'signing'), 'some requests were left claimed by the dead process');

    const res = await fetch(`${base}/TI?action=$processerp`);
    assert.equal(res.status, 200);
    const final = await statuses(base);
    assert.deepEqual(new Set(Object.values(final)), new Set(['done']));
    await kill(child, 'SIGTERM');

    // At the Fachdienst: every request's Task is ready and was activated exactly once.
    const database = await openDatabase(dbOptions());
    try {
      const rows = await database.db.selectFrom('practice_request').select(['id', 'prescription_id']).where('tenant', '=', TENANT).execute();
      assert.deepEqual(new Set(rows.map((r) => r.id)), new Set(ids));
      const pids = rows.map((r) => r.prescription_id as string);
      assert.equal(new Set(pids).size, TOTAL);
      const tasks = await database.db.selectFrom('fachdienst_task').select(['id', 'status']).where('id', 'in', pids).execute();
      assert.equal(tasks.length, TOTAL);
      assert.ok(tasks.every((t) => t.status === 'ready'));
      const audits = await database.db.selectFrom('fachdienst_audit_event').select(['prescription_id', (eb) => eb.fn.countAll<number>().as('n')])
        .where('prescription_id', 'in', pids).groupBy('prescription_id').execute();
      assert.equal(audits.length, TOTAL);
      assert.ok(audits.every((a) => Number(a.n) === 1), 'one activation per Task');
    } finally {
      await database.close();
    }
  } finally {
    await kill(child, 'SIGKILL');
  }
});
