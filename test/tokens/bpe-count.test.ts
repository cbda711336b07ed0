/**
 * Our BPE counter over the flat rank table, against gpt-tokenizer's own encoder (which matches
 * tiktoken except on byte-order marks): the same count for any text, in both encodings, tiktoken's
 * on a byte-order mark, and a table file that refuses to be misread.
 */
import fc from 'fast-check';
import { countTokens as cl100kCount } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200kCount } from 'gpt-tokenizer/encoding/o200k_base';
import cl100kRanks from 'gpt-tokenizer/esm/bpeRanks/cl100k_base';
import o200kRanks from 'gpt-tokenizer/esm/bpeRanks/o200k_base';
import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/esm/encodingParams/constants';
import t from 'tap';
import { bpeCounter, longPiece, pieceSlice } from '../../core/tokens/bpe-count.ts';
import { openRankTable, rankOf, rankTableBytes } from '../../core/tokens/rank-table.ts';
import { claudeCodeRequest } from '../helpers/fixtures.ts';

const asText = { disallowedSpecial: new Set<string>() };
const encodings = [
  { name: 'o200k_base', count: bpeCounter(openRankTable(rankTableBytes(o200kRanks)), O200K_TOKEN_SPLIT_REGEX), reference: (text: string) => o200kCount(text, asText) },
  { name: 'cl100k_base', count: bpeCounter(openRankTable(rankTableBytes(cl100kRanks)), CL100K_TOKEN_SPLIT_REGEX), reference: (text: string) => cl100kCount(text, asText) },
];

// Pieces of every kind the pre-tokenizers treat differently, so random texts mix them: cases,
// contractions, digits, whitespace and line breaks, punctuation runs, accents and combining marks,
// scripts without spaces, emoji (surrogate pairs, ZWJ sequences), lone surrogates, special tokens.
const pieces = [
  'a', 'Z', 'the', 'The', 'HTTP', 'camelCase', "'s", "'LL", "don't", '0', '42', '12345', ' ', '  ', '\t', '\n', '\r\n', '\n\n',
  '.', '...', '{', '}();', '=>', '//', '/*', '"', 'é', 'ß', 'e\u0301', 'naïve', 'Ελλάδα', 'русский', 'עברית', 'العربية', '漢字',
  'こんにちは', '한국어', 'ไทย', '🎉', '👩‍👩‍👧‍👦', '\ud800', '\udfff', '<|endoftext|>', '<|im_start|>', '\u00a0', '\u200b',
];
// Without U+FEFF, where gpt-tokenizer is wrong (below).
const text = fc
  .array(fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 12 })), { maxLength: 40 })
  .map((parts) => parts.join('').replaceAll('\ufeff', ''));

for (const { name, count, reference } of encodings) {
  t.test(`${name}: the count gpt-tokenizer gives, for any text`, async (t) => {
    fc.assert(fc.property(text, (sample) => count(sample) === reference(sample)), { numRuns: 3_000 });
    t.pass('3,000 random texts counted alike');
  });

  t.test(`${name}: the count gpt-tokenizer gives for a whole Claude Code request, and for long runs`, async (t) => {
    const request = JSON.stringify(claudeCodeRequest('tool-use-03').body);
    t.equal(count(request), reference(request), 'the recorded request as JSON text');
    for (const run of ['a'.repeat(600), ' '.repeat(600), '-'.repeat(600), 'x'.repeat(300) + '\n'.repeat(300)]) {
      t.equal(count(run), reference(run), `a run of ${JSON.stringify(run[0])}`);
    }
    t.equal(count(''), 0, 'empty text');
    t.equal(count('hello world'), 2);
  });
}

t.test("a byte-order mark is counted as tiktoken counts it, where gpt-tokenizer counts more", async (t) => {
  // gpt-tokenizer finds tokens by decoding their bytes with a TextDecoder, which drops a leading
  // BOM, so it never finds the tokens that begin with one. tiktoken's tokens for
  // "\ufeffusing System;" are [9251, 1219, 26] in o200k_base and [4117, 744, 26] in cl100k_base.
  const csharp = '\ufeffusing System;';
  const bytes = new TextEncoder().encode('\ufeffusing');
  for (const [{ name, count, reference }, ranks, rank] of [[encodings[0], o200kRanks, 9251], [encodings[1], cl100kRanks, 4117]] as const) {
    t.equal(rankOf(openRankTable(rankTableBytes(ranks)), bytes, 0, bytes.length), rank, `${name}: "\\ufeffusing" is token ${rank}`);
    t.equal(count(csharp), 3, `${name}: a C# file's first line with its BOM is 3 tokens`);
    t.equal(count('\ufeff'), 1, `${name}: a BOM alone is one token`);
    t.ok(reference(csharp) > 3, `${name}: gpt-tokenizer counts ${reference(csharp)}`);
  }
});

