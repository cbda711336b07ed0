/**
 * Newline-delimited JSON streams (Ollama's `application/x-ndjson`): one JSON document per line.
 * Like the SSE reader, it accepts chunks cut anywhere, including inside a UTF-8 character.
 *
 *   for await (const line of readNdjson(body)) handle(JSON.parse(line));
 */

export class NdjsonReader {
  #decoder = new TextDecoder('utf-8');
  #buffer = '';

  /** Complete, non-blank lines found so far. */
  push(chunk: Uint8Array | string): string[] {
    this.#buffer += typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true });
    const out: string[] = [];
    let start = 0;
    for (let nl = this.#buffer.indexOf('\n'); nl !== -1; nl = this.#buffer.indexOf('\n', start)) {
      const line = this.#buffer.slice(start, nl).trim();
      if (line) out.push(line);
      start = nl + 1;
    }
    this.#buffer = this.#buffer.slice(start);
    return out;
  }

  /** The last line, when the body did not end with a newline. */
  end(): string[] {
    const line = (this.#buffer + this.#decoder.decode()).trim();
    this.#buffer = '';
    return line ? [line] : [];
  }
}

export async function* readNdjson(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const reader = new NdjsonReader();
  for await (const chunk of body) yield* reader.push(chunk);
  yield* reader.end();
}

export function encodeNdjson(value: unknown): string {
  return JSON.stringify(value) + '\n';
}
