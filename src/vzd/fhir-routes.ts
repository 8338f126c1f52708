// The FHIR-Directory search API of the simulated VZD (what the insured app and practice use to find pharmacies):
// GET /<Type>?… -> searchset Bundle with total, self/next/previous links and _include; GET /<Type>/<id>.
// Registered on a server made by createFhirServer (reply.fhir, OperationOutcome errors, XML/JSON negotiation).
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { FhirError } from '../fhir/errors.ts';
import type { Bundle, BundleEntry, Resource } from '../fhir/types.ts';
import { seededDirectory, type Directory, type DirectoryEntry } from './directory.ts';
import {
  DIRECTORY_RESOURCE_TYPES, endpointOf, institutionOf, locationOf, organizationOf, resourceOf, type DirectoryResourceType,
} from './fhir-resources.ts';
import { applyCriteria, parseCriteria, type Candidate } from './fhir-search.ts';

export const DEFAULT_COUNT = 20;
export const MAX_COUNT = 100;

export interface VzdFhirOptions {
  directory?: Directory;
  /** Base URL for fullUrl and links; default: from the request's Host. */
  baseUrl?: string;
}

type Query = Record<string, string | string[] | undefined>;

/** Drops undefined members, so optional fields never reach the serialiser. */
function compact<T>(value: T): T {
  if (Array.isArray(value)) return value.map(compact) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = compact(v);
    return out as T;
  }
  return value;
}

/** What `_include` may name per type, and how to find the included resources of a match. */
const INCLUDES: Record<DirectoryResourceType, Record<string, (e: DirectoryEntry, d: Directory) => Resource | undefined>> = {
  HealthcareService: {
    'HealthcareService:organization': (e) => organizationOf(e),
    'HealthcareService:location': (e) => locationOf(e),
    'HealthcareService:endpoint': (e) => endpointOf(e),
  },
  PractitionerRole: {
    'PractitionerRole:organization': (e, d) => { const i = institutionOf(e, d); return i && organizationOf(i); },
    'PractitionerRole:location': (e, d) => { const i = institutionOf(e, d); return i && locationOf(i); },
    'PractitionerRole:endpoint': (e) => endpointOf(e),
  },
  Organization: { 'Organization:endpoint': (e) => endpointOf(e) },
  Location: { 'Location:organization': (e) => organizationOf(e) },
  Endpoint: { 'Endpoint:organization': (e) => (e.kind === 'organization' ? organizationOf(e) : undefined) },
};

function values(query: Query, key: string): string[] {
  const v = query[key];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function integerParam(query: Query, key: string, min: number): number | undefined {
  const raw = values(query, key).at(-1);
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min) {
    throw new FhirError(400, `${key}=${raw} ist keine ganze Zahl ≥ ${min}`, { code: 'invalid', expression: [key] });
  }
  return Number(raw);
}

function includesOf(type: DirectoryResourceType, query: Query): string[] {
  const allowed = INCLUDES[type];
  const out: string[] = [];
  for (const inc of values(query, '_include').flatMap((v) => v.split(','))) {
    if (inc === '') continue;
    if (inc === '*') out.push(...Object.keys(allowed));
    else if (allowed[inc]) out.push(inc);
    else throw new FhirError(400, `_include=${inc} wird für ${type} nicht unterstützt`, { code: 'not-supported', expression: ['_include'] });
  }
  return [...new Set(out)];
}

