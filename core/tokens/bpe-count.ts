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
 */
import { rankOf, type RankTable } from './rank-table.ts';

const unmerged = 0x7fffffff;

export function bpeCounter(table: RankTable, pattern: RegExp): (text: string) => number {
  const split = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : pattern.flags + 'g');
  const encoder = new TextEncoder();
  let bytes = new Uint8Array(1024);
  let starts = new Int32Array(1024);
  let ranks = new Int32Array(1024);

  /** Tokens of the piece in bytes[0 .. length] that is not itself a token. */
  const merge = (length: number): number => {
    if (starts.length <= length) {
      starts = new Int32Array(length * 2);
      ranks = new Int32Array(length * 2);
    }
    // Part i is bytes[starts[i] .. starts[i + 1]]; ranks[i] is the rank of parts i and i + 1 joined.
    let parts = length;
    for (let i = 0; i <= length; i++) starts[i] = i;
    for (let i = 0; i < length; i++) ranks[i] = i + 1 < length ? pairRank(i, parts) : unmerged;
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
      for (let i = at + 1; i < parts; i++) starts[i] = starts[i + 1];
      for (let i = at; i < parts - 1; i++) ranks[i] = ranks[i + 1];
      parts--;
      ranks[at] = pairRank(at, parts);
      if (at > 0) ranks[at - 1] = pairRank(at - 1, parts);
    }
    return parts;
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
      if (bytes.length < piece.length * 3) bytes = new Uint8Array(piece.length * 6);
      // A lone surrogate is encoded as U+FFFD. gpt-tokenizer looks the piece up by its text, which
      // then never matches, and merges its bytes; the test finds the same counts either way.
      const length = encoder.encodeInto(piece, bytes).written;
      tokens += rankOf(table, bytes, 0, length) >= 0 ? 1 : merge(length);
    }
    return tokens;
  };
}
