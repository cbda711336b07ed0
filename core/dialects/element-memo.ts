/**
 * Conversations grow by appending: every Claude Code turn resends the whole conversation so far,
 * the same tool list and the same system prompt. The large arrays of a request body (`messages`,
 * `tools`) are therefore parsed element by element, and an element whose bytes are those of the
 * element at the same position in an earlier request of the same conversation is not parsed
 * again: its value is reused. Elements are recognised by their length and a 64-bit xxHash of
 * their bytes (seeded at random per process, as the token counter's block keys are; see
 * core/tokens/block-hash.ts): hashing costs a fraction of decoding and parsing, so a turn that
 * adds two messages to a 470 KB conversation parses only those two. No body is kept: holding
 * received buffers pinned memory the allocator could otherwise return after a burst of traffic.
 *
 * A reused value is shared by every request that sent the same bytes, so values are deep-frozen
 * when first parsed: code that edits a request in place fails loudly instead of changing other
 * requests. Frozen values also let later stages cache by identity (the canonical message, its
 * translation, its JSON text; see parse-request.ts, build-request.ts and json-bytes.ts).
 *
 * A conversation is recognised by its array's first element, and by how many leading elements it
 * shares with each state kept for that first element (parallel sessions started from the same
 * prompt each keep their own). An array is kept only once its request was accepted, and memory is
 * bounded by an estimate of the heap the kept values and everything derived from them hold, under
 * `maxBytes`, least recently used out first.
 *
 *   const { values, keep } = requestMemo.parseArray(bytes, split, 'messages', parse);   // like JSON.parse
 *   keep();   // once the request was accepted
 */
import { LRUCache } from 'lru-cache';
import { blockHasher } from '../tokens/block-hash.ts';

// The hasher is WebAssembly, compiled once when this module loads (a few milliseconds).
const hasher = await blockHasher();

/** One state of a conversation's array: each element's length, hash, value and cost. */
interface Entry {
  lengths: number[];
  hashes: readonly string[];
  values: unknown[];
  /** Each element's estimated heap, its value and what is derived from it included. */
  costs: number[];
  /** Every element's cost: what keeping this entry holds. */
  size: number;
}

/** Conversations whose arrays begin with the same element (parallel sessions given one prompt). */
interface Family {
  entries: Entry[];
  size: number;
}

export interface ArraySplit {
  /** Element start offsets in the body. */
  readonly starts: readonly number[];
  /** Element end offsets (exclusive). */
  readonly ends: readonly number[];
  /** Each element's `elementHashes` value, when the caller already has them (the kernel's scan does). */
  readonly hashes?: readonly string[];
}

/**
 * Each element's 64-bit xxHash (the token counter's block hasher, so the same bytes give the same
 * key there): what the memo recognises elements by and token counting remembers messages by.
 */
export function elementHashes(body: Buffer, split: ArraySplit): readonly string[] {
  return Object.freeze(split.starts.map((start, i) => hasher.bytes(body.subarray(start, split.ends[i]))));
}

export interface ParsedArray {
  values: unknown[];
  /**
   * Keeps this array for the conversation's next request. Called once the request was accepted:
   * a body refused as invalid keeps nothing.
   */
  keep(): void;
}

/** States kept per first element: parallel sessions started from the same prompt each keep theirs. */
const statesPerFamily = 4;
/**
 * Heap per parsed byte and per object, times three: the JSON value, the canonical message made
 * from it and its translation (with its JSON text) are all kept while the element is.
 */
const costPerByte = 3;
const costPerNode = 3 * 64;

export class ElementMemo {
  readonly #families: LRUCache<string, Family>;
  /** Elements reused and parsed since start (for tests and benchmarks). */
  readonly stats = { reused: 0, parsed: 0 };

  /** `maxBytes` bounds the estimated heap of the kept values and what is derived from them. */
  constructor(maxBytes: number) {
    this.#families = new LRUCache<string, Family>({ maxSize: maxBytes, sizeCalculation: (family) => Math.max(1, family.size) });
  }

