/**
 * JSON Schema → Gemini's OpenAPI subset (core/dialects/gemini/schema-cleanup.ts), as it reaches
 * `functionDeclarations[].parameters` through buildRequest.
 */
import t from 'tap';
import { cleanSchema, geminiCodec } from '../../../core/dialects/gemini/index.ts';

t.test('keywords Gemini rejects are removed at every depth', async (t) => {
  t.same(cleanSchema({
    $schema: 'https://json-schema.org/draft/2020-12/schema', $id: 'x', $comment: 'c', type: 'object', additionalProperties: false,
    properties: { tags: { type: 'array', items: { type: 'string', examples: ['a'], default: 'a' }, uniqueItems: true }, meta: { type: 'object', propertyNames: { pattern: '^a' }, patternProperties: { '^x': {} }, unevaluatedProperties: false } },
  }), { type: 'object', properties: { tags: { type: 'array', items: { type: 'string' } }, meta: { type: 'object' } } });
});

t.test('$ref to $defs and definitions is inlined, siblings winning', async (t) => {
  const schema = {
    type: 'object',
    properties: { home: { $ref: '#/$defs/Address', description: 'Where they live' }, work: { $ref: '#/definitions/Address' } },
    $defs: { Address: { type: 'object', description: 'An address', properties: { city: { type: 'string' } }, required: ['city'] } },
    definitions: { Address: { type: 'object', properties: { street: { type: 'string' } } } },
  };
  t.same(cleanSchema(schema), {
    type: 'object',
    properties: {
      home: { type: 'object', description: 'Where they live', properties: { city: { type: 'string' } }, required: ['city'] },
      work: { type: 'object', description: 'An address', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  }, '$defs wins over definitions for the same name');
});

t.test('a recursive $ref stops at the cycle instead of looping', async (t) => {
  const schema = { $ref: '#/$defs/Node', $defs: { Node: { type: 'object', properties: { value: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/Node' } } } } } };
  t.same(cleanSchema(schema), { type: 'object', properties: { value: { type: 'string' }, children: { type: 'array', items: { type: 'object' } } } });
});

t.test('const becomes a one-value enum', async (t) => {
  t.same(cleanSchema({ type: 'object', properties: { kind: { const: 'circle' }, n: { type: 'integer', const: 3 } } }), { type: 'object', properties: { kind: { type: 'string', enum: ['circle'] }, n: { type: 'integer' } } });
});

t.test('nullable type arrays and null branches become nullable', async (t) => {
  t.same(cleanSchema({ type: ['string', 'null'], description: 'd' }), { type: 'string', description: 'd', nullable: true });
  t.same(cleanSchema({ anyOf: [{ type: 'integer' }, { type: 'null' }], description: 'n' }), { type: 'integer', description: 'n', nullable: true });
  t.same(cleanSchema({ type: 'string', enum: ['a', 'b', null] }), { type: 'string', enum: ['a', 'b'], nullable: true });
  t.same(cleanSchema({ type: ['string', 'integer'] }), { anyOf: [{ type: 'string' }, { type: 'integer' }] });
});

t.test('string formats other than enum and date-time are removed; number formats stay', async (t) => {
  t.same(cleanSchema({ type: 'object', properties: { when: { type: 'string', format: 'date-time' }, site: { type: 'string', format: 'uri' }, mail: { type: 'string', format: 'email' }, n: { type: 'integer', format: 'int64' } } }), {
    type: 'object',
    properties: { when: { type: 'string', format: 'date-time' }, site: { type: 'string' }, mail: { type: 'string' }, n: { type: 'integer', format: 'int64' } },
  });
});

t.test('exclusive bounds become inclusive ones', async (t) => {
  t.same(cleanSchema({ type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 10 }), { type: 'integer', minimum: 1, maximum: 9 });
  t.same(cleanSchema({ type: 'number', exclusiveMinimum: 0.5 }), { type: 'number', minimum: 0.5 });
});

t.test('oneOf becomes anyOf and allOf is merged', async (t) => {
  t.same(cleanSchema({ oneOf: [{ type: 'string' }, { type: 'object', properties: { a: { type: 'string' } } }] }), { anyOf: [{ type: 'string' }, { type: 'object', properties: { a: { type: 'string' } } }] });
  t.same(cleanSchema({ allOf: [{ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] }, { properties: { b: { type: 'number' } }, required: ['b'] }] }), {
    type: 'object', properties: { a: { type: 'string' }, b: { type: 'number' } }, required: ['a', 'b'],
  });
});

t.test('required names without a property are removed', async (t) => {
  t.same(cleanSchema({ type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'ghost'] }), { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] });
});

t.test('buildRequest cleans every tool schema in the default mode', async (t) => {
  const body = geminiCodec.buildRequest(
    { model: 'm', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], stream: false, extras: {}, tools: [{ name: 'f', description: 'F', inputSchema: { type: 'object', additionalProperties: false, properties: { x: { type: ['number', 'null'] } } } }] },
    { model: 'gemini-2.5-flash', source: 'anthropic', dropped: () => {} },
  ) as { tools: unknown };
  t.same(body.tools, [{ functionDeclarations: [{ name: 'f', description: 'F', parameters: { type: 'object', properties: { x: { type: 'number', nullable: true } } } }] }]);
});

t.test('property names that are also Object.prototype names are kept as plain names', async (t) => {
  const cleaned = cleanSchema(JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"},"constructor":{"type":"number"}},"required":["__proto__","constructor","toString"]}'));
  t.same(Object.keys(cleaned.properties as object), ['__proto__', 'constructor']);
  t.same(cleaned.required, ['__proto__', 'constructor']);
  t.equal(JSON.stringify(cleaned), '{"type":"object","properties":{"__proto__":{"type":"string"},"constructor":{"type":"number"}},"required":["__proto__","constructor"]}');
});
