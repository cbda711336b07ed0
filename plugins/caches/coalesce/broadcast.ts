/**
 * One source iterated once, read by any number of subscribers, each from the beginning: a late
 * subscriber first receives everything already produced, then follows live. The source is read as
 * fast as it produces (the buffer holds one answer, which is small). Who is still listening is the
 * caller's business (see the coalesce plugin): `onLeave` is called once per subscriber that stops,
 * whether at the end or early.
 */
export class Broadcast<T> {
  readonly #items: T[] = [];
  #done = false;
  #error: { value: unknown } | undefined;
  #wake: Array<() => void> = [];
  #endListeners: Array<() => void> = [];
  #ended: Promise<void>;

  constructor(source: AsyncIterable<T> | Iterable<T>) {
    this.#ended = this.#pump(source);
  }

  /** Settles when the source has ended (or failed). */
  get ended(): Promise<void> {
    return this.#ended;
  }

  get finished(): boolean {
    return this.#done;
  }

  /** Runs `listener` when the source ends, before any reader is woken (at once if it has). */
  onEnd(listener: () => void): void {
    if (this.#done) listener();
    else this.#endListeners.push(listener);
  }

  /**
   * A reader of the whole answer, from its first item; `onLeave` runs once when it stops. When
   * `signal` (its client) aborts, its reading fails with the signal's reason, so the one delivering
   * it learns that its client left rather than seeing a clean end.
   */
  subscribe(onLeave: () => void = () => {}, signal?: AbortSignal): AsyncIterable<T> {
    let index = 0;
    let released = false;
    const wake = () => this.#notify();
    const release = () => {
      if (released) return;
      released = true;
      signal?.removeEventListener('abort', wake);
      onLeave();
    };
    signal?.addEventListener('abort', wake, { once: true });
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<T>> => {
          for (;;) {
            if (signal?.aborted) {
              release();
              throw signal.reason;
            }
            if (index < this.#items.length) return { value: this.#items[index++], done: false };
            if (this.#error) {
              release();
              throw this.#error.value;
            }
            if (this.#done) {
              release();
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => this.#wake.push(resolve));
          }
        },
        return: async (): Promise<IteratorResult<T>> => {
          release();
          return { value: undefined, done: true };
        },
      }),
    };
  }

  async #pump(source: AsyncIterable<T> | Iterable<T>): Promise<void> {
    try {
      for await (const item of source) {
        this.#items.push(item);
        this.#notify();
      }
    } catch (err) {
      this.#error = { value: err };
    } finally {
      this.#done = true;
      for (const listener of this.#endListeners) listener();
      this.#notify();
    }
  }

  #notify(): void {
    const waiting = this.#wake;
    this.#wake = [];
    for (const resolve of waiting) resolve();
  }
}
