/**
 * Counts the tokens of a text the way tiktoken (and gpt-tokenizer) encodes it, over a rank table
 * (rank-table.ts): the encoding's pattern cuts the text into pieces; a piece that is a token counts
 * one; any other is merged byte pair by byte pair, the pair of lowest rank first (the leftmost on a
 * tie), and counts what is left. Only the count is kept, never the tokens, so nothing is allocated
 * per piece: the piece's UTF-8 and the merge state live in buffers reused across calls.
 *
 *   const count = bpeCounter(openRankTable(file), o200kPattern);
 *   count('hello world');   // 2
 *
 * Special tokens (`<|endoftext|>`) are counted as the text they are written with, as tiktoken's
 * `disallowed_special=()` does: clients send code and docs about tokenizers.
 *
 * The counts are tiktoken's. They are gpt-tokenizer's too, except on text with a byte-order mark
 * (U+FEFF, as in a C# file saved with one): gpt-tokenizer looks tokens up through a TextDecoder,
 * which drops a leading BOM, so it never finds the tokens that begin with one and counts more.
 */
import { rankOf, type RankTable } from './rank-table.ts';

const unmerged = 0x7fffffff;

/**
 * BPE merges a piece in time quadratic in its length, and a pre-token can be as long as the text:
 * a run of letters, of whitespace or of punctuation is one piece (o200k_base also takes `/`
 * followed by any run of `/` and line breaks as one). Merged whole, 100,000 spaces took ~10 s and
 * 200,000 × "a" ~26 s, holding a worker for everyone. A piece longer than `longPiece` bytes is
 * therefore merged in slices of about `pieceSlice` bytes, cut between characters: in linear time,
 * within about a token per slice of its exact count. No piece of ordinary prose or code in any
 * language is that long (a word, a line's indentation, a run of `=`), so its count stays exact.
 */
export const longPiece = 2048;
export const pieceSlice = 512;

/** The UTF-8 buffer grows for a long piece; past this size it is let go after the count. */
const keptBytes = 64 * 1024;

export function bpeCounter(table: RankTable, pattern: RegExp): (text: string) => number {
  const split = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
  const encoder = new TextEncoder();
  let bytes = new Uint8Array(1024);
  // A merge never sees more than `longPiece` bytes.
  const starts = new Int32Array(longPiece + 1);
  const ranks = new Int32Array(longPiece + 1);

  /** Tokens of bytes[from .. to], a piece (or a slice of one) that is not itself a token. */
  const merge = (from: number, to: number): number => {
    const length = to - from;
    // Part i is bytes[starts[i] .. starts[i + 1]]; ranks[i] is the rank of parts i and i + 1 joined.
    let parts = length;
    for (let i = 0; i <= length; i++) starts[i] = from + i;
    for (let i = 0; i < length; i++) ranks[i] = pairRank(i, parts);
    while (parts > 1) {
      let lowest = unmerged;
      let at = -1;
      for (let i = 0; i < parts - 1; i++) {
        if (ranks[i] < lowest) {
          lowest = ranks[i];
          at = i;
        }
      }
      if (at < 0) break;
      // Join parts at and at + 1: drop the boundary between them and the pair rank that joined them.
      starts.copyWithin(at + 1, at + 2, parts + 1);
      ranks.copyWithin(at, at + 1, parts);
      parts--;
      ranks[at] = pairRank(at, parts);
      if (at > 0) ranks[at - 1] = pairRank(at - 1, parts);
    }
    return parts;
  };

  /** Tokens of a long piece, bytes[0 .. length], merged slice by slice. */
  const mergeSliced = (length: number): number => {
    let tokens = 0;
    for (let from = 0; from < length; ) {
      let to = Math.min(length, from + pieceSlice);
      // Back to the start of a character (UTF-8 continuation bytes are 10xxxxxx): a slice never
      // ends inside one, which would leave its bytes to merge with nothing they belong with.
      while (to < length && to > from + 1 && (bytes[to] & 0xc0) === 0x80) to--;
      tokens += merge(from, to);
      from = to;
    }
    return tokens;
  };

  const pairRank = (part: number, parts: number): number => {
    if (part + 1 >= parts) return unmerged;
    const rank = rankOf(table, bytes, starts[part], starts[part + 2]);
    return rank < 0 ? unmerged : rank;
  };

  return (text: string): number => {
    let tokens = 0;
    split.lastIndex = 0;
    for (let match = split.exec(text); match !== null; match = split.exec(text)) {
      const piece = match[0];
      if (bytes.length < piece.length * 3) bytes = new Uint8Array(piece.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit
      // A lone surrogate is encoded as U+FFFD. gpt-tokenizer looks the piece up by its text, which
      // then never matches, and merges its bytes; the test finds the same counts either way.
      const length = encoder.encodeInto(piece, bytes).written;
      if (rankOf(table, bytes, 0, length) >= 0) tokens += 1;
      else if (length <= longPiece) tokens += merge(0, length);
      else tokens += mergeSliced(length);
    }
    if (bytes.length > keptBytes) bytes = new Uint8Array(1024);
    return tokens;
  };
}
