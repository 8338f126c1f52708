// XML plumbing for the FHIR codec: a cheap scan that refuses unsafe or malformed documents before any heavy work,
// the fast-xml-parser set-up (preserveOrder), our own one-pass parser for the common documents, and escaping for the
// writer.
//
// Why a scan: fast-xml-parser does not check that end tags match start tags and silently skips malformed
// attributes, and it would read DOCTYPE entity declarations. scanXml walks the tags once with sticky regular
// expressions and guarantees: well-formed tag structure, one root, depth <= maxDepth, no DOCTYPE/ENTITY
// declarations, no processing instructions except a well-formed XML declaration, only the five predefined entities
// and numeric character references. parseCommon checks the same rules while it parses the common documents
// (parseChecked); everything else is scanned before fast-xml-parser sees it.
import { XMLParser } from 'fast-xml-parser';
import type { IssueType } from './errors.ts';
import { ParseError } from './parse-error.ts';

export const FHIR_NS = 'http://hl7.org/fhir';
export const XHTML_NS = 'http://www.w3.org/1999/xhtml';

const NAME = '[A-Za-z_][\\w.\\-:]*';
/** XML's white space (XML 1.0 production S): not JavaScript's \s, which also takes NBSP and other Unicode spaces. */
const WS = '[ \\t\\r\\n]';
const START_TAG = new RegExp(`<(${NAME})((?:${WS}+${NAME}${WS}*=${WS}*(?:"[^"<]*"|'[^'<]*'))*)${WS}*(/?)>`, 'y');
const END_TAG = new RegExp(`</(${NAME})${WS}*>`, 'y');
const BAD_ENTITY = /&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)/g;
// XML 1.0 forbids these characters even as references.
const BAD_CHAR = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;
const NOT_WHITESPACE = /[^ \t\r\n]/g;
/** The XML declaration (XML 1.0 production XMLDecl): version, then optional encoding and standalone. */
const XML_DECLARATION = new RegExp(`<\\?xml${WS}+version${WS}*=${WS}*(?:"1\\.[0-9]+"|'1\\.[0-9]+')`
  + `(?:${WS}+encoding${WS}*=${WS}*(?:"[A-Za-z][\\w.\\-]*"|'[A-Za-z][\\w.\\-]*'))?`
  + `(?:${WS}+standalone${WS}*=${WS}*(?:"(?:yes|no)"|'(?:yes|no)'))?${WS}*\\?>`, 'y');

/** Whether the XML declaration at `at` is well-formed. */
function declarationAt(text: string, at: number): boolean {
  XML_DECLARATION.lastIndex = at;
  return XML_DECLARATION.test(text);
}

function fail(message: string, offset: number, code: IssueType = 'structure'): never {
  throw new ParseError(message, code, offset);
}

