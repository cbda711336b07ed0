/**
 * An upstream response body fed straight from undici's dispatch callbacks: the chunks in order, as
 * an async iterable, or whole (`text`, `json`, `arrayBuffer`), with backpressure. undici's own
 * `request()` wraps every body in a Node Readable; the router reads each body once, in order, so
 * a queue does the same job for about a third less CPU per request (measured: 46 → 30 µs at 50
 * connections) and without a stream hop per chunk.
 *
 *   for await (const chunk of res.body) ...        // or: await res.body.text()
 *
 * Leaving the loop early (break, throw, `return()`) aborts the upstream request: nobody else will
 * read the rest.
 */

/** What undici's dispatch handler gets to steer the response (pause, resume, abort). */
export interface BodyController {
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
  readonly paused: boolean;
}

/** Buffered bytes at which the upstream socket stops being read until the consumer catches up. */
const highWaterMark = 256 * 1024;

export class UpstreamBody implements AsyncIterable<Buffer> {
  #chunks: Buffer[] = [];
  #next = 0;
  #buffered = 0;
  #ended = false;
  #error: unknown = undefined;
  #waiting: { resolve: (step: IteratorResult<Buffer>) => void; reject: (err: unknown) => void } | undefined;
  #abandoned = false;
  readonly #controller: BodyController;

  constructor(controller: BodyController) {
    this.#controller = controller;
  }

  /** A chunk from upstream (called by the dispatch handler). */
  push(chunk: Buffer): void {
    if (this.#abandoned) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting.resolve({ value: chunk, done: false });
      return;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered > highWaterMark && !this.#controller.paused) this.#controller.pause();
  }

  end(): void {
    this.#ended = true;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.resolve({ value: undefined, done: true });
  }

  fail(err: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = err;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject(err);
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: () => this.#read(),
      return: async () => {
        this.#abandon();
        return { value: undefined, done: true };
      },
    };
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const whole = await this.#whole();
    return whole.buffer.slice(whole.byteOffset, whole.byteOffset + whole.byteLength) as ArrayBuffer;
  }

  async bytes(): Promise<Buffer> {
    return this.#whole();
  }

  async text(): Promise<string> {
    return (await this.#whole()).toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /** Reads and discards the rest, so the connection can be reused. */
  async dump(): Promise<void> {
    for await (const chunk of this) void chunk;
  }

  #read(): Promise<IteratorResult<Buffer>> {
    if (this.#next < this.#chunks.length) {
      const chunk = this.#chunks[this.#next];
      this.#chunks[this.#next++] = undefined as unknown as Buffer;
      if (this.#next === this.#chunks.length) {
        this.#chunks = [];
        this.#next = 0;
      }
      this.#buffered -= chunk.length;
      if (this.#controller.paused && this.#buffered <= highWaterMark / 2) this.#controller.resume();
      return Promise.resolve({ value: chunk, done: false });
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended || this.#abandoned) return Promise.resolve({ value: undefined, done: true });
    if (this.#controller.paused) this.#controller.resume();
    return new Promise((resolve, reject) => (this.#waiting = { resolve, reject }));
  }

  async #whole(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this) chunks.push(chunk);
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  #abandon(): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#chunks = [];
    this.#buffered = 0;
    if (!this.#ended) this.#controller.abort(Object.assign(new Error('the response body was abandoned'), { name: 'AbortError', code: 'UND_ERR_ABORTED' }));
  }
}
