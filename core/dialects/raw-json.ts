/**
 * A JSON request body read by its top-level fields, without parsing the whole of it.
 *
 * Routing needs a few small fields (`model`, `stream`, `max_tokens`, `thinking` …) while a coding
 * agent's body is mostly conversation (a 470 KB Claude Code request is 95% `messages`). One pass
 * over the bytes finds where each top-level value starts and ends; a field is decoded and parsed on
 * its own when asked for; the whole body only when the full request is needed. The pass works on
 * bytes (JSON's structural characters are ASCII, so UTF-8 content is never mistaken for them) and
 * jumps over string contents with indexOf, so it costs a fraction of decoding and parsing.
 *
 *   const body = new RawJsonObject(bytes);      // throws RK_BAD_JSON for a non-object or cut body
 *   body.field('model');                        // parses only that value
 *   body.withString('model', 'deepseek-chat');  // the body with one field changed, as chunks
 */
import { decodeJsonText } from '../json-bytes.ts';
import { isRouterError, isStackOverflow, routerError } from '../errors.ts';
import { elementHashes, requestMemo, type ArraySplit } from './element-memo.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

/** Byte offsets (end exclusive) of a top-level value, and of each element when it is an array. */
export interface FieldLayout {
  start: number;
  end: number;
  elements?: ElementRanges;
}

/** An array's elements: their ranges, and their hashes computed once for whoever asks first. */
export interface ElementRanges extends ArraySplit {
  readonly hashes: readonly string[];
}

interface Member {
  start: number;
  end: number;
  /** A later member with the same name (JSON.parse keeps the last one). */
  duplicated: boolean;
}

export class RawJsonObject {
  readonly #members = new Map<string, Member>();
  readonly #parsed = new Map<string, unknown>();
  /** Element ranges of the arrays asked for (most requests never ask). */
  #elements: Map<string, ElementRanges> | undefined = undefined;
  /** Some field appears more than once. */
  #repeats = false;
  /** What `parse()` read through the element memo, kept once the request is accepted. */
  #keep: Array<() => void> | undefined = undefined;

  constructor(readonly bytes: Buffer) {
    let i = skipSpace(bytes, 0);
    if (bytes[i] !== OPEN_BRACE) throw badJson('expected a JSON object');
    i = skipSpace(bytes, i + 1);
    if (bytes[i] === CLOSE_BRACE) {
      this.#end(i);
      return;
    }
    for (;;) {
      if (bytes[i] !== QUOTE) throw badJson(`expected a field name at byte ${i}`);
      const keyEnd = skipString(bytes, i);
      if (keyEnd < 0) throw badJson('the body ends inside a string');
      const key = readString(bytes, i, keyEnd);
      i = skipSpace(bytes, keyEnd);
      if (bytes[i] !== COLON) throw badJson(`expected ':' at byte ${i}`);
      const start = skipSpace(bytes, i + 1);
      const end = skipValue(bytes, start);
      if (end < 0) throw badJson('the body ends before the object does');
      const earlier = this.#members.get(key);
      if (earlier) this.#repeats = true;
      this.#members.set(key, { start, end, duplicated: earlier !== undefined });
      i = skipSpace(bytes, end);
      if (bytes[i] === COMMA) {
        i = skipSpace(bytes, i + 1);
        continue;
      }
      if (bytes[i] === CLOSE_BRACE) {
        this.#end(i);
        return;
      }
      throw badJson(`expected ',' or '}' at byte ${i}`);
    }
  }