/** Checks the document's structure and safety. Throws ParseError with the offset of the problem. */
export function scanXml(text: string, maxDepth: number): void {
  const bad = BAD_CHAR.exec(text);
  if (bad) fail('Character not allowed in XML', bad.index);

  const len = text.length;
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const stack: string[] = [];
  let skipped: number[] | undefined; // [start, end) ranges of comments and CDATA (entity check skips them)
  let rootSeen = false;
  let pos = start;
  for (;;) {
    const lt = text.indexOf('<', pos);
    if (stack.length === 0 && lt !== pos) {
      NOT_WHITESPACE.lastIndex = pos;
      const m = NOT_WHITESPACE.exec(text);
      if (m && (lt === -1 || m.index < lt)) fail('Text outside the root element', m.index);
    }
    if (lt === -1) break;
    const c1 = text.charCodeAt(lt + 1);
    if (c1 === 47 /* / */) {
      END_TAG.lastIndex = lt;
      const m = END_TAG.exec(text);
      if (!m) fail('Malformed end tag', lt);
      const open = stack.pop();
      if (open !== m[1]) fail(open ? `End tag </${m[1]}> does not match <${open}>` : `Unexpected end tag </${m[1]}>`, lt);
      pos = END_TAG.lastIndex;
    } else if (c1 === 33 /* ! */) {
      let end: number;
      if (text.startsWith('<!--', lt)) {
        end = text.indexOf('-->', lt + 4);
        if (end === -1) fail('Comment is not closed', lt);
        end += 3;
      } else if (text.startsWith('<![CDATA[', lt)) {
        if (stack.length === 0) fail('CDATA outside the root element', lt);
        end = text.indexOf(']]>', lt + 9);
        if (end === -1) fail('CDATA section is not closed', lt);
        end += 3;
      } else {
        fail('DOCTYPE and ENTITY declarations are not allowed', lt, 'invalid');
      }
      (skipped ??= []).push(lt, end);
      pos = end;
    } else if (c1 === 63 /* ? */) {
      const end = text.indexOf('?>', lt + 2);
      if (end === -1) fail('Processing instruction is not closed', lt);
      const isDeclaration = lt === start && /^<\?xml[ \t\r\n]/.test(text.slice(lt, lt + 6));
      if (!isDeclaration) fail('Processing instructions are not allowed', lt, 'invalid');
      if (!declarationAt(text, lt)) fail('Malformed XML declaration', lt);
      pos = end + 2;
    } else {
      START_TAG.lastIndex = lt;
      const m = START_TAG.exec(text);
      if (!m) fail('Malformed start tag', lt);
      if (stack.length === 0) {
        if (rootSeen) fail('More than one root element', lt);
        rootSeen = true;
      }
      if (stack.length >= maxDepth) fail(`Document nested deeper than ${maxDepth} levels`, lt, 'invalid');
      if (m[3] !== '/') stack.push(m[1]!);
      const attributes = m[2]!;
      if (attributes.indexOf('=', attributes.indexOf('=') + 1) !== -1) checkUniqueAttributes(attributes, lt);
      pos = START_TAG.lastIndex;
    }
    if (pos > len) break;
  }
  if (stack.length) fail(`Element <${stack[stack.length - 1]}> is not closed`, len);
  if (!rootSeen) fail('No root element', start);

  if (text.indexOf('&') === -1) return; // no references at all: the common case, and indexOf is far cheaper than the regex
  BAD_ENTITY.lastIndex = 0;
  for (let m = BAD_ENTITY.exec(text); m; m = BAD_ENTITY.exec(text)) {
    if (!insideRanges(skipped, m.index)) fail('Only the predefined XML entities and character references are allowed', m.index, 'invalid');
  }
}

const ATTRIBUTE_NAME = new RegExp(`(${NAME})${WS}*=${WS}*(?:"[^"]*"|'[^']*')`, 'g');
function checkUniqueAttributes(attributes: string, offset: number): void {
  const seen: string[] = [];
  for (const m of attributes.matchAll(ATTRIBUTE_NAME)) {
    if (seen.includes(m[1]!)) fail(`Attribute '${m[1]}' appears more than once`, offset);
    seen.push(m[1]!);
  }
}

function insideRanges(ranges: number[] | undefined, offset: number): boolean {
  if (!ranges) return false;
  for (let i = 0; i < ranges.length; i += 2) if (offset >= ranges[i]! && offset < ranges[i + 1]!) return true;
  return false;
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const REFERENCE = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,7})|#x([0-9a-fA-F]{1,6}));/g;

function resolveReference(_m: string, name: string | undefined, dec: string | undefined, hex: string | undefined): string {
  if (name) return PREDEFINED[name]!;
  const cp = dec !== undefined ? parseInt(dec, 10) : parseInt(hex!, 16);
  const allowed = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
  if (!allowed) throw new ParseError('Character reference to a character not allowed in XML');
  return String.fromCodePoint(cp);
}

/** Entity decoder for fast-xml-parser: the five predefined entities and character references, nothing else. */
const entityDecoder = {
  setExternalEntities() {},
  addInputEntities() {},
  reset() {},
  setXmlVersion() {},
  decode(text: string): string {
    return text.indexOf('&') === -1 ? text : text.replace(REFERENCE, resolveReference);
  },
};