  /**
   * The array whose elements sit at `split` in `body`, each parsed with `parse` (bytes → value)
   * unless a kept state of the same conversation had the same bytes at the same position. `field`
   * keeps the arrays of different fields apart.
   */
  parseArray(body: Buffer, split: ArraySplit, field: string, parse: (bytes: Buffer) => unknown): ParsedArray {
    const { starts, ends } = split;
    const count = starts.length;
    if (count === 0) return { values: [], keep() {} };
    const lengths = starts.map((start, i) => ends[i] - start);
    const hashes = split.hashes ?? elementHashes(body, split);
    const key = `${field}:${lengths[0]}:${hashes[0]}`;
    const family = this.#families.get(key);
    const { best, prefix } = closest(family?.entries ?? [], lengths, hashes);
    const values = new Array<unknown>(count);
    const costs = new Array<number>(count);
    let parsed = 0;
    for (let i = 0; i < count; i++) {
      if (best && i < best.values.length && (i < prefix || same(best, i, lengths[i], hashes[i]))) {
        values[i] = best.values[i];
        costs[i] = best.costs[i];
      } else {
        const value = parse(body.subarray(starts[i], ends[i]));
        costs[i] = costPerByte * lengths[i] + costPerNode * freezeCounting(value);
        values[i] = value;
        parsed++;
      }
    }
    this.stats.parsed += parsed;
    this.stats.reused += count - parsed;
    const keep = () => {
      // An earlier state of a kept conversation (a retry, a slower client of it) keeps nothing new.
      if (best && parsed === 0 && best.values.length >= count) return;
      let size = 0;
      for (const cost of costs) size += cost;
      const entry: Entry = { lengths, hashes, values, costs, size };
      const entries = (family?.entries ?? []).filter((e) => e !== best || prefix < Math.min(best.values.length, count) - 2);
      // The next turn of the closest state replaces it (its last message or two may differ:
      // clients move cache markers); a conversation that went its own way is kept beside it.
      entries.unshift(entry);
      entries.length = Math.min(entries.length, statesPerFamily);
      this.#families.set(key, { entries, size: entries.reduce((n, e) => n + e.size, 0) });
    };
    return { values, keep };
  }

  /** The estimated memory kept now. */
  get size(): number {
    return this.#families.calculatedSize;
  }

  clear(): void {
    this.#families.clear();
  }
}

/** The kept state sharing the longest run of leading elements, and that run's length. */
function closest(entries: Entry[], lengths: number[], hashes: readonly string[]): { best: Entry | undefined; prefix: number } {
  let best: Entry | undefined;
  let prefix = 0;
  for (const entry of entries) {
    let n = 0;
    const limit = Math.min(entry.values.length, lengths.length);
    while (n < limit && same(entry, n, lengths[n], hashes[n])) n++;
    if (!best || n > prefix) {
      best = entry;
      prefix = n;
    }
  }
  return { best, prefix };
}

function same(entry: Entry, i: number, length: number, hash: string): boolean {
  return entry.lengths[i] === length && entry.hashes[i] === hash;
}

/** deepFreeze that also counts the objects and arrays it froze (for the memo's size estimate). */
function freezeCounting(value: unknown): number {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return 0;
  Object.freeze(value);
  let nodes = 1;
  if (Array.isArray(value)) for (const item of value) nodes += freezeCounting(item);
  else for (const key in value) nodes += freezeCounting((value as Record<string, unknown>)[key]);
  return nodes;
}

/** Freezes a parsed JSON value and everything in it (plain objects and arrays only). */
export function deepFreeze<T>(value: T): T {
  freezeCounting(value);
  return value;
}

/**
 * The process's memo for client request bodies: 64 MB holds the parsed values of a dozen or more
 * long Claude Code conversations (a 470 KB body is ~120k tokens and costs ~2–4 MB kept).
 */
export const requestMemo = new ElementMemo(64 * 1024 * 1024);

/**
 * What is derived from a shared, frozen value (a canonical message from its JSON, a translation
 * from a canonical message) is derived once and shared too, frozen in turn. A value that is not
 * frozen belongs to one request and is derived afresh.
 */
export function derivedOnce<V>(memo: WeakMap<object, V>, source: unknown, derive: () => V): V {
  if (typeof source !== 'object' || source === null || !Object.isFrozen(source)) return derive();
  let value = memo.get(source);
  if (value === undefined) {
    value = deepFreeze(derive());
    memo.set(source, value);
  }
  return value;
}

/** What translating one shared message or tool gave: the output items and the features it dropped. */
export interface Translation<T> {
  out: T[];
  dropped: string[];
}

/**
 * Translates `source` into `into`, once per memo for a shared (frozen) source: later requests get
 * the same frozen output, and the features its translation dropped are reported to them again.
 */
export function translatedOnce<T>(memo: WeakMap<object, Translation<T>>, source: unknown, into: T[], dropped: (feature: string) => void, translate: (out: T[], dropped: (feature: string) => void) => void): void {
  const translation = derivedOnce(memo, source, () => {
    const out: T[] = [];
    const lost: string[] = [];
    translate(out, (feature) => lost.push(feature));
    return { out, dropped: lost };
  });
  for (const item of translation.out) into.push(item);
  for (const feature of translation.dropped) dropped(feature);
}
