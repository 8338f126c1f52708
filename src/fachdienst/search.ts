// FHIR search parameters the Fachdienst's lists share: date filters with prefixes, _count / __offset paging
// with `next` links, and searchset Bundles.
import type { FastifyRequest } from 'fastify';
import { badRequest } from '../fhir/errors.ts';
import type { Bundle, BundleEntry } from '../fhir/types.ts';
import type { DateFilter } from './task-store.ts';
import { instant } from './task-resource.ts';

const PREFIXES: Record<string, DateFilter['op']> = { eq: '=', ne: '<>', lt: '<', le: '<=', gt: '>', ge: '>=', sa: '>', eb: '<' };

/** All values of a query parameter (fastify gives an array for repeats). */
export function queryValues(request: FastifyRequest, name: string): string[] {
  const v = (request.query as Record<string, unknown> | undefined)?.[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

/** `ge2025-01-01`, `2025-01-15T10:00:00+01:00`, … -> the range the value covers and the comparison. */
export function parseDateFilter(name: string, raw: string): DateFilter {
  const m = /^(eq|ne|lt|le|gt|ge|sa|eb)?(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(raw);
  if (!m) throw badRequest(`Ungültiger Datumswert ${name}=${raw}`);
  const [, prefix, y, mo, d, h, mi, s, zone] = m;
  const op = PREFIXES[prefix ?? 'eq'];
  if (h !== undefined) {
    // Times without zone are German local time (gematik: searches in German time); we take +01:00/+02:00 via Intl.
    const iso = `${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}`;
    const start = zone ? new Date(`${iso}${zone === 'Z' ? 'Z' : zone}`) : berlinLocal(iso);
    const end = new Date(start.getTime() + (s !== undefined ? 1000 : 60_000));
    if (Number.isNaN(start.getTime())) throw badRequest(`Ungültiger Datumswert ${name}=${raw}`);
    return { op, start, end };
  }
  // A day, month or year: German calendar days.
  const startDay = `${y}-${mo ?? '01'}-${d ?? '01'}`;
  const start = berlinLocal(`${startDay}T00:00:00`);
  const endDate = new Date(`${startDay}T00:00:00Z`);
  if (d !== undefined) endDate.setUTCDate(endDate.getUTCDate() + 1);
  else if (mo !== undefined) endDate.setUTCMonth(endDate.getUTCMonth() + 1);
  else endDate.setUTCFullYear(endDate.getUTCFullYear() + 1);
  const end = berlinLocal(`${endDate.toISOString().slice(0, 10)}T00:00:00`);
  if (Number.isNaN(start.getTime())) throw badRequest(`Ungültiger Datumswert ${name}=${raw}`);
  return { op, start, end };
}

/** The instant of a wall-clock time in Europe/Berlin. */
export function berlinLocal(iso: string): Date {
  const asUtc = new Date(`${iso}Z`);
  const offset = berlinOffsetMinutes(asUtc);
  const guess = new Date(asUtc.getTime() - offset * 60_000);
  // around the DST switch the offset at the guessed instant may differ
  const offset2 = berlinOffsetMinutes(guess);
  return offset2 === offset ? guess : new Date(asUtc.getTime() - offset2 * 60_000);
}

function berlinOffsetMinutes(date: Date): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: 'Europe/Berlin', timeZoneName: 'longOffset' }).formatToParts(date);
  const name = parts.find((p) => p.type === 'timeZoneName')?.value ?? 'GMT+01:00';
  const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

export interface Paging {
  count: number;
  offset: number;
}

export function pagingOf(request: FastifyRequest, defaultCount: number, maxCount = defaultCount): Paging {
  const rawCount = queryValues(request, '_count')[0];
  const rawOffset = queryValues(request, '__offset')[0];
  let count = defaultCount;
  if (rawCount !== undefined) {
    if (!/^\d+$/.test(rawCount) || Number(rawCount) < 1) throw badRequest(`Ungültiger Wert _count=${rawCount}`);
    count = Math.min(Number(rawCount), maxCount);
  }
  let offset = 0;
  if (rawOffset !== undefined) {
    if (!/^\d+$/.test(rawOffset)) throw badRequest(`Ungültiger Wert __offset=${rawOffset}`);
    offset = Number(rawOffset);
  }
  return { count, offset };
}

/** searchset Bundle with self and, when more results exist, next (and prev) links keeping the other parameters. */
export function searchsetBundle(request: FastifyRequest, baseUrl: string, path: string, entries: BundleEntry[], paging: Paging, more: boolean, now: Date): Bundle {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries((request.query as Record<string, unknown>) ?? {})) {
    if (key === '__offset' || key === '_count') continue;
    for (const v of Array.isArray(value) ? value : [value]) if (typeof v === 'string') params.append(key, v);
  }
  const url = (offset: number) => {
    const p = new URLSearchParams(params);
    p.set('_count', String(paging.count));
    p.set('__offset', String(offset));
    return `${baseUrl}${path}?${p.toString()}`;
  };
  const link: NonNullable<Bundle['link']> = [{ relation: 'self', url: url(paging.offset) }];
  if (more) link.push({ relation: 'next', url: url(paging.offset + paging.count) });
  if (paging.offset > 0) link.push({ relation: 'prev', url: url(Math.max(0, paging.offset - paging.count)) });
  const bundle: Bundle = { resourceType: 'Bundle', id: crypto.randomUUID(), meta: { lastUpdated: instant(now) }, type: 'searchset', link };
  // FHIR forbids empty arrays: an empty result has no `entry` at all
  if (entries.length) bundle.entry = entries.map((e) => ({ ...e, search: e.search ?? { mode: 'match' } }));
  return bundle;
}