/** A node of fast-xml-parser's preserveOrder output: `{ [tag]: children, ':@'?: attributes }`. */
export type XmlNode = Record<string, unknown>;
export type XmlAttributes = Record<string, string>;

function parserOptions(maxDepth: number, captureMetaData: boolean) {
  return {
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    processEntities: true,
    entityDecoder,
    // Narrative xhtml is kept as markup: fast-xml-parser hands us the raw inner text of every <div>.
    stopNodes: ['..div'],
    ignoreDeclaration: true,
    jPath: false,
    captureMetaData,
    maxNestedTags: maxDepth,
  };
}

const parsers = new Map<string, XMLParser>();
function parser(maxDepth: number, captureMetaData: boolean): XMLParser {
  const key = `${maxDepth}/${captureMetaData}`;
  let p = parsers.get(key);
  if (!p) {
    p = new XMLParser(parserOptions(maxDepth, captureMetaData));
    parsers.set(key, p);
  }
  return p;
}

/** fast-xml-parser itself (documents parseCommon leaves to it, positions, tests). */
export function parseWithLibrary(text: string, maxDepth: number, withPositions = false): XmlNode[] {
  return parser(maxDepth + 1, withPositions).parse(text) as XmlNode[];
}

// The common case without fast-xml-parser: parsing was the largest part of the Fachdienst's CPU per $activate
// (bench/lifecycle.ts), and most of fast-xml-parser's time goes to features FHIR documents do not use. parseCommon
// builds exactly fast-xml-parser's output (with the options above) for documents that pass scanXml's rules and have no
// comments, CDATA, DOCTYPE, carriage returns or reserved property names; for anything else it answers undefined
// and fast-xml-parser parses the document (xml-parse.test.ts compares both).
const OPEN_NAME = new RegExp(`<(${NAME})`, 'y');
const ATTRIBUTE = new RegExp(`${WS}*(${NAME})${WS}*=${WS}*(?:"([^"]*)"|'([^']*)')`, 'y');
const TAG_CLOSE = new RegExp(`${WS}*(/?)>`, 'y');
const ATTRIBUTE_NAME_ONLY = new RegExp(`^${NAME}$`);
const END_TAG_AT = new RegExp(`</(${NAME})${WS}*>`, 'y');
/** Names fast-xml-parser refuses or renames (prototype pollution guards): those documents go to it. */
const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf',
  '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__', '#text', ':@']);

// `{ [name]: kids }` takes V8's slow path for computed keys (a third of parseCommon's time for a KBV bundle); a
// small function per element name with the name as a literal key builds the same object on the fast path. Names
// passed OPEN_NAME (letters, digits, _ . - :) and are quoted by JSON.stringify; the cache is capped, so a document
// with endless invented names falls back to the computed key.
type NodeFactory = (kids: XmlNode[]) => XmlNode;
const nodeFactories = new Map<string, NodeFactory>();
const MAX_NODE_FACTORIES = 2000;
function elementNode(name: string, kids: XmlNode[]): XmlNode {
  let factory = nodeFactories.get(name);
  if (!factory) {
    if (nodeFactories.size >= MAX_NODE_FACTORIES) return { [name]: kids };
    factory = new Function('kids', `return { ${JSON.stringify(name)}: kids };`) as NodeFactory;
    nodeFactories.set(name, factory);
  }
  return factory(kids);
}

function addText(children: XmlNode[], raw: string): void {
  const text = raw.trim();
  if (text.length > 0) children.push({ '#text': entityDecoder.decode(text) });
}

/**
 * Scans and parses in one: the common documents in one pass by parseCommon, which vouches for everything scanXml
 * checks; any other document is scanned (its ParseError thrown) and then parsed by fast-xml-parser.
 */
export function parseChecked(text: string, maxDepth: number): XmlNode[] {
  const nodes = parseCommon(text, maxDepth);
  if (nodes) return nodes;
  scanXml(text, maxDepth);
  return parseWithLibrary(text, maxDepth);
}

