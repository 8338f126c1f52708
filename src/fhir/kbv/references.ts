// Bundle entry bookkeeping for document bundles: fullUrl/id rules (FD 253/254) and reference resolution
// (FHIR R4 §Bundle "Resolving references in Bundles").
import { FhirError } from '../errors.ts';
import type { Bundle, Resource } from '../types.ts';

export type WarningCode = 252 | 253 | 254;
export interface BundleWarning {
  code: WarningCode;
  text: string;
}

export interface IndexedEntry<R extends Resource = Resource> {
  index: number;
  fullUrl: string;
  resource: R;
}

const UUID = /^urn:uuid:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;
// Absolute RESTful URL: base + /Type/id (the id rule of FHIR: [A-Za-z0-9\-\.]{1,64}).
const RESTFUL = /^(https?:\/\/[^\s]+\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

const invalid = (message: string, expression: string) => new FhirError(400, message, { code: 'invalid', expression: [expression] });

/**
 * Indexes the entries, rejecting what the FD rejects (missing resource/id/fullUrl, urn:oid, duplicates) and
 * collecting what it only warns about: 253 fullUrl id != resource id, 254 fullUrl not urn:uuid or RESTful.
 */
export function indexEntries(bundle: Bundle): { entries: IndexedEntry[]; warnings: BundleWarning[] } {
  const warnings: BundleWarning[] = [];
  const entries: IndexedEntry[] = [];
  const seen = new Set<string>();
  (bundle.entry ?? []).forEach((entry, index) => {
    const at = `Bundle.entry[${index}]`;
    const resource = entry.resource;
    if (!resource || typeof resource !== 'object') throw invalid(`${at}.resource fehlt`, `${at}.resource`);
    if (!resource.id) throw invalid(`Ressource ohne id: jede Ressource im Bundle braucht eine id (${at}.resource.id)`, `${at}.resource.id`);
    const fullUrl = entry.fullUrl;
    if (!fullUrl) throw invalid(`${at}.fullUrl fehlt`, `${at}.fullUrl`);
    if (/^urn:oid:/i.test(fullUrl)) throw invalid(`fullUrl im Format urn:oid ist nicht zulässig (${fullUrl})`, `${at}.fullUrl`);
    if (seen.has(fullUrl)) throw invalid(`fullUrl ${fullUrl} kommt mehrfach im Bundle vor`, `${at}.fullUrl`);
    seen.add(fullUrl);
    const uuid = UUID.exec(fullUrl);
    const restful = RESTFUL.exec(fullUrl);
    if (!uuid && !restful) {
      warnings.push({ code: 254, text: `fullUrl ${fullUrl} (${at}) entspricht nicht dem FHIR-Format (urn:uuid oder absolute URL .../${resource.resourceType}/id)` });
    }
    const urlId = uuid ? uuid[1] : fullUrl.split(/[/:]/).pop();
    if (urlId !== resource.id) {
      warnings.push({ code: 253, text: `Die id im fullUrl ${fullUrl} stimmt nicht mit der Ressource-id ${resource.id} überein (${at})` });
    }
    entries.push({ index, fullUrl, resource });
  });
  return { entries, warnings };
}

export class EntryResolver {
  private readonly byFullUrl = new Map<string, IndexedEntry>();
  constructor(readonly entries: IndexedEntry[]) {
    for (const e of entries) this.byFullUrl.set(e.fullUrl, e);
  }

  /** Resolves a Reference.reference seen in `from`; undefined when it does not point into the bundle. */
  resolve(reference: string, from: IndexedEntry): IndexedEntry | undefined {
    if (/^(urn:|https?:\/\/)/.test(reference)) return this.byFullUrl.get(reference);
    const rel = RELATIVE.exec(reference);
    const base = RESTFUL.exec(from.fullUrl);
    if (!rel || !base) return undefined;
    return this.byFullUrl.get(`${base[1]}${rel[1]}/${rel[2]}`);
  }

  ofType<R extends Resource>(type: R['resourceType']): IndexedEntry<R>[] {
    return this.entries.filter((e) => e.resource.resourceType === type) as IndexedEntry<R>[];
  }
}

/**
 * Every Reference.reference inside the bundle must resolve to an entry. Relative references are only
 * meaningful from an entry with a RESTful fullUrl; next to urn:uuid fullUrls they are "mixed references".
 */
export function checkReferences(resolver: EntryResolver): void {
  for (const entry of resolver.entries) {
    walk(entry.resource, [], (reference, trail) => {
      const path = () => pathOf(`Bundle.entry[${entry.index}].resource`, trail);
      if (RELATIVE.test(reference) && !RESTFUL.test(entry.fullUrl)) {
        throw invalid(
          `Gemischte Referenzen: relative Referenz '${reference}' in einer Ressource mit fullUrl ${entry.fullUrl}; absolute (urn:uuid) und relative Referenzen dürfen nicht gemischt werden`,
          path(),
        );
      }
      if (!resolver.resolve(reference, entry)) {
        throw invalid(`Referenz '${reference}' lässt sich im Bundle nicht auflösen`, path());
      }
    });
  }
}

/**
 * Calls `visit` for every Reference.reference under `node`. The way there is kept as a trail of keys and indexes and
 * spelled out (pathOf) only for an error: no string per node on the way.
 */
function walk(node: unknown, trail: (string | number)[], visit: (reference: string, trail: readonly (string | number)[]) => void): void {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      trail.push(i);
      walk(node[i], trail, visit);
      trail.pop();
    }
    return;
  }
  if (!node || typeof node !== 'object') return;
  const object = node as Record<string, unknown>;
  for (const key in object) {
    const value = object[key];
    if (key === 'reference' && typeof value === 'string') {
      trail.push(key);
      visit(value, trail);
      trail.pop();
    } else if (typeof value === 'object') {
      trail.push(key);
      walk(value, trail, visit);
      trail.pop();
    }
  }
}

function pathOf(prefix: string, trail: readonly (string | number)[]): string {
  let path = prefix;
  for (const step of trail) path += typeof step === 'number' ? `[${step}]` : `.${step}`;
  return path;
}
