/**
 * Our BPE counter over the flat rank table, against gpt-tokenizer's own encoder (which matches
 * tiktoken): the same count for any text, in both encodings, and a table file that refuses to be
 * misread.
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
const text = fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 12 })), { maxLength: 40 }).map((parts) => parts.join(''));

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

t.test(`a piece longer than ${longPiece} bytes is merged in ${pieceSlice}-byte slices, near its exact count`, async (t) => {
  const [o200k] = encodings;
  // o200k_base's pattern takes punctuation followed by any run of "/" and line breaks as one
  // piece, which long-runs.ts does not cut (its classes alternate at every character).
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
  const unaligned = new Uint8Array(file.length + 1);
  unaligned.set(file, 1);
  t.equal(rankOf(openRankTable(unaligned.subarray(1)), Uint8Array.of(0x62), 0, 1), 1, 'a file read into an unaligned buffer still opens');
  t.throws(() => rankTableBytes(['a', 'b', 'a']), /rank 2 repeats an earlier token/);
});