function baseUrlOf(request: FastifyRequest, configured?: string): string {
  if (configured) return configured.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

/** The request's query string with the paging position replaced (keeps the client's own parameters and order). */
function pageLink(base: string, type: string, rawUrl: string, offset: number, count: number): string {
  const q = rawUrl.indexOf('?');
  const params = new URLSearchParams(q >= 0 ? rawUrl.slice(q + 1) : '');
  params.delete('_offset');
  params.delete('page');
  params.set('_count', String(count));
  if (offset > 0) params.set('_offset', String(offset));
  return `${base}/${type}?${params.toString()}`;
}

/** All resources of a type, each with the entry it derives from (built once; the directory's FHIR view is static). */
function buildIndex(directory: Directory): Record<DirectoryResourceType, Candidate[]> {
  const index = {} as Record<DirectoryResourceType, Candidate[]>;
  for (const type of DIRECTORY_RESOURCE_TYPES) {
    index[type] = [];
    for (const entry of directory.entries) {
      const resource = resourceOf(entry, type, directory);
      if (resource) index[type].push({ entry, resource: compact(resource) });
    }
  }
  return index;
}

export function searchDirectory(
  directory: Directory,
  index: Record<DirectoryResourceType, Candidate[]>,
  type: DirectoryResourceType,
  query: Query,
  links: { base: string; rawUrl: string },
): Bundle {
  const criteria = parseCriteria(type, query);
  const includes = includesOf(type, query);
  const summary = values(query, '_summary').at(-1);
  if (summary !== undefined && summary !== 'count' && summary !== 'false') {
    throw new FhirError(400, `_summary=${summary} wird nicht unterstützt (count, false)`, { code: 'not-supported', expression: ['_summary'] });
  }
  const count = Math.min(integerParam(query, '_count', 0) ?? DEFAULT_COUNT, MAX_COUNT);
  const page = integerParam(query, 'page', 1);
  const offset = integerParam(query, '_offset', 0) ?? (page ? (page - 1) * count : 0);

  const matches = applyCriteria(type, index[type], criteria, directory);
  const total = matches.length;
  const bundle: Bundle = {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    total,
    link: [{ relation: 'self', url: pageLink(links.base, type, links.rawUrl, offset, count) }],
  };
  if (summary === 'count' || count === 0) return bundle;

  const pageMatches = matches.slice(offset, offset + count);
  if (offset + count < total) bundle.link!.push({ relation: 'next', url: pageLink(links.base, type, links.rawUrl, offset + count, count) });
  if (offset > 0) bundle.link!.push({ relation: 'previous', url: pageLink(links.base, type, links.rawUrl, Math.max(0, offset - count), count) });

  const entries: BundleEntry[] = pageMatches.map((m) => ({
    fullUrl: `${links.base}/${type}/${m.resource.id}`,
    resource: m.resource,
    search: { mode: 'match' },
  }));
  const seen = new Set(pageMatches.map((m) => `${type}/${m.resource.id}`));
  for (const m of pageMatches) {
    for (const inc of includes) {
      const found = INCLUDES[type][inc](m.entry, directory);
      if (!found) continue;
      const key = `${found.resourceType}/${found.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      entries.push({ fullUrl: `${links.base}/${key}`, resource: compact(found), search: { mode: 'include' } });
    }
  }
  if (entries.length) bundle.entry = entries;
  return bundle;
}

/** Fastify plugin: the directory search routes. */
export const vzdFhirRoutes: FastifyPluginAsync<VzdFhirOptions> = async (app: FastifyInstance, options: VzdFhirOptions) => {
  const directory = options.directory ?? seededDirectory;
  const index = buildIndex(directory);
  const byId = new Map<string, Resource>();
  for (const type of DIRECTORY_RESOURCE_TYPES) for (const c of index[type]) byId.set(`${type}/${c.resource.id}`, c.resource);

  for (const type of DIRECTORY_RESOURCE_TYPES) {
    app.get(`/${type}`, async (request, reply) => {
      const bundle = searchDirectory(directory, index, type, request.query as Query, {
        base: baseUrlOf(request, options.baseUrl),
        rawUrl: request.url,
      });
      return reply.fhir(bundle);
    });
    app.get<{ Params: { id: string } }>(`/${type}/:id`, async (request, reply) => {
      const resource = byId.get(`${type}/${request.params.id}`);
      if (!resource) throw new FhirError(404, `${type}/${request.params.id} gibt es nicht`, { code: 'not-found' });
      return reply.fhir(resource);
    });
  }
};
