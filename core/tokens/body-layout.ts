/**
 * Where a JSON request body keeps its `messages`: the byte range of the array and of each element.
 * A growing conversation resends the same elements turn after turn, byte for byte, so their counts
 * can be remembered by their bytes (body-count.ts) without decoding or parsing them again.
 *
 *   const layout = messagesLayout(ctx.raw);   // { start, end, elements: { starts, ends } }
 *
 * A request in the pipeline brings the layout of the scan the kernel already made of its body
 * (`RawRequest.layout`); bare bytes are scanned here (RawJsonObject, core/dialects/raw-json.ts).
 * Anything unusual (not an object, `messages` missing, repeated or not an array, a cut body) gives
 * undefined, and the caller counts the parsed request instead, which also reports the error.
 */
import type { RawRequest } from '../contract.ts';
import { RawJsonObject } from '../dialects/raw-json.ts';

export interface MessagesLayout {
  body: Buffer;
  /** The array's range, brackets included. */
  start: number;
  end: number;
  /** Each element's start, end and hash, in order. */
  elements: { readonly starts: readonly number[]; readonly ends: readonly number[]; readonly hashes: readonly string[] };
}

export function messagesLayout(source: Buffer | Pick<RawRequest, 'bytes' | 'layout'>): MessagesLayout | undefined {
  try {
    // Lent bytes: the count reads them before its request is answered, and keeps none.
    const body = Buffer.isBuffer(source) ? source : source.bytes;
    const found = (Buffer.isBuffer(source) ? new RawJsonObject(source) : source).layout('messages');
    if (!found?.elements) return undefined;
    return { body, start: found.start, end: found.end, elements: found.elements };
  } catch {
    return undefined;
  }
}