/**
 * fast-xml-parser's output for the common documents, undefined for the rest (exported for xml-parse.test.ts). It
 * answers only for documents scanXml would pass: it checks the same rules on its way (characters, one root and no
 * text beside it, matching end tags, depth, attribute syntax without `<` in values and without repeats, only the XML
 * declaration as processing instruction, only predefined entities); on any doubt it answers undefined and the caller
 * runs scanXml, whose error is the one reported. Narrative `<div>` content is checked by scanXml itself.
 */
export function parseCommon(text: string, maxDepth = Number.POSITIVE_INFINITY): XmlNode[] | undefined {
  if (text.indexOf('\r') !== -1 || text.indexOf('<!') !== -1 || BAD_CHAR.test(text)) return undefined;
  if (text.indexOf('&') !== -1) {
    BAD_ENTITY.lastIndex = 0;
    if (BAD_ENTITY.test(text)) return undefined;
  }
  const root: XmlNode[] = [];
  const stack: XmlNode[][] = [];
  const names: string[] = [];
  let children = root;
  let narrative = false;
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let pos = start;
  for (;;) {
    const lt = text.indexOf('<', pos);
    if (stack.length === 0) {
      // outside the root only white space
      NOT_WHITESPACE.lastIndex = pos;
      const m = NOT_WHITESPACE.exec(text);
      if (m && (lt === -1 || m.index < lt)) return undefined;
    }
    if (lt === -1) {
      if (stack.length !== 0 || root.length === 0) return undefined;
      if (narrative) {
        try {
          scanXml(text, maxDepth);
        } catch {
          return undefined;
        }
      }
      return root;
    }
    if (stack.length > 0 && lt > pos) addText(children, text.slice(pos, lt));
    const c1 = text.charCodeAt(lt + 1);
    if (c1 === 47 /* / */) {
      END_TAG_AT.lastIndex = lt;
      const end = END_TAG_AT.exec(text);
      if (!end || stack.length === 0 || names.pop() !== end[1]) return undefined;
      children = stack.pop()!;
      pos = END_TAG_AT.lastIndex;
      continue;
    }
    if (c1 === 63 /* ? the XML declaration, first in the document */) {
      const end = text.indexOf('?>', lt + 2);
      if (end === -1 || lt !== start || !declarationAt(text, lt)) return undefined;
      pos = end + 2;
      continue;
    }
    OPEN_NAME.lastIndex = lt;
    const open = OPEN_NAME.exec(text);
    if (!open || RESERVED_NAMES.has(open[1]!)) return undefined;
    if (stack.length === 0 && root.length > 0) return undefined; // a second root
    if (stack.length >= maxDepth) return undefined;
    const name = open[1]!;
    // Attributes by hand: a regex per attribute was most of the remaining time. Only XML's space, tab and newline
    // count as whitespace here; anything unexpected is left to scanXml and fast-xml-parser.
    let at = OPEN_NAME.lastIndex;
    let attributes: XmlAttributes | undefined;
    let c = text.charCodeAt(at);
    for (;;) {
      let spaced = false;
      while (c === 32 || c === 10 || c === 9) {
        c = text.charCodeAt(++at);
        spaced = true;
      }
      if (c === 62 /* > */ || c === 47 /* / */) break;
      if (!spaced) return undefined;
      const nameStart = at;
      while (c !== 61 /* = */ && c !== 32 && c !== 10 && c !== 9 && at < text.length) c = text.charCodeAt(++at);
      const attributeName = text.slice(nameStart, at);
      if (!ATTRIBUTE_NAME_ONLY.test(attributeName) || RESERVED_NAMES.has(attributeName)) return undefined;
      if (attributes && Object.hasOwn(attributes, attributeName)) return undefined;
      while (c === 32 || c === 10 || c === 9) c = text.charCodeAt(++at);
      if (c !== 61) return undefined;
      c = text.charCodeAt(++at);
      while (c === 32 || c === 10 || c === 9) c = text.charCodeAt(++at);
      if (c !== 34 /* " */ && c !== 39 /* ' */) return undefined;
      const valueEnd = text.indexOf(c === 34 ? '"' : "'", at + 1);
      if (valueEnd === -1) return undefined;
      const lessThan = text.indexOf('<', at + 1);
      if (lessThan !== -1 && lessThan < valueEnd) return undefined;
      (attributes ??= {})[attributeName] = entityDecoder.decode(text.slice(at + 1, valueEnd).trim());
      at = valueEnd + 1;
      c = text.charCodeAt(at);
    }
    const selfClosing = c === 47;
    if (selfClosing) c = text.charCodeAt(++at);
    if (c !== 62) return undefined;
    pos = at + 1;
    const kids: XmlNode[] = [];
    const node = elementNode(name, kids);
    if (attributes) node[':@'] = attributes;
    children.push(node);
    if (name === 'div') {
      // fast-xml-parser's stop node: the raw markup inside <div> as its one text child
      if (stack.length === 0) return undefined;
      narrative = true;
      if (selfClosing) {
        kids.push({ '#text': '' });
        continue;
      }
      const end = matchingEnd(text, pos);
      if (end === undefined) return undefined;
      kids.push({ '#text': text.slice(pos, end.start) });
      pos = end.after;
    } else if (!selfClosing) {
      stack.push(children);
      names.push(name);
      children = kids;
    }
  }
}

