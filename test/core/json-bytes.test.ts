import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { deepFreeze } from '../../core/dialects/element-memo.ts';
import { decodeJsonText, decodeText, encodeText, jsonBytes, jsonChunks, parseJsonBytes } from '../../core/json-bytes.ts';

t.test('the ASCII fast path and the UTF-8 path give the same bytes and text as Buffer would', async (t) => {
  for (const text of ['', 'plain ascii {"a":1}', 'héllo', 'emoji 🎉 and CJK 漢字', '\u0080', '\u00ff', 'x'.repeat(100_000) + 'é']) {
    t.same(encodeText(text), Buffer.from(text, 'utf8'), JSON.stringify(text.slice(0, 20)));
    t.equal(decodeText(Buffer.from(text, 'utf8')), text);
  }
  // Latin-1 text is not ASCII: it must not be mistaken for one byte per character.
  t.same(encodeText('café'), Buffer.from([0x63, 0x61, 0x66, 0xc3, 0xa9]));
});

t.test('any JSON value survives jsonBytes then parseJsonBytes', async (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, text) => {
      const wrapped = { value, text };
      const bytes = jsonBytes(wrapped);
      return bytes.equals(Buffer.from(JSON.stringify(wrapped), 'utf8')) && JSON.stringify(parseJsonBytes(bytes)) === JSON.stringify(wrapped);
    }),
    { numRuns: 500 },
  );
  t.pass('500 random values round-trip byte-exactly');
});

t.test('a request split into pieces encodes to exactly the bytes of JSON.stringify', async (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 6000 });
  const element = fc.oneof(fc.jsonValue(), text, fc.constant(undefined), fc.record({ role: fc.constant('user'), content: text }));
  const request = fc.dictionary(fc.string(), fc.oneof(fc.array(element, { maxLength: 30 }), element, fc.constant(undefined)), { maxKeys: 6 });
  fc.assert(
    fc.property(request, (value) => jsonBytes(value).equals(Buffer.from(JSON.stringify(value), 'utf8'))),
    { numRuns: 300 },
  );
  // The case the split exists for: one em dash in a long ASCII conversation.
  const big = { model: 'm', messages: Array.from({ length: 40 }, (_, i) => ({ role: 'user', content: (i === 7 ? '—' : '') + 'x'.repeat(12_000) })), stream: true };
  t.ok(jsonBytes(big).equals(Buffer.from(JSON.stringify(big), 'utf8')));
  t.pass('300 random requests encode identically');
});

t.test('frozen elements (shared by the element memo) encode to exactly the same bytes, first time and every time after', async (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 3000 });
  const element = fc.oneof(fc.jsonValue(), fc.record({ role: fc.constant('user'), content: text }));
  const request = fc.record({ model: fc.string(), messages: fc.array(fc.tuple(element, fc.boolean()), { minLength: 9, maxLength: 30 }) });
  fc.assert(
    fc.property(request, ({ model, messages }) => {
      // Some elements frozen (kept by the memo), some not (this turn's new ones).
      const value = { model, messages: messages.map(([m, frozen]) => (frozen && typeof m === 'object' && m !== null ? deepFreeze(m) : m)) };
      const expected = Buffer.from(JSON.stringify(value), 'utf8');
      return jsonBytes(value).equals(expected) && jsonBytes(value).equals(expected);
    }),
    { numRuns: 200 },
  );
  // A frozen element larger than a chunk, between small ones, twice (the second from its cached bytes).
  const huge = deepFreeze({ role: 'user', content: 'é'.repeat(50_000) + '漢'.repeat(20_000) });
  const conversation = { model: 'm', messages: [...Array.from({ length: 10 }, (_, i) => deepFreeze({ role: 'user', content: `turn ${i}` })), huge, { role: 'assistant', content: 'new — not frozen' }] };
  for (const round of [1, 2]) {
    const chunks = jsonChunks(conversation);
    t.ok(Buffer.concat(chunks).equals(Buffer.from(JSON.stringify(conversation), 'utf8')), `round ${round}: identical bytes`);
    t.ok(chunks.length >= 2, `round ${round}: sent in ${chunks.length} chunks`);
  }
  t.pass('200 random requests with frozen elements encode identically, twice');
});

t.test('JSON with a few non-ASCII runs decodes (escaped) to the same value, and bad JSON still fails', async (t) => {
  const outcome = (text: () => string) => {
    try {
      return { value: JSON.parse(text()) as unknown };
    } catch {
      return { error: true };
    }
  };
  // Valid JSON with unicode anywhere a string can hold it, including beside backslashes.
  fc.assert(
    fc.property(fc.jsonValue(), fc.array(fc.string({ unit: 'binary', maxLength: 8 }), { maxLength: 40 }), (value, strings) => {
      const bytes = Buffer.from(JSON.stringify({ value, strings, tail: 'x'.repeat(200) }), 'utf8');
      assert.deepStrictEqual(JSON.parse(decodeJsonText(bytes)), JSON.parse(bytes.toString('utf8')));
    }),
    { numRuns: 300 },
  );
  // Arbitrary bytes dropped into JSON text (inside strings, outside them, after a backslash, cut
  // UTF-8 sequences): exactly what the plain decoder makes of it, value or error.
  const base = Buffer.from(JSON.stringify({ model: 'm', a: 'plain \\ text "quoted"', list: [1, 'two', { three: 'x'.repeat(300) }] }));
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(base.length), fc.uint8Array({ minLength: 1, maxLength: 4, min: 0x80, max: 0xff })), { maxLength: 40 }), (inserts) => {
      let bytes = base;
      for (const [at, inserted] of inserts) bytes = Buffer.concat([bytes.subarray(0, at), inserted, bytes.subarray(at)]);
      assert.deepStrictEqual(outcome(() => decodeJsonText(bytes)), outcome(() => bytes.toString('utf8')));
    }),
    { numRuns: 500 },
  );
  t.equal(decodeJsonText(Buffer.from('{"a":"\\é"}')), '{"a":"\\é"}', 'a non-ASCII run after a backslash is decoded plainly');
  t.equal(decodeJsonText(Buffer.from('{"a":"é—"}')), '{"a":"\\u00e9\\u2014"}');
  const many = Buffer.from(JSON.stringify({ text: '汉 字 '.repeat(100) }));
  t.equal(decodeJsonText(many), many.toString('utf8'), 'text with many runs takes the UTF-8 decoder');
  t.pass('random documents decode like the UTF-8 decoder');
});
