/**
 * Keeps the tokenizer linear. o200k_base and cl100k_base first cut text into pre-tokens with a
 * regular expression, then merge each pre-token's bytes by BPE, and a BPE merge is quadratic in
 * the pre-token's length: 100,000 spaces took ~10 s in a worker, 200,000 × "a" ~26 s,
 * holding the pool for everyone. The pre-tokenizer keeps a run of letters, of whitespace or of
 * punctuation and symbols as one piece (digits it already cuts in threes), so only such runs can
 * be long.
 *
 *   segments('x' + ' '.repeat(1_000) + 'y')   // ['x' + 256 spaces, 256 spaces, 256 spaces, 232 spaces + 'y']
 *
 * A run longer than `longRun` characters is cut into `slice`-character pieces and the text counted
 * as the sum of its segments, so it costs linear time; its count differs from the exact one by at
 * most about a token per cut. Text without such a run (ordinary prose and code in any language:
 * a run that long has no word break, line break or change between letters and punctuation) is
 * one segment, counted exactly.
 */

/** Runs up to this length are counted whole (merging 512 characters costs well under a millisecond). */
export const longRun = 512;
/** Long runs are counted in slices of this many characters. */
export const slice = 256;

const letter = 1;
const space = 2;
const digit = 3;
const other = 4;

/** Class of each UTF-16 code unit (0: not yet looked up), filled on first sight: a Unicode property test costs ~100 ns, a table read nothing. */
const unitClass = new Uint8Array(0x10000);
const astralClass = new Map<number, number>();

function classify(char: string): number {
  if (/[\p{L}\p{M}]/u.test(char)) return letter;
  if (/\s/u.test(char)) return space;
  if (/\p{N}/u.test(char)) return digit;
  return other;
}

/**
 * `text` cut inside every run of one class (letters, whitespace, or punctuation and symbols)
 * longer than `longRun`; one segment (the text itself) when there is none. One pass over the text.
 */
export function segments(text: string): string[] {
  if (text.length <= longRun) return [text];
  let out: string[] | undefined;
  let from = 0;
  const cutRun = (start: number, end: number) => {
    for (let cut = start + slice; cut < end; cut += slice) {
      // Never between the two halves of a surrogate pair (an emoji, a rare CJK character).
      const at = isLowSurrogate(text.charCodeAt(cut)) ? cut + 1 : cut;
      if (at <= from || at >= end) continue;
      (out ??= []).push(text.slice(from, at));
      from = at;
    }
  };
  let runClass = 0;
  let runStart = 0;
  for (let i = 0; i < text.length; ) {
    const code = text.charCodeAt(i);
    let cls: number;
    let width = 1;
    if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      const point = text.codePointAt(i)!;
      cls = astralClass.get(point) ?? 0;
      if (cls === 0) astralClass.set(point, (cls = classify(String.fromCodePoint(point))));
      width = 2;
    } else {
      cls = unitClass[code];
      if (cls === 0) unitClass[code] = cls = classify(String.fromCharCode(code));
    }
    if (cls !== runClass) {
      if (runClass !== digit && i - runStart > longRun) cutRun(runStart, i);
      runClass = cls;
      runStart = i;
    }
    i += width;
  }
  if (runClass !== digit && text.length - runStart > longRun) cutRun(runStart, text.length);
  if (!out) return [text];
  out.push(text.slice(from));
  return out;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
