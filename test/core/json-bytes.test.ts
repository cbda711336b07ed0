import fc from 'fast-check';
import t from 'tap';
import { decodeText, encodeText, jsonBytes, parseJsonBytes } from '../../core/json-bytes.ts';

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
