/**
 * The one SSE codec, shared by every dialect in both directions (WHATWG "server-sent events").
 *
 *   const reader = new SseReader();
 *   for (const chunk of body) for (const ev of reader.push(chunk)) handle(ev.event, ev.data);
 *   for (const ev of reader.end()) handle(ev.event, ev.data);
 *
 *   res.write(encodeSse(JSON.stringify(payload), 'message_start'));
 *
 * The reader accepts chunks cut anywhere (inside a UTF-8 character, inside a line, between `\r`
 * and `\n`), LF, CRLF and CR line ends, comments (`: keep-alive`), and multi-line data.
 */
import { isAscii } from 'node:buffer';

export interface SseEvent {
  /** The `event:` field, or undefined when the server sent none (OpenAI, Gemini). */
  event: string | undefined;
  data: string;
  id?: string;
}

export class SseReader {
  /** Made on the first chunk that is not plain ASCII (most streams never need one; each costs ~1 µs). */
  #decoder: InstanceType<typeof TextDecoder> | undefined = undefined;
  #buffer = '';
  #event: string | undefined = undefined;
  #data: string | undefined = undefined;
  #id: string | undefined = undefined;
  /** The last chunk ended on an ASCII byte, so the decoder holds no half of a character. */
  #whole = true;
  /** Some bytes have been read (a byte order mark is only stripped before them). */
  #started = false;
  /** Comment lines seen so far (servers send them as keep-alives); counted, never dispatched. */
  comments = 0;

  /**
   * Between events: nothing buffered, no event half read. A caller may then skip chunks that end
   * an event (see `endsEvent`) without putting the reader out of step.
   */
  get idle(): boolean {
    return this.#buffer.length === 0 && this.#data === undefined && this.#event === undefined && this.#whole;
  }

  push(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.#decode(chunk);
    this.#buffer = this.#buffer.length === 0 ? text : this.#buffer + text;
    return this.#drain(false);
  }

  /** ASCII (checked with SIMD) is copied as Latin-1 unless the decoder holds half a character. */
  #decode(chunk: Uint8Array): string {
    const whole = this.#whole;
    const started = this.#started;
    if (chunk.length > 0) {
      this.#whole = chunk[chunk.length - 1] < 0x80;
      this.#started = true;
    }
    if (whole && isAscii(chunk)) return (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)).toString('latin1');
    // A decoder strips a byte order mark at its start: right for the stream's first bytes, wrong
    // for a U+FEFF in the text when the decoder is made mid-stream.
    this.#decoder ??= new TextDecoder('utf-8', { ignoreBOM: started });
    return this.#decoder.decode(chunk, { stream: true });
  }

  /** Call when the body ends: dispatches a last event that had no blank line after it. */
  end(): SseEvent[] {
    if (this.#decoder) this.#buffer += this.#decoder.decode();
    const out = this.#drain(true);
    if (this.#buffer.length > 0) {
      this.#line(this.#buffer, out);
      this.#buffer = '';
    }
    this.#dispatch(out);
    return out;
  }

  #drain(final: boolean): SseEvent[] {
    const out: SseEvent[] = [];
    const buf = this.#buffer;
    let start = 0;
    for (;;) {
      const lf = buf.indexOf('\n', start);
      const cr = buf.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A CR at the very end may be the first half of CRLF: wait for more input.
        if (cr === buf.length - 1 && !final) break;
        end = cr;
        next = buf.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      this.#line(buf.slice(start, end), out);
      start = next;
    }
    this.#buffer = start === 0 ? buf : buf.slice(start);
    return out;
  }

  #line(line: string, out: SseEvent[]): void {
    if (line.length === 0) return this.#dispatch(out);
    const colon = line.indexOf(':');
    if (colon === 0) {
      this.comments++;
      return;
    }
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.#data = this.#data === undefined ? value : this.#data + '\n' + value;
    else if (field === 'event') this.#event = value;
    else if (field === 'id') this.#id = value;
    // `retry:` and unknown fields are ignored, as the spec says.
  }

  #dispatch(out: SseEvent[]): void {
    if (this.#data !== undefined) {
      const ev: SseEvent = { event: this.#event, data: this.#data };
      if (this.#id !== undefined) ev.id = this.#id;
      out.push(ev);
    }
    this.#event = undefined;
    this.#data = undefined;
  }
}

/** Whether a chunk ends with the blank line that ends an event (LF, CRLF or CR line ends). */
export function endsEvent(chunk: Uint8Array): boolean {
  const n = chunk.length;
  const last = chunk[n - 1];
  if (last === 10) return chunk[n - 2] === 10 || (chunk[n - 2] === 13 && chunk[n - 3] === 10 && chunk[n - 4] === 13);
  return last === 13 && chunk[n - 2] === 13;
}

/** Reads a byte stream as SSE events, one at a time. */
export async function* readSse(body: AsyncIterable<Uint8Array | string>, reader = new SseReader()): AsyncGenerator<SseEvent> {
  for await (const chunk of body) yield* reader.push(chunk);
  yield* reader.end();
}

/** Encodes one event. `data` may hold newlines; each line becomes its own `data:` field. */
export function encodeSse(data: string, event?: string): string {
  const body = data.includes('\n') ? 'data: ' + data.split('\n').join('\ndata: ') : 'data: ' + data;
  return event === undefined ? body + '\n\n' : 'event: ' + event + '\n' + body + '\n\n';
}

export function encodeSseComment(text: string): string {
  return ': ' + text + '\n\n';
}
