/**
 * JSON to and from bytes, fast for the common case. Agent traffic is mostly ASCII (code, English,
 * JSON), and V8 handles pure-ASCII text as one byte per character: decoding and encoding it as
 * Latin-1 is a plain copy, several times cheaper than UTF-8 (measured on a 460 KB Claude Code body:
 * 0.43 ms against 1.17 ms to decode, 0.06 ms against 0.39 ms to encode). Anything else takes the
 * UTF-8 path, so the result is always exact.
 */
import { isAscii } from 'node:buffer';

export function decodeText(bytes: Buffer): string {
  return bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8');
}

export function encodeText(text: string): Buffer {
  // Every non-ASCII character takes more than one UTF-8 byte, so equal lengths mean ASCII.
  return Buffer.byteLength(text) === text.length ? Buffer.from(text, 'latin1') : Buffer.from(text, 'utf8');
}

export function parseJsonBytes(bytes: Buffer): unknown {
  return JSON.parse(decodeText(bytes));
}

export function jsonBytes(value: unknown): Buffer {
  return encodeText(JSON.stringify(value));
}
