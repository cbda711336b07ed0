/**
 * Gives a busy router's memory back once it falls idle. Large requests grow V8's young generation
 * to its maximum (two 16 MB semi-spaces) and leave freed buffers behind; V8's memory reducer is
 * meant to return them when the process goes quiet, but it judges quietness at garbage
 * collections, and an idle process runs none. Measured here after the benchmark's traffic: 157 MB
 * resident for a minute with nothing to do, 122 MB after one full collection.
 *
 * So once no request has been in flight for `server.idle_collect` (10 s by default) after some
 * traffic, the router runs one full collection, which shrinks the young generation and frees the
 * buffers only a collection can free, then has the workers do the same, then returns the C heap's
 * free pages to the system (core/native-heap.ts): the freed buffers were malloc'd, and glibc keeps
 * them otherwise. That costs tens of milliseconds of a process with nothing else to do, once per
 * idle spell; a busy router never pays it. The trim is skipped when a request has arrived during
 * the collections, since it holds the allocator while it runs. Per request the cost is a counter
 * and a clock read: the timer is never re-armed by traffic, it checks when it fires.
 */
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { bodyMemory } from '../body-memory.ts';
import type { Logger } from '../contract.ts';
import { collectGarbage } from '../full-gc.ts';
import { nativeHeap, type HeapTrimmer } from '../native-heap.ts';
import type { TokenCounter } from '../tokens/token-counter.ts';

export class IdleCollector {
  #active = 0;
  /** Requests since the last collection: an idle spell with no traffic before it needs none. */
  #served = 0;
  #lastEnded = 0;
  #timer: NodeJS.Timeout | undefined;

  /**
   * `afterMs()` is read whenever the timer is armed, so a reload's new setting applies; 0 turns it
   * off. `collect` gives the memory back (the server's: `giveBackMemory`).
   */
  constructor(
    readonly afterMs: () => number,
    readonly collect: () => void,
  ) {}

  /** `traffic`: false for a health check, which allocates next to nothing and must not cause a collection every probe interval. */
  begin(traffic = true): void {
    this.#active++;
    if (traffic) this.#served++;
  }

  end(): void {
    if (--this.#active > 0) return;
    this.#lastEnded = performance.now();
    if (this.#timer === undefined) this.#arm(this.afterMs());
  }

  /** No request in flight (a collection that awaits something checks this before going on). */
  get quiet(): boolean {
    return this.#active === 0;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delay: number): void {
    if (delay <= 0) return;
    this.#timer = setTimeout(() => this.#check(), delay).unref();
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#active > 0) return; // the last request to end arms it again
    const after = this.afterMs();
    const quiet = performance.now() - this.#lastEnded;
    if (after > 0 && quiet < after) return this.#arm(after - quiet);
    if (after <= 0 || this.#served === 0) return;
    this.#served = 0;
    this.collect();
  }
}

/**
 * The collection the server runs: the pooled request-body memory kept free, the main thread's heap,
 * the token workers', then the C heap, unless `quiet()` says a request arrived meanwhile. Never
 * throws.
 */
export async function giveBackMemory(tokens: Pick<TokenCounter, 'collect'>, log: Logger, quiet: () => boolean, heap: HeapTrimmer = nativeHeap): Promise<void> {
  const started = performance.now();
  const before = process.memoryUsage.rss();
  try {
    bodyMemory.dropFree(); // the free request-body memory goes with the collection
    collectGarbage();
    shrinkYoungGenerationLater(quiet);
    await tokens.collect();
  } catch (err) {
    log.debug({ err }, 'idle: a collection failed');
  }
  const mb = (bytes: number) => Math.round(bytes / 1048576);
  const fields = () => ({ rssBeforeMb: mb(before), rssAfterMb: mb(process.memoryUsage.rss()), ms: Math.round(performance.now() - started) });
  if (!quiet()) return log.debug(fields(), 'idle: heaps collected; the C heap not trimmed, a request arrived');
  if (await heap.trim()) log.debug(fields(), 'idle: memory given back');
  else log.debug({ ...fields(), trim: heap.reason() }, 'idle: heaps collected; the C heap could not be trimmed');
}

/**
 * V8 shrinks its young generation at a full collection only if allocation since the collection
 * before looks slow: under ~1 KB/ms, measured over the last 5 s of collections. Right after a
 * burst of traffic, the collection above may find up to 16 MB allocated since the one before and
 * keep both 16 MB semi-spaces (idle after the benchmark's traffic: 122–164 MB in most runs once
 * large bodies stopped forcing collections, against ~100). So if they are still large, one more
 * collection 6 s later, when the last 5 s show next to nothing allocated, shrinks them.
 */
function shrinkYoungGenerationLater(quiet: () => boolean): void {
  const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  if (!young || young.space_size <= 4 * 1048576) return;
  setTimeout(() => {
    if (quiet()) collectGarbage();
  }, 6000).unref();
}
