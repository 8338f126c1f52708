// Calls to the same-origin API (/api/...): the bearer token added, FHIR errors turned into German messages.
import type { Bundle, OperationOutcome, Resource } from '../../../src/fhir/types.ts';
import { freshToken, type Session } from './session.ts';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function messageOf(status: number, body: unknown): string {
  const outcome = body as OperationOutcome & { message?: string };
  const issue = outcome?.issue?.[0];
  const text = issue?.details?.text ?? issue?.diagnostics ?? outcome?.message;
  if (text) return text;
  if (status === 401) return 'Bitte neu anmelden';
  if (status === 403) return 'Keine Berechtigung';
  if (status === 404) return 'Nicht gefunden';
  if (status === 410) return 'Das Rezept wurde gelöscht';
  return `Fehler ${status}`;
}

export interface Api {
  /** FHIR call to the Fachdienst through /api/fachdienst. */
  fhir<T = Resource>(method: 'GET' | 'POST' | 'DELETE', path: string, options?: { body?: Resource; accessCode?: string }): Promise<{ status: number; body?: T }>;
  /** Any /api path, JSON in and out. */
  json<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

export function createApi(app: string, session: Session): Api {
  async function request(method: string, url: string, headers: Record<string, string>, body?: string) {
    const response = await fetch(url, { method, headers: { ...headers, authorization: `Bearer ${await freshToken(app, session)}` }, body });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) throw new ApiError(response.status, messageOf(response.status, parsed));
    return { status: response.status, body: parsed };
  }
  return {
    async fhir(method, path, options = {}) {
      const headers: Record<string, string> = {};
      if (options.body) headers['content-type'] = 'application/fhir+json';
      if (options.accessCode) headers['x-accesscode'] = options.accessCode;
      const r = await request(method, `/api/fachdienst/${path.replace(/^\//, '')}`, headers, options.body ? JSON.stringify(options.body) : undefined);
      return r as { status: number; body?: never };
    },
    async json(method, path, body) {
      const r = await request(method, path, body === undefined ? {} : { 'content-type': 'application/json' }, body === undefined ? undefined : JSON.stringify(body));
      return r.body as never;
    },
  };
}

/** Resources of one type from a searchset Bundle (skipping included ones). */
export function resourcesOf<T extends Resource>(bundle: Bundle | undefined, type: T['resourceType'], mode: 'match' | 'any' = 'any'): T[] {
  return (bundle?.entry ?? [])
    .filter((e) => e.resource?.resourceType === type && (mode === 'any' || e.search?.mode !== 'include'))
    .map((e) => e.resource as T);
}

/** A `next` link of the Fachdienst as a path for /api/fachdienst. */
export function nextPath(bundle: Bundle | undefined): string | undefined {
  const next = bundle?.link?.find((l) => l.relation === 'next')?.url;
  if (!next) return undefined;
  try {
    const url = new URL(next);
    return url.pathname.replace(/^\//, '') + url.search;
  } catch {
    return undefined;
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
