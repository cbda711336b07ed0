/**
 * A BPE encoding's ranks as one flat table of bytes, for counting in a token worker.
 *
 * gpt-tokenizer holds o200k_base as a 200k-entry `Map` from strings to ranks, an array of the same
 * strings, and a 100k-entry cache of merges; in a worker that came to ~60 MB of resident memory
 * once it had counted a long conversation. The same ranks as a table are 4.3 MB (o200k_base),
 * outside V8's heap, and load from a file without parsing:
 *
 *   header   4 × u32: magic, token count n, hash slots (a power of two), byte count
 *   offsets  (n + 1) × u32: token r is bytes[offsets[r] .. offsets[r + 1]]
 *   slots    u32 each: rank + 1 of the token whose hash lands there (0: empty), linear probing
 *   bytes    every token's bytes, in rank order
 *
 *   const file = rankTableBytes(ranks);            // at build time (bin/build.js)
 *   const table = openRankTable(readFileSync(f));  // in the worker
 *   rankOf(table, bytes, 0, 3);                    // the rank of bytes[0..3], or -1
 */

/** "RKB1", little-endian: a file from another format or version of this table is refused. */
const magic = 0x31424b52;
const headerWords = 4;

export interface RankTable {
  readonly bytes: Uint8Array;
  readonly offsets: Uint32Array;
  readonly slots: Uint32Array;
  readonly mask: number;
}

/** FNV-1a over bytes[start .. end]: cheap for the few bytes of a BPE piece, and spread well enough for linear probing. */
function hashOf(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  return hash >>> 0;
}

/**
 * The table file for gpt-tokenizer's ranks array (index: rank; value: the token's text, or its
 * bytes when they are not UTF-8; unused ranks are holes or null).
 */
export function rankTableBytes(ranks: ReadonlyArray<string | readonly number[] | null | undefined>): Uint8Array {
  const encoder = new TextEncoder();
  const tokens: Uint8Array[] = [];
  let byteCount = 0;
  for (let rank = 0; rank < ranks.length; rank++) {
    const value = ranks[rank];
    const bytes = typeof value === 'string' ? encoder.encode(value) : value ? Uint8Array.from(value) : new Uint8Array(0);
    tokens.push(bytes);
    byteCount += bytes.length;
  }
  let slotCount = 1;
  while (slotCount < tokens.length * 2) slotCount *= 2;
  const file = new Uint8Array((headerWords + tokens.length + 1 + slotCount) * 4 + byteCount);
  new Uint32Array(file.buffer, 0, headerWords).set([magic, tokens.length, slotCount, byteCount]);
  const table = layout(file, tokens.length, slotCount);
  let at = 0;
  for (let rank = 0; rank < tokens.length; rank++) {
    table.offsets[rank] = at;
    table.bytes.set(tokens[rank], at);
    at += tokens[rank].length;
    if (tokens[rank].length === 0) continue; // an unused rank
    const slot = slotOf(table, tokens[rank], 0, tokens[rank].length);
    // tiktoken's encodings map tokens and ranks one to one; a table that did not would count differently from gpt-tokenizer.
    if (table.slots[slot] !== 0) throw new Error(`rank ${rank} repeats an earlier token`);
    table.slots[slot] = rank + 1;
  }
  table.offsets[tokens.length] = at;
  return file;
}

/** The parts of a table file whose header says `count` tokens and `slotCount` slots. */
function layout(file: Uint8Array, count: number, slotCount: number): RankTable {
  const words = headerWords + count + 1 + slotCount;
  const all = new Uint32Array(file.buffer, file.byteOffset, words);
  return {
    offsets: all.subarray(headerWords, headerWords + count + 1),
    slots: all.subarray(headerWords + count + 1),
    bytes: file.subarray(words * 4),
    mask: slotCount - 1,
  };
}

/**
 * A table over a file's bytes (copied once if they are not 4-byte aligned). Throws on a file that
 * is not a whole, consistent table: a damaged one could otherwise send a lookup round its slots
 * for ever, or count with the wrong tokens. Checking costs one pass (~1 ms for o200k_base).
 */
export function openRankTable(file: Uint8Array): RankTable {
  // new Uint8Array(buffer) copies; a Node Buffer's slice() would only be another view.
  const aligned = file.byteOffset % 4 === 0 ? file : new Uint8Array(file);
  if (aligned.byteLength < headerWords * 4) throw new Error('not a rank table: too short');
  const [mark, count, slotCount, byteCount] = new Uint32Array(aligned.buffer, aligned.byteOffset, headerWords);
  const words = headerWords + count + 1 + slotCount;
  if (mark !== magic || aligned.byteLength !== words * 4 + byteCount || slotCount <= count || (slotCount & (slotCount - 1)) !== 0) {
    throw new Error('not a rank table: wrong header or size');
  }
  const table = layout(aligned, count, slotCount);
  const { offsets, slots } = table;
  if (offsets[0] !== 0 || offsets[count] !== byteCount) throw new Error('not a rank table: offsets do not span the bytes');
  for (let rank = 0; rank < count; rank++) {
    if (offsets[rank + 1] < offsets[rank]) throw new Error(`not a rank table: offsets go back at rank ${rank}`);
  }
  let empty = 0;
  for (let slot = 0; slot < slotCount; slot++) {
    const entry = slots[slot];
    if (entry === 0) empty++;
    else if (entry > count || offsets[entry] === offsets[entry - 1]) throw new Error(`not a rank table: slot ${slot} names no token`);
  }
  // Lookups stop at an empty slot; the build leaves at least half of them empty.
  if (empty === 0) throw new Error('not a rank table: no empty slot');
  return table;
}

/** The rank of the token whose bytes are bytes[start .. end], or -1 when no token has them. */
export function rankOf(table: RankTable, bytes: Uint8Array, start: number, end: number): number {
  return table.slots[slotOf(table, bytes, start, end)] - 1;
}

/** The slot holding the token whose bytes are bytes[start .. end], or the empty slot where it would go. */
function slotOf(table: RankTable, bytes: Uint8Array, start: number, end: number): number {
  const length = end - start;
  const { offsets, slots, mask } = table;
  const tokens = table.bytes;
  for (let slot = hashOf(bytes, start, end) & mask; ; slot = (slot + 1) & mask) {
    const entry = slots[slot];
    if (entry === 0) return slot;
    const from = offsets[entry - 1];
    if (offsets[entry] - from !== length) continue;
    let i = 0;
    while (i < length && tokens[from + i] === bytes[start + i]) i++;
    if (i === length) return slot;
  }
}
