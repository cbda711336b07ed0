/**
 * Long runs of one character class are cut before the tokenizer sees them (its merge is quadratic
 * in a pre-token's length); everything else reaches it whole, so ordinary counts stay exact.
 */
import t from 'tap';
import { longRun, segments, slice } from '../../core/tokens/long-runs.ts';
import { claudeCodeRequest } from '../helpers/fixtures.ts';

t.test('ordinary text is one segment, however long', async (t) => {
  const prose = 'The quick brown fox jumps over the lazy dog. '.repeat(2_000);
  t.same(segments(prose), [prose]);
  const recorded = JSON.stringify(claudeCodeRequest('tool-use-03').body);
  t.same(segments(recorded), [recorded], 'a whole Claude Code request body');
  const chinese = '我们今天讨论的是分词器的性能问题，以及如何在不影响普通文本的情况下避免最坏情况。'.repeat(500);
  t.same(segments(chinese), [chinese], 'CJK prose breaks at its punctuation');
});

t.test(`a run of one class longer than ${longRun} characters is cut every ${slice} characters`, async (t) => {
  const text = 'x' + ' '.repeat(1_000) + 'y';
  t.same(
    segments(text).map((s) => s.length),
    [1 + slice, slice, slice, 1_000 - 3 * slice + 1],
  );
  t.equal(segments(text).join(''), text, 'nothing lost or added');
  for (const [name, run] of [['letters', 'a'], ['newlines', '\n'], ['punctuation', '-'], ['CJK letters', '漢']]) {
    t.equal(segments(run.repeat(10 * slice)).length, 10, name);
  }
});

t.test(`a run of exactly ${longRun} characters is not cut`, async (t) => {
  const text = `a ${'b'.repeat(longRun)} c`;
  t.same(segments(text), [text]);
});

t.test('digits are never cut: the pre-tokenizer already splits them in threes', async (t) => {
  const digits = '7'.repeat(5_000);
  t.same(segments(digits), [digits]);
});

t.test('a cut never separates the halves of a surrogate pair', async (t) => {
  const emoji = '🎉'.repeat(1_000);
  const parts = segments(`x${emoji}`);
  t.ok(parts.length > 1);
  for (const part of parts) t.notMatch(part, /^[\udc00-\udfff]|[\ud800-\udbff]$/, 'no lone surrogate at an edge');
  t.equal(parts.join(''), `x${emoji}`);
});
