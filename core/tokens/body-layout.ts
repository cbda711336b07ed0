/**
 * Where a JSON request body keeps its `messages`: the byte range of the array and of each element.
 * A growing conversation resends the same elements turn after turn, byte for byte, so their counts
 * can be remembered by their bytes (body-count.ts) without decoding or parsing them again.
 *
 *   const layout = messagesLayout(body);   // { start, end, elements: [[s0, e0], [s1, e1], …] }
 *
 * One pass over the bytes, jumping over string contents with indexOf, like RawJsonObject's scan
 * (core/dialects/raw-json.ts, which keeps its ranges to itself and does not split arrays). JSON's
 * structural characters are ASCII, so UTF-8 content is never mistaken for them. Anything unusual
 * (not an object, `messages` missing, repeated or not an array, a cut body) gives undefined, and
 * the caller counts the parsed request instead, which also reports the error properly.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

export interface MessagesLayout {
  /** The array's range, brackets included. */
  start: number;
  end: number;
  /** Each element's range, in order. */
  elements: Array<[number, number]>;
}

export function messagesLayout(bytes: Buffer): MessagesLayout | undefined {
  let layout: MessagesLayout | undefined;
  let i = skipSpace(bytes, 0);
  if (bytes[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(bytes, i + 1);
  if (bytes[i] === CLOSE_BRACE) return undefined;
  for (;;) {
    if (bytes[i] !== QUOTE) return undefined;
    const keyEnd = skipString(bytes, i);
    if (keyEnd < 0) return undefined;
    // A key written with escapes could spell `messages` for JSON.parse and not for this scan.
    for (let k = i + 1; k < keyEnd - 1; k++) if (bytes[k] === BACKSLASH) return undefined;
    const isMessages = keyEnd - i === 10 && bytes.toString('latin1', i + 1, keyEnd - 1) === 'messages';
    i = skipSpace(bytes, keyEnd);
    if (bytes[i] !== COLON) return undefined;
    const start = skipSpace(bytes, i + 1);
    let end: number;
    if (isMessages) {
      if (layout || bytes[start] !== OPEN_BRACKET) return undefined;
      layout = { start, end: -1, elements: [] };
      end = splitArray(bytes, start, layout.elements);
      layout.end = end;
    } else end = skipValue(bytes, start);
    if (end < 0) return undefined;
    i = skipSpace(bytes, end);
    if (bytes[i] === COMMA) {
      i = skipSpace(bytes, i + 1);
      continue;
    }
    if (bytes[i] !== CLOSE_BRACE || skipSpace(bytes, i + 1) !== bytes.length) return undefined;
    return layout;
  }
}

/** Pushes each element's range of the array at `i` (its `[`); index just past the array, or -1. */
function splitArray(bytes: Buffer, i: number, out: Array<[number, number]>): number {
  i = skipSpace(bytes, i + 1);
  if (bytes[i] === CLOSE_BRACKET) return i + 1;
  for (;;) {
    const end = skipValue(bytes, i);
    if (end < 0) return -1;
    out.push([i, end]);
    i = skipSpace(bytes, end);
    if (bytes[i] === COMMA) {
      i = skipSpace(bytes, i + 1);
      continue;
    }
    return bytes[i] === CLOSE_BRACKET ? i + 1 : -1;
  }
}

function skipSpace(bytes: Buffer, i: number): number {
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  return i;
}

/** Index just past the string starting at `i` (a quote), or -1 if it never ends. */
function skipString(bytes: Buffer, i: number): number {
  // Most strings are short (keys, roles, ids): a plain loop beats calling indexOf.
  let j = i + 1;
  const near = Math.min(bytes.length, j + 64);
  for (; j < near; j++) {
    const b = bytes[j];
    if (b === QUOTE) return j + 1;
    if (b === BACKSLASH) j++;
  }
  // A long one (a file, a tool result): jump from quote to quote, checking each is not escaped.
  for (;;) {
    const q = bytes.indexOf(QUOTE, j);
    if (q === -1) return -1;
    let slashes = 0;
    for (let k = q - 1; bytes[k] === BACKSLASH; k--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** Index just past the value starting at `i`, or -1 when the JSON is cut short. */
function skipValue(bytes: Buffer, i: number): number {
  const c = bytes[i];
  if (c === QUOTE) return skipString(bytes, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    let j = i;
    while (j < bytes.length) {
      const b = bytes[j];
      if (b === QUOTE) {
        j = skipString(bytes, j);
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
  while (j < bytes.length && bytes[j] !== COMMA && bytes[j] !== CLOSE_BRACE && bytes[j] !== CLOSE_BRACKET && bytes[j] !== 0x20 && bytes[j] !== 0x0a && bytes[j] !== 0x0d && bytes[j] !== 0x09) j++;
  return j === i ? -1 : j;
}