/** Start of the end tag closing the element whose content starts at `pos`, and the offset after it. */
function matchingEnd(text: string, pos: number): { start: number; after: number } | undefined {
  let depth = 1;
  for (;;) {
    const lt = text.indexOf('<', pos);
    if (lt === -1) return undefined;
    if (text.charCodeAt(lt + 1) === 47) {
      END_TAG_AT.lastIndex = lt;
      if (!END_TAG_AT.exec(text)) return undefined;
      pos = END_TAG_AT.lastIndex;
      if (--depth === 0) return { start: lt, after: pos };
      continue;
    }
    OPEN_NAME.lastIndex = lt;
    if (!OPEN_NAME.exec(text)) return undefined;
    let at = OPEN_NAME.lastIndex;
    for (;;) {
      ATTRIBUTE.lastIndex = at;
      if (!ATTRIBUTE.exec(text)) break;
      at = ATTRIBUTE.lastIndex;
    }
    TAG_CLOSE.lastIndex = at;
    const close = TAG_CLOSE.exec(text);
    if (!close) return undefined;
    pos = TAG_CLOSE.lastIndex;
    if (close[1] !== '/') depth++;
  }
}

const META = XMLParser.getMetaDataSymbol() as unknown as symbol;
/** Offset of a node parsed with positions. */
export function nodeOffset(node: XmlNode): number {
  const meta = (node as Record<symbol, { startIndex?: number } | undefined>)[META];
  return meta?.startIndex ?? -1;
}

/** The element name of a node ('#text' for text). */
export function tagOf(node: XmlNode): string {
  for (const key in node) if (key !== ':@') return key;
  return '';
}

const ATTR_SPECIAL = /[&<>"\n\r\t]/;
const ATTR_SPECIAL_G = /[&<>"\n\r\t]/g;
const ATTR_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\n': '&#10;', '\r': '&#13;', '\t': '&#9;' };
const escapeChar = (c: string) => ATTR_ESCAPES[c]!;

const EDGE_WHITESPACE = /^\s|\s$/;
const EDGE_WHITESPACE_RUNS = /^\s+|\s+$/g;
const asReferences = (run: string) => {
  let out = '';
  for (const c of run) out += `&#${c.codePointAt(0)};`;
  return out;
};

/**
 * Escapes a value for a double-quoted attribute. Newlines and tabs become references so they survive attribute
 * normalisation; so does whitespace at either end, which parsers (fast-xml-parser too) trim from values.
 */
export function escapeAttribute(value: string): string {
  const escaped = ATTR_SPECIAL.test(value) ? value.replace(ATTR_SPECIAL_G, escapeChar) : value;
  return EDGE_WHITESPACE.test(escaped) ? escaped.replace(EDGE_WHITESPACE_RUNS, asReferences) : escaped;
}
