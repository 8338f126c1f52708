// GET /Task: the pharmacy's eGK variant in get-tasks-egk.ts. The insured's own Tasks (KVNR from the token), filtered by status / authored-on / modified, sorted,
// paged with _count / __offset and a next link. No bundles, no receipts; no AccessCode for 169/209.
import type { FastifyInstance } from 'fastify';
import { badRequest, forbidden } from '../../fhir/errors.ts';
import { requireRole } from '../auth.ts';
import type { FachdienstContext } from '../context.ts';
import { getTasksWithEgk, isEgkQuery } from './get-tasks-egk.ts';
import { pagingOf, parseDateFilter, queryValues, searchsetBundle } from '../search.ts';
import { entry, renderTask } from '../task-resource.ts';
import type { TaskQuery } from '../task-store.ts';
import { TASK_STATUSES, type TaskStatus } from '../task-state.ts';

export const TASK_PAGE_SIZE = 50;

const SORT_FIELDS: Record<string, 'authored_on' | 'last_modified'> = { 'authored-on': 'authored_on', modified: 'last_modified' };

export function registerGetTasks(app: FastifyInstance, ctx: FachdienstContext): void {
  app.get('/Task', async (request, reply) => {
    const caller = requireRole(request, ['insured', 'pharmacy']);
    // The pharmacy lists an insured's Tasks only with the eGK's proof of presence; the insured never with one.
    if (caller.role === 'pharmacy') return getTasksWithEgk(request, reply, ctx, caller);
    if (isEgkQuery(request)) throw forbidden('Der Abruf mit eGK-Prüfungsnachweis (kvnr, hcv, pnw) ist Apotheken vorbehalten');
    const query: TaskQuery = { kvnr: caller.id, ...pagingOf(request, TASK_PAGE_SIZE) };
    const statuses = queryValues(request, 'status').flatMap((s) => s.split(','));
    for (const s of statuses) if (!TASK_STATUSES.includes(s as TaskStatus)) throw badRequest(`Ungültiger Status ${s}`);
    if (statuses.length) query.status = statuses as TaskStatus[];
    query.authoredOn = queryValues(request, 'authored-on').map((v) => parseDateFilter('authored-on', v));
    query.lastModified = queryValues(request, 'modified').map((v) => parseDateFilter('modified', v));
    const sort = queryValues(request, '_sort')[0];
    if (sort) {
      const descending = sort.startsWith('-');
      const field = SORT_FIELDS[sort.replace(/^-/, '')];
      if (!field) throw badRequest(`_sort=${sort} wird nicht unterstützt (authored-on, modified)`);
      query.sort = { field, descending };
    }
    const { tasks, more } = await ctx.store.listTasks(query);
    const entries = tasks.map((t) => entry(`${ctx.baseUrl}/Task/${t.id}`, renderTask(t, { view: 'insured' })));
    return reply.fhir(searchsetBundle(request, ctx.baseUrl, '/Task', entries, { count: query.count, offset: query.offset }, more, ctx.now()));
  });
}