  #end(close: number): void {
    if (skipSpace(this.bytes, close + 1) !== this.bytes.length) throw badJson('unexpected content after the object');
  }

  has(name: string): boolean {
    return this.#members.has(name);
  }

  /**
   * Where a top-level field's value sits in the bytes and, for an array, where each of its
   * elements does. Undefined when the field is absent or repeated.
   */
  layout(name: string): FieldLayout | undefined {
    const member = this.#members.get(name);
    if (!member || member.duplicated) return undefined;
    const elements = this.bytes[member.start] === OPEN_BRACKET ? this.#split(name, member) : undefined;
    return elements ? { start: member.start, end: member.end, elements } : { start: member.start, end: member.end };
  }

  #split(name: string, member: Member): ElementRanges {
    this.#elements ??= new Map();
    let split = this.#elements.get(name);
    if (!split) this.#elements.set(name, (split = withHashes(this.bytes, splitArray(this.bytes, member.start, member.end))));
    return split;
  }

  /** The parsed value of one top-level field (the last one if it is repeated), or undefined. */
  field(name: string): unknown {
    if (this.#parsed.has(name)) return this.#parsed.get(name);
    const member = this.#members.get(name);
    let value: unknown;
    if (member) {
      try {
        value = this.bytes[member.start] === QUOTE ? readString(this.bytes, member.start, member.end) : JSON.parse(decodeJsonText(this.bytes.subarray(member.start, member.end)));
      } catch (err) {
        throw badJson((err as Error).message);
      }
    }
    this.#parsed.set(name, value);
    return value;
  }

  /** Whether a field appears more than once. */
  duplicated(name: string): boolean {
    return this.#members.get(name)?.duplicated === true;
  }

  /**
   * The body with one string field set to `value`, as three chunks to send in order: the bytes
   * before the value and after it are views of the received body, not copies. (Copying a 470 KB
   * body per request costs more in garbage collection than in the copy itself.) Undefined if the
   * field is absent, not a string, or repeated (editing one of two would let a client be routed by
   * one value and served by the other, since parsers keep the last).
   */
  withString(name: string, value: string): Buffer[] | undefined {
    const member = this.#members.get(name);
    if (!member || member.duplicated || this.bytes[member.start] !== QUOTE) return undefined;
    return [this.bytes.subarray(0, member.start), Buffer.from(JSON.stringify(value)), this.bytes.subarray(member.end)];
  }

  /**
   * The whole body, parsed. A large body is parsed piece by piece (each member, and each element
   * of a large array) rather than as one string: V8 puts a string over ~128 KB in its large-object
   * space, a fresh mapping whose every page faults when written, which made decoding a 470 KB body
   * cost 1.6 ms here against 0.04 ms for the same bytes in pieces. The value is the same as
   * JSON.parse's (member order, last duplicate wins, `__proto__` an own property).
   */
  parse(): Record<string, unknown> {
    try {
      // A repeated field is rare and its earlier copies must still be valid JSON: parse it whole.
      if (this.bytes.length < pieceSize || this.#repeats) return JSON.parse(decodeJsonText(this.bytes)) as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [key, member] of this.#members) {
        const { start, end } = member;
        let value: unknown;
        if (this.bytes[start] === OPEN_BRACKET && end - start >= memoSize) {
          // A large array (the conversation, the tool list) reuses what the same conversation's
          // earlier requests parsed (element-memo.ts): its values come back deep-frozen.
          const parsed = requestMemo.parseArray(this.bytes, this.#split(key, member), key, parseBytes);
          (this.#keep ??= []).push(parsed.keep);
          value = parsed.values;
        } else value = parseRange(this.bytes, start, end);
        setMember(out, key, value);
      }
      return out;
    } catch (err) {
      if (isRouterError(err)) throw err;
      throw isStackOverflow(err) ? routerError('RK_TOO_DEEP', {}, { cause: err }) : badJson((err as Error).message);
    }
  }

  /**
   * Keeps the large arrays `parse()` read for the conversation's next request. Call it once the
   * request is known to be valid (the kernel does, after the dialect accepted it), so that a body
   * refused as invalid holds no memory.
   */
  keepParsed(): void {
    const keep = this.#keep;
    this.#keep = undefined;
    if (keep) for (const k of keep) k();
  }
}

/**
 * The split with its elements' hashes, made on first use: the element memo and token counting
 * both key a conversation's messages by them, and a request pays for hashing its bytes once.
 */
function withHashes(bytes: Buffer, split: ArraySplit): ElementRanges {
  let hashes: readonly string[] | undefined;
  return Object.freeze({
    starts: split.starts,
    ends: split.ends,
    get hashes() {
      return (hashes ??= elementHashes(bytes, split));
    },
  });
}

/** Values at least this long are parsed in parts (well under V8's large-object threshold). */
const pieceSize = 64 * 1024;
/** How many levels below a top-level member a large value is still split. */
const splitDepth = 4;
/** Top-level arrays at least this long go through the element memo. */
const memoSize = 16 * 1024;

function parseBytes(bytes: Buffer): unknown {
  return parseRange(bytes, 0, bytes.length, 1);
}

/** Where each element of the array in [start, end) starts and ends. */
function splitArray(raw: Buffer, start: number, end: number): ArraySplit {
  const starts: number[] = [];
  const ends: number[] = [];
  let i = skipSpace(raw, start + 1);
  // Frozen: a split is kept with the conversation and handed to plugins (RawRequest.layout).
  if (raw[i] === CLOSE_BRACKET) return { starts: Object.freeze(starts), ends: Object.freeze(ends) };
  for (;;) {
    const valueEnd = skipValue(raw, i);
    if (valueEnd < 0 || valueEnd > end) throw badJson('the body ends before the array does');
    starts.push(i);
    ends.push(valueEnd);
    i = skipSpace(raw, valueEnd);
    if (raw[i] === COMMA) {
      i = skipSpace(raw, i + 1);
      continue;
    }
    if (raw[i] === CLOSE_BRACKET && i === end - 1) return { starts: Object.freeze(starts), ends: Object.freeze(ends) };
    throw badJson(`expected ',' or ']' at byte ${i}`);
  }
}

/**
 * The JSON value in [start, end), parsed in parts when large (see RawJsonObject.parse), down to
 * `splitDepth` levels (a message, its content, a block): deeper, a large value is one piece, so
 * a deeply nested body costs one scan per level it is split at, not one per level it has.
 */
function parseRange(raw: Buffer, start: number, end: number, depth = 0): unknown {
  const first = raw[start];
  if (end - start < pieceSize || depth >= splitDepth || (first !== OPEN_BRACE && first !== OPEN_BRACKET)) return JSON.parse(decodeJsonText(raw.subarray(start, end)));
  if (first === OPEN_BRACKET) {
    const { starts, ends } = splitArray(raw, start, end);
    return starts.map((at, i) => parseRange(raw, at, ends[i], depth + 1));
  }
  const out: Record<string, unknown> = {};
  let i = skipSpace(raw, start + 1);
  if (raw[i] === CLOSE_BRACE) return out;
  for (;;) {
    if (raw[i] !== QUOTE) throw badJson(`expected a field name at byte ${i}`);
    const keyEnd = skipString(raw, i);
    const key = readString(raw, i, keyEnd);
    i = skipSpace(raw, keyEnd);
    if (raw[i] !== COLON) throw badJson(`expected ':' at byte ${i}`);
    i = skipSpace(raw, i + 1);
    const valueEnd = skipValue(raw, i);
    if (valueEnd < 0 || valueEnd > end) throw badJson('the body ends before the value does');
    setMember(out, key, parseRange(raw, i, valueEnd, depth + 1));
    i = skipSpace(raw, valueEnd);
    if (raw[i] === COMMA) {
      i = skipSpace(raw, i + 1);
      continue;
    }
    if (raw[i] === CLOSE_BRACE && i === end - 1) return out;
    throw badJson(`expected ',' or '}' at byte ${i}`);
  }
}

/** Sets a member as JSON.parse does: `__proto__` becomes an own property, not the prototype. */
function setMember(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  else out[key] = value;
}

function badJson(reason: string) {
  return routerError('RK_BAD_JSON', { reason });
}

function skipSpace(raw: Buffer, i: number): number {
  while (i < raw.length && (raw[i] === 0x20 || raw[i] === 0x0a || raw[i] === 0x0d || raw[i] === 0x09)) i++;
  return i;
}

/**
 * The JSON string from `start` (its opening quote) to `end` (just past its closing quote). Plain
 * ASCII without escapes, which model names and field names always are, is sliced directly.
 */
function readString(raw: Buffer, start: number, end: number): string {
  for (let j = start + 1; j < end - 1; j++) {
    const b = raw[j];
    if (b >= 0x80 || b === BACKSLASH || b < 0x20) return JSON.parse(decodeJsonText(raw.subarray(start, end))) as string;
  }
  return raw.toString('latin1', start + 1, end - 1);
}

/** Index just past the string starting at `i` (which is a quote), or -1 if it never ends. */
function skipString(raw: Buffer, i: number): number {
  // Most strings in a request are short (keys, roles, ids): a plain loop beats calling indexOf.
  let j = i + 1;
  const near = Math.min(raw.length, j + 64);
  for (; j < near; j++) {
    const b = raw[j];
    if (b === QUOTE) return j + 1;
    if (b === BACKSLASH) j++;
  }
  // A long one (a file, a tool result): jump from quote to quote, checking each is not escaped.
  for (;;) {
    const q = raw.indexOf(QUOTE, j);
    if (q === -1) return -1;
    let slashes = 0;
    for (let k = q - 1; raw[k] === BACKSLASH; k--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** Index just past the value starting at `i`, or -1 when the JSON is cut short. */
function skipValue(raw: Buffer, i: number): number {
  const c = raw[i];
  if (c === QUOTE) return skipString(raw, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    let j = i;
    while (j < raw.length) {
      const b = raw[j];
      if (b === QUOTE) {
        j = skipString(raw, j);
        if (j < 0) return -1;
        continue;
      }
      if (b === OPEN_BRACE || b === OPEN_BRACKET) depth++;
      else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return -1;
  }
  let j = i;
  while (j < raw.length && raw[j] !== COMMA && raw[j] !== CLOSE_BRACE && raw[j] !== CLOSE_BRACKET && raw[j] !== 0x20 && raw[j] !== 0x0a && raw[j] !== 0x0d && raw[j] !== 0x09) j++;
  return j === i ? -1 : j;
}
