/**
 * Edits one top-level string field of a JSON body in place of re-serialising it, for passthrough:
 * the client's bytes go upstream untouched except the routed field. Scans bytes (JSON's structural
 * characters are ASCII, so UTF-8 content can never be mistaken for them) and stops at the field,
 * which clients usually send first (`model`), so a 470 KB Claude Code body costs microseconds.
 *
 *   replaceTopLevelString(body, 'model', 'deepseek-chat')  // → new Buffer, or undefined
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;

/**
 * A copy of `raw` with the top-level string field `key` set to `value`; undefined if the field is
 * absent, not a string, or present twice (JSON.parse keeps the last one, many servers too, so
 * editing one of two would let a client route by one model and be served by the other).
 */
export function replaceTopLevelString(raw: Buffer, key: string, value: string): Buffer | undefined {
  const wanted = Buffer.from(JSON.stringify(key));
  // The key text occurs once in most bodies; only then is stopping at the first match safe.
  const once = raw.indexOf(wanted, raw.indexOf(wanted) + 1) === -1;
  let found: { start: number; end: number } | undefined;
  let i = skipSpace(raw, 0);
  if (raw[i] !== OPEN_BRACE) return undefined;
  i = skipSpace(raw, i + 1);
  while (i < raw.length && raw[i] === QUOTE) {
    const keyEnd = skipString(raw, i);
    const isWanted = keyEnd - i === wanted.length && raw.compare(wanted, 0, wanted.length, i, keyEnd) === 0;
    i = skipSpace(raw, keyEnd);
    if (raw[i] !== COLON) return undefined;
    const valueStart = skipSpace(raw, i + 1);
    const valueEnd = skipValue(raw, valueStart);
    if (valueEnd < 0) return undefined;
    if (isWanted) {
      if (raw[valueStart] !== QUOTE || found) return undefined;
      found = { start: valueStart, end: valueEnd };
      if (once) break;
    }
    i = skipSpace(raw, valueEnd);
    if (raw[i] !== COMMA) break;
    i = skipSpace(raw, i + 1);
  }
  if (!found) return undefined;
  return Buffer.concat([raw.subarray(0, found.start), Buffer.from(JSON.stringify(value)), raw.subarray(found.end)]);
}

function skipSpace(raw: Buffer, i: number): number {
  while (i < raw.length && (raw[i] === 0x20 || raw[i] === 0x0a || raw[i] === 0x0d || raw[i] === 0x09)) i++;
  return i;
}

/** Index just past the string starting at `i` (which is a quote). */
function skipString(raw: Buffer, i: number): number {
  let j = i + 1;
  for (;;) {
    const q = raw.indexOf(QUOTE, j);
    if (q === -1) return raw.length;
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
  return j;
}
