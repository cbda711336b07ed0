/**
 * JSON to and from bytes, fast for the common case. Agent traffic is mostly ASCII (code, English,
 * JSON): bytes that are all ASCII (checked with SIMD by isAscii) are decoded as Latin-1, a plain
 * copy into a one-byte string, instead of through the UTF-8 decoder (0.4 ms against 0.8 ms for a
 * 470 KB Claude Code body). Encoding is always plain UTF-8: checking first whether a string is
 * ASCII costs more than it saves (Buffer.byteLength alone took 0.43 ms on a 470 KB string holding
 * one em dash, and the UTF-8 encoder is as fast as Latin-1 on ASCII text).
 */
import { isAscii } from 'node:buffer';

export function decodeText(bytes: Buffer): string {
  return bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
}

export function encodeText(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

export function parseJsonBytes(bytes: Buffer): unknown {
  return JSON.parse(decodeJsonText(bytes));
}

/** More non-ASCII runs than this and the plain UTF-8 decoder is the faster way. */
const maxEscapedRuns = 32;

/**
 * JSON bytes as text that JSON.parse reads to the same value, fast when nearly all of it is ASCII.
 * Non-ASCII bytes can only sit inside JSON strings, so each run of them can be written as `\uXXXX`
 * escapes: the text becomes pure ASCII, decoded as a plain copy (a single em dash otherwise sends
 * 470 KB through the UTF-8 decoder, 0.8 ms against 0.2 ms for the copy and 0.2 ms to find and
 * escape the runs). Runs are found by halving with isAscii (SIMD), so a few runs cost a few
 * dozen calls; text with many runs (a conversation in Chinese) takes the UTF-8 decoder as before.
 */
export function decodeJsonText(bytes: Buffer): string {
  if (isAscii(bytes)) return bytes.toString('latin1');
  const runs: number[] = [];
  if (!findNonAscii(bytes, 0, bytes.length, runs)) return bytes.toString('utf8');
  let text = '';
  let at = 0;
  for (let i = 0; i < runs.length; i += 2) {
    const start = runs[i];
    const end = runs[i + 1];
    // After a backslash the escape would change meaning (`\é` is not `\\u00e9`): decode plainly.
    if (bytes[start - 1] === 0x5c) return bytes.toString('utf8');
    text += bytes.toString('latin1', at, start);
    const run = bytes.toString('utf8', start, end);
    for (let j = 0; j < run.length; j++) text += '\\u' + run.charCodeAt(j).toString(16).padStart(4, '0');
    at = end;
  }
  return text + bytes.toString('latin1', at);
}

/** Appends [start, end) of each maximal run of non-ASCII bytes; false when there are too many. */
function findNonAscii(bytes: Buffer, from: number, to: number, runs: number[]): boolean {
  if (to - from <= 64) {
    for (let i = from; i < to; i++) {
      if (bytes[i] < 0x80) continue;
      const last = runs.length - 1;
      if (last > 0 && runs[last] === i) runs[last] = i + 1;
      else {
        if (runs.length >= maxEscapedRuns * 2) return false;
        runs.push(i, i + 1);
      }
    }
    return true;
  }
  const middle = (from + to) >>> 1;
  if (!isAscii(bytes.subarray(from, middle)) && !findNonAscii(bytes, from, middle, runs)) return false;
  return isAscii(bytes.subarray(middle, to)) || findNonAscii(bytes, middle, to, runs);
}

/**
 * JSON.stringify(value) as UTF-8, exactly. A large request is stringified member by member and
 * its long arrays (messages, tools) element by element: a single character beyond Latin-1 (an em
 * dash in a system prompt) otherwise makes the whole 470 KB text a two-byte string, which costs
 * about three times as much to encode. Split, only the element that holds it is two-byte.
 */
export function jsonBytes(value: unknown): Buffer {
  const chunks = jsonChunks(value);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

/** Chunks of encoded JSON are at most about this long (see jsonChunks). */
const chunkSize = 64 * 1024;

/**
 * JSON.stringify(value) as UTF-8 chunks of at most ~64 KB, to be sent one after another. A fresh
 * allocation over 128 KB is a new mapping from the kernel whose every page faults when first
 * written: encoding a 470 KB request into one buffer cost 1.2 ms here, into 64 KB chunks (which
 * the allocator serves from memory it already holds) 0.1 ms.
 */
export function jsonChunks(value: unknown): Buffer[] {
  const pieces = jsonPieces(value);
  if (pieces.length === 1 && pieces[0].length < chunkSize / 3) return [Buffer.from(pieces[0], 'utf8')];
  const chunks: Buffer[] = [];
  let group: string[] = [];
  let groupBytes = 0;
  const flush = () => {
    if (group.length === 0) return;
    const out = Buffer.allocUnsafe(groupBytes);
    let at = 0;
    for (const piece of group) at += out.write(piece, at, 'utf8');
    chunks.push(out);
    group = [];
    groupBytes = 0;
  };
  for (const piece of pieces) {
    const bytes = Buffer.byteLength(piece, 'utf8');
    if (bytes > chunkSize) {
      flush();
      for (const part of splitText(piece, chunkSize / 3)) chunks.push(Buffer.from(part, 'utf8'));
      continue;
    }
    if (groupBytes + bytes > chunkSize) flush();
    group.push(piece);
    groupBytes += bytes;
  }
  flush();
  return chunks;
}

/** A long text in slices of about `size` characters, never cutting a surrogate pair in two. */
function splitText(text: string, size: number): string[] {
  const parts: string[] = [];
  for (let at = 0; at < text.length; ) {
    let end = Math.min(text.length, at + size);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    parts.push(text.slice(at, end));
    at = end;
  }
  return parts;
}

/** Arrays longer than this are stringified element by element. */
const splitArraysOver = 8;
/** Pieces shorter than this are joined into their neighbours (fewer, larger writes). */
const smallPiece = 4096;

function jsonPieces(value: unknown): string[] {
  if (!isPlainObject(value)) return [JSON.stringify(value)];
  const pieces: string[] = [];
  let current = '{';
  let first = true;
  const push = (text: string) => {
    if (text.length < smallPiece) {
      current += text;
      return;
    }
    if (current) pieces.push(current);
    pieces.push(text);
    current = '';
  };
  for (const key of Object.keys(value)) {
    const member = value[key];
    if (Array.isArray(member) && member.length > splitArraysOver && !('toJSON' in member)) {
      push((first ? '' : ',') + JSON.stringify(key) + ':[');
      for (let i = 0; i < member.length; i++) {
        // The comma on its own: joined to a long element it would copy that element's text.
        if (i > 0) push(',');
        push(elementJson(member[i]));
      }
      push(']');
    } else {
      // undefined, functions and symbols are left out of objects, as JSON.stringify does.
      const text = JSON.stringify(member);
      if (text === undefined) continue;
      push((first ? '' : ',') + JSON.stringify(key) + ':' + text);
    }
    first = false;
  }
  current += '}';
  pieces.push(current);
  return pieces;
}

/**
 * A frozen object cannot change, so its JSON text is made once: a conversation's earlier messages,
 * translated once (see element-memo.ts), are not stringified again on every turn.
 */
const frozenJson = new WeakMap<object, string>();

function elementJson(value: unknown): string {
  if (typeof value !== 'object' || value === null || !Object.isFrozen(value)) return JSON.stringify(value) ?? 'null';
  let text = frozenJson.get(value);
  if (text === undefined) frozenJson.set(value, (text = JSON.stringify(value) ?? 'null'));
  return text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || 'toJSON' in value) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
