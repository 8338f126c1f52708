// SIGKILL of a real Fachdienst process (`erx serve fachdienst`) in the middle of a burst of $activate and of $close,
// then a restart on the same database: no acknowledged write is lost, no Task is activated or closed twice, no
// record is half written; the requests that were cut off can be retried and each Task ends in one state.
// Runs on PostgreSQL and on a PGlite data directory.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '../src/storage/database.ts';
import { findPostgresBin, startTestPostgres, type TestPostgres } from '../src/storage/test-postgres.ts';
import { startFachdienstProcess, startIdp, type FachdienstProcess, type Idp } from '../src/fachdienst/testing-process.ts';
import { activateParameters, createParameters, signPrescription } from '../src/fachdienst/testing.ts';
import { NS } from '../src/fachdienst/task-resource.ts';
import { pharmacies } from '../src/seed/identities.ts';
import type { Resource } from '../src/fhir/types.ts';

const TASKS = 40;
const KILL_AFTER = 8;
const PHARMACY = pharmacies[0];

interface Handle { id: string; accessCode: string; secret?: string; cms: string }

for (const engine of ['postgres', 'pglite'] as const) {
  describe(`SIGKILL during $activate and $close [${engine}]`, { skip: engine === 'postgres' && !findPostgresBin() ? 'no postgres binary' : false }, () => {
    let root: string;
    let idp: Idp;
    let pg: TestPostgres | undefined;
    let fd: FachdienstProcess | undefined;
    before(async () => {
      root = mkdtempSync(join(tmpdir(), 'erx-kill-'));
      idp = await startIdp(root);
      if (engine === 'postgres') pg = await startTestPostgres();
    });
    after(async () => {
      await fd?.stop();
      await idp?.stop();
      await pg?.stop();
      rmSync(root, { recursive: true, force: true });
    });

    const start = async () => {
      fd = await startFachdienstProcess({ dataDir: root, idpUrl: idp.url, databaseUrl: pg?.url });
      return fd;
    };
    /** The database as the Fachdienst left it (PGlite: only while no Fachdienst process has it open). */
    const withDatabase = async <T>(fn: (db: Database) => Promise<T>): Promise<T> => {
      const db = await openDatabase(pg ? { databaseUrl: pg.url } : { dataDir: root });
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    };
    const post = async (token: string, path: string, body?: Resource, headers: Record<string, string> = {}) => {
      const res = await fetch(`${fd!.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(body ? { 'content-type': 'application/fhir+json' } : {}), ...headers },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: await res.json().catch(() => undefined) as any };
    };
    const idOf = (task: any, system: string) => task.identifier.find((i: any) => i.system === system)?.value as string;

    /** Fires `calls` with some concurrency and SIGKILLs the process once `killAfter` were acknowledged. */
    async function burstAndKill(handles: Handle[], call: (h: Handle) => Promise<{ status: number }>, killAfter: number) {
      const acked: Handle[] = [];
      const cut: Handle[] = [];
      let killed = false;
      const proc = fd!;
      await Promise.all(handles.map(async (h, i) => {
        await new Promise((r) => setTimeout(r, i * 3)); // a steady stream rather than one burst
        if (killed) return cut.push(h);
        try {
          const res = await call(h);
          if (res.status === 200) acked.push(h);
          else cut.push(h);
        } catch {
          cut.push(h); // connection reset: no answer
        }
        if (!killed && acked.length >= killAfter) {
          killed = true;
          proc.child.kill('SIGKILL');
        }
      }));
      const exit = await proc.exited;
      assert.equal(exit.signal, 'SIGKILL');
      return { acked, cut };
    }

    test('no acknowledged write lost, none twice, none half written; retries finish every Task', async () => {
      await start();
      const practice = await idp.token('practice-demopraxis');
      const pharmacy = await idp.token(PHARMACY.id);
      const qes = idp.pki.cards['physician-berger'].qes!;
      const handles: Handle[] = [];
      for (let i = 0; i < TASKS; i++) {
        const created = await post(practice, '/Task/$create', createParameters('160'));
        assert.equal(created.status, 201);
        handles.push({ id: created.body.id, accessCode: idOf(created.body, NS.accessCode), cms: signPrescription(qes, created.body.id, '160') });
      }

      // --- $activate, killed mid-way ---
      const activate = (h: Handle) => post(practice, `/Task/${h.id}/$activate`, activateParameters(h.cms), { 'x-accesscode': h.accessCode });
      const a = await burstAndKill(handles, activate, KILL_AFTER);
      assert.ok(a.acked.length >= KILL_AFTER && a.cut.length > 0, `acked ${a.acked.length}, cut ${a.cut.length}`);
      await withDatabase(async (db) => {
        const rows = await db.db.selectFrom('fachdienst_task').selectAll().where('id', 'in', handles.map((h) => h.id)).execute();
        const audits = await db.db.selectFrom('fachdienst_audit_event').select(['prescription_id']).where('kind', '=', 'activate').execute();
        for (const row of rows) {
          const n = audits.filter((x) => x.prescription_id === row.id).length;
          if (row.status === 'ready') {
            assert.ok(row.prescription_cms && row.kvnr && row.prescription_digest && row.bundle && row.expiry_date, `ready Task ${row.id} complete`);
            assert.equal(n, 1, `one activate AuditEvent for ${row.id}`);
          } else {
            assert.equal(row.status, 'draft');
            assert.ok(!row.prescription_cms && !row.kvnr && !row.bundle, `draft Task ${row.id} untouched`);
            assert.equal(n, 0);
          }
        }
        for (const h of a.acked) assert.equal(rows.find((r) => r.id === h.id)?.status, 'ready', `acknowledged activate of ${h.id} kept`);
      });
      await start();
      for (const h of a.cut) {
        const retry = await activate(h);
        // not committed before the kill: activates now; committed but unanswered: refused as no longer draft
        assert.ok(retry.status === 200 || retry.status === 403, `retry ${h.id}: ${retry.status} ${JSON.stringify(retry.body)}`);
      }
      for (const h of handles) {
        const accepted = await post(pharmacy, `/Task/${h.id}/$accept?ac=${h.accessCode}`);
        assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
        h.secret = idOf(accepted.body.entry[0].resource, NS.secret);
      }

      // --- $close, killed mid-way ---
      const dispense = (h: Handle): Resource => ({
        resourceType: 'Parameters',
        parameter: [{ name: 'rxDispensation', part: [
          { name: 'medicationDispense', resource: {
            resourceType: 'MedicationDispense', id: 'md-1', identifier: [{ system: NS.prescriptionId, value: h.id }], status: 'completed',
            subject: { identifier: { system: NS.kvnr, value: 'X110614233' } },
            performer: [{ actor: { identifier: { system: NS.telematikId, value: PHARMACY.telematikId } } }],
            whenHandedOver: new Date().toISOString().slice(0, 10), medicationReference: { reference: 'Medication/med-1' },
          } },
          { name: 'medication', resource: { resourceType: 'Medication', id: 'med-1', code: { coding: [{ system: 'http://fhir.de/CodeSystem/ifa/pzn', code: '06313728' }] } } },
        ] }],
      } as Resource);
      const close = (h: Handle) => post(pharmacy, `/Task/${h.id}/$close?secret=${h.secret}`, dispense(h));
      const c = await burstAndKill(handles, close, KILL_AFTER);
      assert.ok(c.acked.length >= KILL_AFTER && c.cut.length > 0, `acked ${c.acked.length}, cut ${c.cut.length}`);
      await withDatabase(async (db) => {
        const rows = await db.db.selectFrom('fachdienst_task').selectAll().where('id', 'in', handles.map((h) => h.id)).execute();
        const audits = await db.db.selectFrom('fachdienst_audit_event').select(['prescription_id', 'kind']).where('kind', 'in', ['activate', 'close']).execute();
        const dispenses = await db.db.selectFrom('fachdienst_medication_dispense').select(['prescription_id']).execute();
        for (const row of rows) {
          const closes = audits.filter((x) => x.prescription_id === row.id && x.kind === 'close').length;
          assert.equal(audits.filter((x) => x.prescription_id === row.id && x.kind === 'activate').length, 1, `activated once: ${row.id}`);
          const md = dispenses.filter((d) => d.prescription_id === row.id).length;
          if (row.status === 'completed') {
            assert.ok(row.receipt && row.closed_at, `completed Task ${row.id} has its receipt`);
            assert.equal(closes, 1);
            assert.equal(md, 1);
          } else {
            assert.equal(row.status, 'in-progress');
            assert.ok(!row.receipt && !row.closed_at, `in-progress Task ${row.id} untouched`);
            assert.equal(closes, 0);
            assert.equal(md, 0);
          }
        }
        for (const h of c.acked) assert.equal(rows.find((r) => r.id === h.id)?.status, 'completed', `acknowledged close of ${h.id} kept`);
      });
      await start();
      for (const h of c.cut) {
        const retry = await close(h);
        assert.ok(retry.status === 200 || retry.status === 403, `retry close ${h.id}: ${retry.status} ${JSON.stringify(retry.body)}`);
      }
      await fd!.stop();
      fd = undefined;
      await withDatabase(async (db) => {
        const rows = await db.db.selectFrom('fachdienst_task').select(['id', 'status']).where('id', 'in', handles.map((h) => h.id)).execute();
        assert.deepEqual(new Set(rows.map((r) => r.status)), new Set(['completed']));
        const closes = await db.db.selectFrom('fachdienst_audit_event').select(['prescription_id']).where('kind', '=', 'close').execute();
        for (const h of handles) assert.equal(closes.filter((x) => x.prescription_id === h.id).length, 1, `closed once: ${h.id}`);
      });
    });
  });
}
