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
  /** Events put back (see `putBack`), handed out before anything new is pulled. */
  #front: StreamEvent[] | undefined = undefined;
  #over = false;

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
  async nextBatch(): Promise<StreamEvent[] | undefined> {
    const front = this.#front;
    if (front !== undefined) {
      this.#front = undefined;
      return front;
    }
    while (!this.#over) {
      const batch = await this.#pull();
      if (batch === undefined) this.#over = true;
      else if (batch.length > 0) return batch;
    }
    return undefined;
  }

  /** Returns events taken with `nextBatch` to the front of the stream (a reader that looked ahead). */
  putBack(events: StreamEvent[]): void {
    if (events.length === 0) return;
    this.#front = this.#front === undefined ? events : [...events, ...this.#front];
  }

  /** The reader leaves: the source is stopped unless it had already ended. */
  async close(): Promise<void> {
    this.#front = undefined;
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
    let batch: StreamEvent[] = [];
    let at = 0;
    const done: IteratorReturnResult<undefined> = { value: undefined, done: true };
    return {
      next: async () => {
        while (at >= batch.length) {
          const next = await this.nextBatch();
          if (next === undefined) return done;
          batch = next;
          at = 0;
        }
        return { value: batch[at++], done: false };
      },
      return: async () => {
        await this.close();
        return done;
      },
    };
  }
}
