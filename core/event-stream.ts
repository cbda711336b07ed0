/**
 * A stream of canonical events handed over in batches: everything one upstream read produced, at
 * once. An upstream that flushes every token sends dozens of events per socket read; passed one by
 * one, each costs its reader and writer an async step and the promises behind it (about 0.6 KB of
 * garbage an event, measured with the allocation profiler on the streaming benchmark). Taken as
 * batches, a read costs one.
 *
 * It is still an `AsyncIterable<StreamEvent>`: a plugin that wraps or reads a stream event by event
 * needs to know nothing of this. The router's own readers and writers take whole batches.
 *
 *   const events = new EventStream(async () => (await more()) ?? undefined, () => upstream.abort());
 *   for (let batch = await events.nextBatch(); batch; batch = await events.nextBatch()) ...
 *   const any = EventStream.of(someAsyncIterable);   // batches of one, unless it already is one
 */
import type { StreamEvent } from './canonical.ts';

/** The next events (possibly none yet), or undefined when the stream is over. */
export type PullEvents = () => Promise<StreamEvent[] | undefined>;

export class EventStream implements AsyncIterable<StreamEvent> {
  readonly #pull: PullEvents;
  readonly #close: () => Promise<unknown>;
  /**
   * Events taken from the source and not yet handed out, shared by every reader of the stream: a
   * plugin that reads the first event through one iterator and hands the stream on loses nothing.
   */
  #front: StreamEvent[] = [];
  #frontAt = 0;
  #over = false;
  /** The read in progress: reads run one after another, as an async generator's would. */
  #busy: Promise<unknown> | undefined = undefined;

  /** `close` stops the source when a reader leaves before the end (the upstream call is dropped). */
  constructor(pull: PullEvents, close: () => Promise<unknown> = async () => {}) {
    this.#pull = pull;
    this.#close = close;
  }

  /** Any event stream as batches: itself if it already is one, otherwise one event a batch. */
  static of(events: AsyncIterable<StreamEvent>): EventStream {
    if (events instanceof EventStream) return events;
    const iterator = events[Symbol.asyncIterator]();
    return new EventStream(
      async () => {
        const step = await iterator.next();
        return step.done ? undefined : [step.value];
      },
      async () => iterator.return?.(),
    );
  }

  /** The next events (never an empty batch), or undefined at the end. */
  nextBatch(): Promise<StreamEvent[] | undefined> {
    return this.#serial(async () => {
      if (this.#frontAt < this.#front.length) {
        const batch = this.#frontAt === 0 ? this.#front : this.#front.slice(this.#frontAt);
        this.#front = [];
        this.#frontAt = 0;
        return batch;
      }
      return this.#pullBatch();
    });
  }

  /**
   * Returns events taken with `nextBatch` to the front of the stream (a reader that looked ahead).
   * Call it between reads, not while one is in progress.
   */
  putBack(events: StreamEvent[]): void {
    if (events.length === 0) return;
    this.#front = this.#frontAt < this.#front.length ? [...events, ...this.#front.slice(this.#frontAt)] : events;
    this.#frontAt = 0;
  }

  /**
   * The reader leaves: the source is stopped unless it had already ended. Not queued behind a read
   * in progress, which may be waiting for an upstream that has nothing more to say.
   */
  async close(): Promise<void> {
    this.#front = [];
    this.#frontAt = 0;
    if (this.#over) return;
    this.#over = true;
    await this.#close();
  }

  /**
   * The same events, watched without slowing them (for plugins that account for a stream):
   * `begin` when the first batch is asked for, `event` for each event as it passes, and `end` once
   * when the stream ends, fails or its reader leaves.
   */
  observe(watch: { begin?: () => void; event?: (event: StreamEvent) => void; end: () => void }): EventStream {
    let begun = false;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      watch.end();
    };
    return new EventStream(
      async () => {
        if (!begun) {
          begun = true;
          watch.begin?.();
        }
        let batch: StreamEvent[] | undefined;
        try {
          batch = await this.nextBatch();
        } catch (err) {
          end();
          throw err;
        }
        if (batch === undefined) end();
        else if (watch.event) for (const event of batch) watch.event(event);
        return batch;
      },
      async () => {
        try {
          await this.close();
        } finally {
          end();
        }
      },
    );
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    const done: IteratorReturnResult<undefined> = { value: undefined, done: true };
    return {
      next: () => {
        // Events already taken go out without waiting (unless a read is in progress, to keep order).
        if (this.#busy === undefined && this.#frontAt < this.#front.length) return Promise.resolve({ value: this.#front[this.#frontAt++], done: false });
        return this.#serial(async (): Promise<IteratorResult<StreamEvent>> => {
          if (this.#frontAt >= this.#front.length) {
            const batch = await this.#pullBatch();
            if (batch === undefined) return done;
            this.#front = batch;
            this.#frontAt = 0;
          }
          return { value: this.#front[this.#frontAt++], done: false };
        });
      },
      return: async () => {
        await this.close();
        return done;
      },
    };
  }

  /** From the source: its next events, skipping empty batches; undefined at its end. */
  async #pullBatch(): Promise<StreamEvent[] | undefined> {
    while (!this.#over) {
      const batch = await this.#pull();
      // Closed while reading: the reader has left, and what the source made of it is nobody's.
      if (this.#over) return undefined;
      if (batch === undefined) this.#over = true;
      else if (batch.length > 0) return batch;
    }
    return undefined;
  }

  /** Runs `read` after the read in progress, if any, has settled. */
  #serial<T>(read: () => Promise<T>): Promise<T> {
    const before = this.#busy;
    const result = before === undefined ? read() : before.then(read, read);
    const settled: Promise<unknown> = result.then(
      () => {},
      () => {},
    );
    this.#busy = settled;
    void settled.then(() => {
      if (this.#busy === settled) this.#busy = undefined;
    });
    return result;
  }
}