t.test(`a piece longer than ${longPiece} bytes is merged in ${pieceSlice}-byte slices, near its exact count`, async (t) => {
  const [o200k] = encodings;
  // o200k_base's pattern takes punctuation followed by any run of "/" and line breaks as one piece.
  const exactSized = '/\n'.repeat(longPiece / 2);
  t.equal(o200k.count(exactSized), o200k.reference(exactSized), `a piece of exactly ${longPiece} bytes is merged whole`);
  const longer = '/\n'.repeat(10_000);
  const exact = o200k.reference(longer);
  t.ok(Math.abs(o200k.count(longer) - exact) <= Math.ceil(longer.length / pieceSlice), `within a token per slice of ${exact}`);
  // Whole, 200,000 pairs would take this merge (and gpt-tokenizer's) minutes: sliced, it is counted.
  const huge = '/\n'.repeat(200_000);
  const counted = o200k.count(huge);
  t.ok(Math.abs(counted - 200_000) <= Math.ceil(huge.length / pieceSlice), `a 400 KB piece: ${counted} tokens for about 200,000`);
});

t.test('long runs are sliced between characters, never inside one', async (t) => {
  for (const { name, count, reference } of encodings) {
    // 2, 3 and 4 bytes a character: a slice of 512 bytes cut anywhere would split characters.
    for (const run of ['é'.repeat(3_000), '漢'.repeat(3_000), '🎉'.repeat(2_000), 'Ελλάδα'.repeat(500)]) {
      t.equal(count(run), reference(run), `${name}: ${run.slice(0, 2)}… (${new TextEncoder().encode(run).length} bytes)`);
    }
  }
});

t.test('a rank table finds every token by its bytes and nothing else', async (t) => {
  const table = openRankTable(rankTableBytes(['a', 'b', 'ab', null, [0xff, 0xfe], 'é']));
  const bytes = (...values: number[]) => Uint8Array.from(values);
  t.equal(rankOf(table, bytes(0x61), 0, 1), 0);
  t.equal(rankOf(table, bytes(0x78, 0x61, 0x62), 1, 3), 2, 'a range inside a larger buffer');
  t.equal(rankOf(table, bytes(0xff, 0xfe), 0, 2), 4, 'a token that is not UTF-8');
  t.equal(rankOf(table, new TextEncoder().encode('é'), 0, 2), 5);
  t.equal(rankOf(table, bytes(0x62, 0x61), 0, 2), -1, 'an absent pair');
  t.equal(rankOf(table, bytes(), 0, 0), -1, 'the unused rank is not the empty token');
});

t.test('a rank table refuses a file that is not one, and a token that repeats', async (t) => {
  const file = rankTableBytes(['a', 'b']);
  t.throws(() => openRankTable(file.subarray(0, 8)), /too short/);
  t.throws(() => openRankTable(file.subarray(0, file.length - 1)), /wrong header or size/);
  const json = new TextEncoder().encode(JSON.stringify(['a', 'b', 'padding to the same length']));
  t.throws(() => openRankTable(json), /wrong header or size/, 'the JSON ranks an older build wrote');
  const unaligned = Buffer.alloc(file.length + 1);
  unaligned.set(file, 1);
  t.equal(rankOf(openRankTable(unaligned.subarray(1)), Uint8Array.of(0x62), 0, 1), 1, 'a file read into an unaligned Buffer still opens');
  t.throws(() => rankTableBytes(['a', 'b', 'a']), /rank 2 repeats an earlier token/);
});

t.test('a damaged rank table is refused rather than looping or counting with the wrong tokens', async (t) => {
  // ['a', 'b']: header [magic, 2 tokens, 4 slots, 2 bytes], offsets at words 4-6, slots at 7-10, then "ab".
  const damaged = (change: (words: Uint32Array) => void) => {
    const file = rankTableBytes(['a', 'b']);
    change(new Uint32Array(file.buffer, file.byteOffset, 11));
    return file;
  };
  t.throws(() => openRankTable(damaged((w) => (w[5] = 3))), /offsets go back at rank 1/);
  t.throws(() => openRankTable(damaged((w) => (w[6] = 1))), /offsets do not span the bytes/);
  t.throws(() => openRankTable(damaged((w) => w.fill(9, 7, 8))), /names no token/);
  t.throws(() => openRankTable(damaged((w) => w.fill(1, 7, 11))), /no empty slot/, 'a lookup of an absent token would never stop');
  const noSlots = new Uint8Array(30);
  const words = new Uint32Array(noSlots.buffer, 0, 7);
  words.set([...new Uint32Array(rankTableBytes(['a', 'b']).buffer, 0, 2), 0, 2, 0, 1, 2]);
  noSlots.set([0x61, 0x62], 28);
  t.throws(() => openRankTable(noSlots), /wrong header or size/, 'a table without slots');
});
