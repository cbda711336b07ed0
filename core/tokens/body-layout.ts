/**
 * Where a JSON request body keeps its `messages`: the byte range of the array and of each element.
 * A growing conversation resends the same elements turn after turn, byte for byte, so their counts
 * can be remembered by their bytes (body-count.ts) without decoding or parsing them again.
 *
 *   const layout = messagesLayout(body);   // { start, end, elements: [[s0, e0], [s1, e1], …] }
 *
 * The layout comes from the scan the kernel already made of the body (RawJsonObject, in
 * core/dialects/raw-json.ts), so it costs no second pass. Anything unusual (not an object,
 * `messages` missing, repeated or not an array, a cut body) gives undefined, and the caller counts
 * the parsed request instead, which also reports the error properly.
 */
import { RawJsonObject } from '../dialects/raw-json.ts';

export interface MessagesLayout {
  /** The array's range, brackets included. */
  start: number;
  end: number;
  /** Each element's range, in order. */
  elements: Array<[number, number]>;
}

export function messagesLayout(bytes: Buffer): MessagesLayout | undefined {
  let object: RawJsonObject;
  try {
    object = RawJsonObject.of(bytes);
    if (object.duplicated('messages')) return undefined;
    const range = object.range('messages');
    const split = object.elements('messages');
    if (!range || !split) return undefined;
    return { start: range.start, end: range.end, elements: split.starts.map((start, i) => [start, split.ends[i]]) };
  } catch {
    return undefined;
  }
}
