/**
 * Most chunks of an OpenAI-style stream carry one thing: the next piece of text. Parsing each
 * ~200-byte chunk into objects costs more than the rest of its translation together, so such a
 * chunk is recognised from its text instead and only the string is decoded.
 *
 * This is sound because JSON escapes every quote inside a string: `"delta":`, `"usage":` and
 * friends can only appear in the raw text as structure, never as content. A chunk qualifies when
 * its one delta is exactly `{"content":"…"}` (optionally after `"role":"assistant"`) and the rest
 * of it has no error, no non-null usage and no finish reason; anything else (tool calls,
 * reasoning, refusals, several choices, unexpected fields) takes the full parse. The text around
 * the delta is the same from chunk to chunk of one stream, so once a head and a tail have been
 * checked, later chunks only compare against them.
 *
 *   const scanner = new ContentDeltaScanner();
 *   scanner.scan('{"id":"x","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}')  // 'Hi'
 */
const deltaKey = '"delta":{';
const contentKey = '"content":"';
const roleThenContent = '"role":"assistant","content":"';

export class ContentDeltaScanner {
  #head = '';
  #tail = '';

  /** The text a content-only chunk adds, or undefined when the chunk needs the full parse. */
  scan(data: string): string | undefined {
    if (data.charCodeAt(0) !== 0x7b || data.charCodeAt(data.length - 1) !== 0x7d) return undefined; // { … }
    const at = data.indexOf(deltaKey);
    if (at === -1) return undefined;
    let start = at + deltaKey.length;
    if (data.startsWith(contentKey, start)) start += contentKey.length;
    else if (data.startsWith(roleThenContent, start)) start += roleThenContent.length;
    else return undefined;
    // The string ends at the first quote not escaped by an odd run of backslashes.
    let end = data.indexOf('"', start);
    let escaped = false;
    while (end !== -1) {
      let slashes = 0;
      while (data.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
      if (slashes % 2 === 0) break;
      escaped = true;
      end = data.indexOf('"', end + 1);
    }
    if (end === -1 || data.charCodeAt(end + 1) !== 0x7d) return undefined; // the delta holds nothing else
    const head = data.slice(0, at);
    const tail = data.slice(end + 1);
    if (head !== this.#head) {
      if (!plain(head)) return undefined;
      this.#head = head;
    }
    if (tail !== this.#tail) {
      if (!plain(tail)) return undefined;
      this.#tail = tail;
    }
    const raw = data.slice(start, end);
    return escaped || raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
  }
}

/** Structure around the delta that says nothing the full parse would act on. */
function plain(text: string): boolean {
  return !text.includes('"delta":') && !text.includes('"error":') && nullOrAbsent(text, '"usage":') && nullOrAbsent(text, '"finish_reason":');
}

function nullOrAbsent(text: string, key: string): boolean {
  const at = text.indexOf(key);
  return at === -1 || text.startsWith('null', at + key.length);
}
