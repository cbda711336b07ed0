/**
 * Conversations grow by appending: every Claude Code turn resends the whole conversation so far,
 * the same tool list and the same system prompt. The large arrays of a request body (`messages`,
 * `tools`) are therefore parsed element by element, and an element whose bytes equal the element
 * at the same position in the previous request of the same conversation is not parsed again: its
 * value is reused. Comparing bytes (memcmp) costs a fraction of decoding and parsing them, so a
 * turn that adds two messages to a 470 KB conversation parses only those two.
 *
 * A reused value is shared by every request that sent the same bytes, so values are deep-frozen
 * when first parsed: code that edits a request in place fails loudly instead of changing other
 * requests. Frozen values also let later stages cache by identity (the canonical message, its
 * translation, its JSON text; see parse-request.ts, build-request.ts and json-bytes.ts).
 *
 * A conversation is recognised by its array's first element (the first user message, the first
 * tool). Memory is bounded: at most `maxBytes` of request bytes are kept, least recently used first
 * to go; each kept region is a view of a body the router already received, not a copy.
 *
 *   const values = elementMemo.parseArray(bytes, start, end, 'messages');   // like JSON.parse
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** One conversation's last array: its bytes and each element's place and value. */
interface Entry {
  bytes: Buffer;
  starts: number[];
  ends: number[];
  values: unknown[];
}

export interface ArraySplit {
  /** Element start offsets in the body. */
  starts: number[];
  /** Element end offsets (exclusive). */
  ends: number[];
}

export class ElementMemo {
  readonly #entries: LRUCache<string, Entry>;
  /** Elements reused and parsed since start (for tests and benchmarks). */
  readonly stats = { reused: 0, parsed: 0 };

  constructor(maxBytes: number) {
    this.#entries = new LRUCache<string, Entry>({ maxSize: maxBytes, sizeCalculation: (entry) => Math.max(1, entry.bytes.length) });
  }

  /**
   * The array whose elements sit at `split` in `body`, each parsed with `parse` (bytes → value)
   * unless the same bytes were at the same position last time. `field` keeps the arrays of
   * different fields apart.
   */
  parseArray(body: Buffer, split: ArraySplit, field: string, parse: (bytes: Buffer) => unknown): unknown[] {
    const { starts, ends } = split;
    const count = starts.length;
    if (count === 0) return [];
    const key = `${field}:${createHash('sha1').update(body.subarray(starts[0], ends[0])).digest('base64')}`;
    const last = this.#entries.get(key);
    const values = new Array<unknown>(count);
    let parsed = 0;
    for (let i = 0; i < count; i++) {
      const start = starts[i];
      const end = ends[i];
      if (last && i < last.values.length && last.ends[i] - last.starts[i] === end - start && body.compare(last.bytes, last.starts[i], last.ends[i], start, end) === 0) {
        values[i] = last.values[i];
      } else {
        values[i] = deepFreeze(parse(body.subarray(start, end)));
        parsed++;
      }
    }
    this.stats.parsed += parsed;
    this.stats.reused += count - parsed;
    // A request that is an earlier state of the kept one (a retry, a subagent forked from it, a
    // slower client of the same conversation) leaves the longer one kept.
    if (parsed > 0 || !last || last.values.length < count) this.#entries.set(key, { bytes: body, starts, ends, values });
    return values;
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** Freezes a parsed JSON value and everything in it (plain objects and arrays only). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) for (const item of value) deepFreeze(item);
  else for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}

/**
 * The process's memo for client request bodies: 64 MB of kept request bytes is a few dozen long
 * Claude Code conversations (a 470 KB body is ~120k tokens).
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
