/**
 * JSON Schema (as MCP servers, Claude Code and pydantic write it) → the OpenAPI subset Gemini
 * accepts in `functionDeclarations[].parameters`. Gemini answers 400 for any keyword it does not
 * know, so this keeps a list of what it DOES accept rather than a list of what to remove; anything
 * else (`$schema`, `additionalProperties`, `$id`, `$comment`, `examples`, `default`,
 * `propertyNames`, `patternProperties`, `unevaluatedProperties`, `not`, `if`, ...) is left out.
 *
 *   cleanSchema({ type: ['string', 'null'], const: 'a' })  // { type: 'string', nullable: true, enum: ['a'] }
 *
 * Conversions rather than removals, where the meaning survives:
 * - `$ref` to `#/$defs/X` or `#/definitions/X` is inlined (its siblings win); a reference that
 *   leads back into itself becomes `{type: 'object'}`, since Gemini has no references at all.
 * - `const: v` → `enum: [v]` (strings only: Gemini enums are string enums).
 * - `type: [T, 'null']` → `type: T, nullable: true`; several non-null types become `anyOf`.
 *   `anyOf` with a `{type: 'null'}` branch likewise becomes `nullable`.
 * - `oneOf` → `anyOf` (close enough for generating arguments); `allOf` is merged into one schema.
 * - `exclusiveMinimum/Maximum: n` → `minimum/maximum` (n ± 1 for integers, n itself otherwise).
 * - `format` on strings keeps only `enum` and `date-time`; numbers keep int32/int64/float/double.
 * - `required` names missing from `properties` are removed (Gemini rejects them).
 */
import { isObject, type Json } from '../shape.ts';

const copied = new Set(['description', 'title', 'pattern', 'minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties', 'minimum', 'maximum', 'example', 'propertyOrdering', 'nullable']);
const stringFormats = new Set(['enum', 'date-time']);
const numberFormats = new Set(['int32', 'int64', 'float', 'double']);

export function cleanSchema(schema: Record<string, unknown>): Json {
  const defs: Json = { ...(isObject(schema.definitions) ? schema.definitions : {}), ...(isObject(schema.$defs) ? schema.$defs : {}) };
  return clean(schema, defs, []);
}

function clean(node: Json, defs: Json, refs: string[]): Json {
  if (typeof node.$ref === 'string') {
    const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(node.$ref)?.[1];
    const { $ref: _ref, ...siblings } = node;
    const target = name === undefined || !Object.hasOwn(defs, decodePointer(name)) ? undefined : defs[decodePointer(name)];
    // A cycle (or a reference we cannot resolve) cannot be written without references.
    if (name === undefined || refs.includes(name) || !isObject(target)) return { type: 'object', ...copy(siblings) };
    return clean({ ...target, ...siblings }, defs, [...refs, name]);
  }
  // Merged first, so that a `$ref` inside allOf (pydantic writes those) is resolved like any other.
  if (Array.isArray(node.allOf)) return clean(mergeAllOf(node), defs, refs);

  const out: Json = {};
  let nullable = node.nullable === true;
  let types = Array.isArray(node.type) ? node.type.filter((t): t is string => typeof t === 'string') : typeof node.type === 'string' ? [node.type] : [];
  if (types.includes('null')) {
    nullable = true;
    types = types.filter((t) => t !== 'null');
  }
  if (types.length > 1) out.anyOf = types.map((type) => clean({ ...node, type, anyOf: undefined, oneOf: undefined }, defs, refs));
  else if (types.length === 1) out.type = types[0];
  const type = types.length === 1 ? types[0] : undefined;

  Object.assign(out, copy(node));
  if (isObject(node.properties)) {
    // fromEntries and hasOwn, so that a property called `__proto__` or `constructor` is just a name.
    const properties: Json = Object.fromEntries(Object.entries(node.properties).filter(([, v]) => isObject(v)).map(([k, v]) => [k, clean(v as Json, defs, refs)]));
    out.properties = properties;
    if (Array.isArray(node.required)) out.required = node.required.filter((r) => typeof r === 'string' && Object.hasOwn(properties, r));
  }
  if (isObject(node.items)) out.items = clean(node.items, defs, refs);
  else if (Array.isArray(node.items) && isObject(node.items[0])) out.items = clean(node.items[0], defs, refs);

  const branches = Array.isArray(node.anyOf) ? node.anyOf : Array.isArray(node.oneOf) ? node.oneOf : undefined;
  if (branches && !out.anyOf) {
    const kept = branches.filter(isObject).filter((b) => {
      const isNull = b.type === 'null' || (b.const === null && Object.keys(b).length === 1);
      if (isNull) nullable = true;
      return !isNull;
    });
    if (kept.length === 1) Object.assign(out, clean(kept[0], defs, refs), copy(node));
    else if (kept.length > 1) out.anyOf = kept.map((b) => clean(b, defs, refs));
  }

  enumOf(node, out, (hasNull) => (nullable ||= hasNull));
  bounds(node, out, type);
  if (typeof node.format === 'string') {
    const formats = type === 'string' ? stringFormats : type === 'number' || type === 'integer' ? numberFormats : undefined;
    if (formats?.has(node.format)) out.format = node.format;
  }
  if (out.type === undefined && !out.anyOf) {
    if (out.properties) out.type = 'object';
    else if (out.items) out.type = 'array';
  }
  // Gemini rejects an array schema without `items` (common in MCP tools): any item will do.
  if (out.type === 'array' && !isObject(out.items)) out.items = {};
  if (nullable) out.nullable = true;
  else delete out.nullable;
  return out;
}

function copy(node: Json): Json {
  const out: Json = {};
  for (const key in node) if (copied.has(key) && node[key] !== undefined) out[key] = node[key];
  return out;
}

/** `enum`/`const` → a string enum; `null` members become `nullable`, non-string enums are dropped. */
function enumOf(node: Json, out: Json, onNull: (hasNull: boolean) => void): void {
  const values = Array.isArray(node.enum) ? node.enum : 'const' in node ? [node.const] : undefined;
  if (!values) return;
  const present = values.filter((v) => v !== null);
  onNull(present.length < values.length);
  if (present.length > 0 && present.every((v) => typeof v === 'string')) {
    out.enum = present;
    out.type ??= 'string';
  }
}

function bounds(node: Json, out: Json, type: string | undefined): void {
  const step = type === 'integer' ? 1 : 0;
  if (typeof node.exclusiveMinimum === 'number' && out.minimum === undefined) out.minimum = node.exclusiveMinimum + step;
  if (typeof node.exclusiveMaximum === 'number' && out.maximum === undefined) out.maximum = node.exclusiveMaximum - step;
}

/** allOf [A, B] → one schema with both sets of properties and requirements. */
function mergeAllOf(node: Json): Json {
  const { allOf, ...rest } = node;
  const merged: Json = { ...rest };
  for (const part of allOf as unknown[]) {
    if (!isObject(part)) continue;
    for (const [key, value] of Object.entries(part)) {
      if (key === 'properties' && isObject(value)) merged.properties = { ...(isObject(merged.properties) ? merged.properties : {}), ...value };
      else if (key === 'required' && Array.isArray(value)) merged.required = [...(Array.isArray(merged.required) ? merged.required : []), ...value];
      else if (!(key in merged)) merged[key] = value;
    }
  }
  return merged;
}

function decodePointer(segment: string): string {
  return decodeURIComponent(segment).replace(/~1/g, '/').replace(/~0/g, '~');
}
