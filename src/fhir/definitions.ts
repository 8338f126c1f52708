// The FHIR R4 element index the codec runs on, loaded once from the generated r4-index.json
// (scripts/generate-fhir-index.mjs) and turned into per-type lookup maps, so a parse or a serialisation never
// searches a list: one Map.get per element.
import { readFileSync } from 'node:fs';

/** How an element's value is represented. */
export const Kind = {
  /** FHIR primitive: a JSON string/number/boolean plus an optional `_name` object; an XML element with `value`. */
  Primitive: 0,
  /** Datatype or backbone element: a JSON object; an XML element with children. */
  Complex: 1,
  /** Nested resource (contained, Bundle.entry.resource, Parameters.parameter.resource). */
  Resource: 2,
  /** Narrative.div: xhtml markup, a string in JSON. */
  Xhtml: 3,
  /** XML attribute (Element.id, Extension.url): a plain JSON string without `_name`. */
  Attribute: 4,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

/** JSON representation of a primitive. */
export type PrimitiveJson = 'string' | 'boolean' | 'integer' | 'decimal';

export interface ElementDef {
  /** JSON property and XML element name; for choice types the full name (`valueQuantity`). */
  readonly name: string;
  /** `_name`, the JSON property for a primitive's id and extensions. */
  readonly extName: string;
  /** Position in the owner type's definition: XML output order. Choice variants share one position. */
  readonly order: number;
  readonly array: boolean;
  readonly kind: Kind;
  /** FHIR type name ('decimal', 'Quantity', 'Bundle.entry', 'Resource'). */
  readonly type: string;
  /** For primitives: how the value looks in JSON. */
  readonly json: PrimitiveJson;
  /** For primitives of integer types: the smallest allowed value. */
  readonly minimum: number;
  /** For choice types: the base name (`value` for `value[x]`); '' otherwise. */
  readonly choice: string;
  /** For Kind.Complex: the element's type (resolved after load). */
  typeDef: TypeDef | undefined;
}

export interface TypeDef {
  readonly name: string;
  readonly isResource: boolean;
  /** Elements by JSON property / XML element name, choice variants expanded. */
  readonly elements: Map<string, ElementDef>;
  /** Elements by `_name` for primitives (the JSON companion property). */
  readonly extElements: Map<string, ElementDef>;
  /** XML attributes by name. */
  readonly attributes: Map<string, ElementDef>;
  /** The `resource` element of Bundle.entry (read the RED variant `<entry><Task>…</Task></entry>`). */
  readonly bareResource: ElementDef | undefined;
}

type IndexElement = [name: string, max: 1 | '*', type: string | string[], attr?: 1];
interface IndexFile {
  source: string;
  primitives: Record<string, PrimitiveJson | 'xhtml'>;
  resources: string[];
  types: Record<string, IndexElement[]>;
}

const index = JSON.parse(
  readFileSync(new URL('./definitions/r4-index.json', import.meta.url), 'utf8'),
) as IndexFile;

/** Resource types the codec reads and writes, by name. */
export const resourceTypes = new Map<string, TypeDef>();
const allTypes = new Map<string, TypeDef>();

const INTEGER_MINIMUM: Record<string, number> = { integer: -2147483648, unsignedInt: 0, positiveInt: 1 };

function makeElement(name: string, order: number, array: boolean, type: string, choice: string, attr: boolean): ElementDef {
  const primitive = index.primitives[type];
  let kind: Kind;
  if (attr) kind = Kind.Attribute;
  else if (primitive === 'xhtml') kind = Kind.Xhtml;
  else if (primitive !== undefined) kind = Kind.Primitive;
  else if (type === 'Resource' || index.resources.includes(type)) kind = Kind.Resource;
  else kind = Kind.Complex;
  return {
    name,
    extName: '_' + name,
    order,
    array,
    kind,
    type,
    json: primitive === undefined || primitive === 'xhtml' ? 'string' : primitive,
    minimum: INTEGER_MINIMUM[type] ?? Number.NEGATIVE_INFINITY,
    choice,
    typeDef: undefined,
  };
}

for (const [typeName, elements] of Object.entries(index.types)) {
  const isResource = index.resources.includes(typeName);
  const byName = new Map<string, ElementDef>();
  const extElements = new Map<string, ElementDef>();
  const attributes = new Map<string, ElementDef>();
  elements.forEach(([name, max, type, attr], order) => {
    const variants = Array.isArray(type)
      ? type.map((t) => makeElement(name + t[0]!.toUpperCase() + t.slice(1), order, max === '*', t, name, false))
      : [makeElement(name, order, max === '*', type, '', attr === 1)];
    for (const el of variants) {
      byName.set(el.name, el);
      if (el.kind === Kind.Primitive) extElements.set(el.extName, el);
      if (el.kind === Kind.Attribute) attributes.set(el.name, el);
    }
  });
  const resourceElement = byName.get('resource');
  const def: TypeDef = {
    name: typeName,
    isResource,
    elements: byName,
    extElements,
    attributes,
    bareResource: typeName === 'Bundle.entry' ? resourceElement : undefined,
  };
  allTypes.set(typeName, def);
  if (isResource) resourceTypes.set(typeName, def);
}

for (const def of allTypes.values()) {
  for (const el of def.elements.values()) {
    if (el.kind !== Kind.Complex) continue;
    const target = allTypes.get(el.type);
    if (!target) throw new Error(`FHIR index: ${def.name}.${el.name} has unknown type ${el.type}`);
    el.typeDef = target;
  }
}

/**
 * The element structure every primitive shares besides its value: `id` (an XML attribute) and `extension`.
 * It describes a primitive's XML children and its JSON `_name` object.
 */
export const primitiveElement: TypeDef = {
  name: 'Element',
  isResource: false,
  elements: new Map(),
  extElements: new Map(),
  attributes: new Map(),
  bareResource: undefined,
};
{
  const id = makeElement('id', 0, false, 'string', '', true);
  const extension = makeElement('extension', 1, true, 'Extension', '', false);
  extension.typeDef = allTypes.get('Extension');
  primitiveElement.elements.set('id', id).set('extension', extension);
  primitiveElement.attributes.set('id', id);
}

/** The type definition of a datatype or backbone element ('Quantity', 'Bundle.entry'), if indexed. */
export function typeDefinition(name: string): TypeDef | undefined {
  return allTypes.get(name);
}
