/**
 * Exact token counts off the event loop, remembered per block. The main thread hashes each block
 * (xxh64 of its text, block-hash.ts) and looks it up in an LRU of counts; only blocks it has not seen go to the
 * tokenizer pool (piscina worker threads), in one task per request. A conversation that grows by a
 * turn therefore costs its new blocks, not the whole history.
 *
 *   const counter = new TokenCounter({ log });
 *   await counter.warm();                                       // at start-up: load the tokenizer
 *   const { tokens } = await counter.count(request, { family: 'claude' });
 *   await counter.close();
 *
 * Texts are counted exactly (tiktoken's counts, bpe-count.ts); each model family then adds its own
 * framing and, where its tokenizer is not public (Claude, Gemini), scales the count by a
 * calibrated factor (families.ts); such counts say `estimate: true`.
 *
 * A count has a deadline (5 s by default) and may carry the client's AbortSignal: either stops its
 * task in the pool (piscina terminates a worker that is running it and starts another), so no
 * request holds a worker longer than that. A failed count, whatever the cause, fails only the
 * request it was for: requests that were waiting for blocks it was counting count those themselves.
 */
import { availableParallelism } from 'node:os';
import { LRUCache } from 'lru-cache';
import { Piscina } from 'piscina';
import type { CanonicalRequest, Dialect } from '../canonical.ts';
import type { Logger, RawRequest } from '../contract.ts';
import { routerError } from '../errors.ts';
import { requestBlocks, type RequestBlocks } from './blocks.ts';
import { blockHasher } from './block-hash.ts';
import { countAnthropicBody, type Piece } from './body-count.ts';
import { familyTexts, framingOf } from './framing.ts';
import { tokenFamilies, type TokenFamilyName } from './families.ts';
import type { CollectTask, CountTask, Encoding } from './token-worker.ts';

export type { Encoding } from './token-worker.ts';

export interface TokenCount {
  tokens: number;
  encoding: Encoding;
  family: TokenFamilyName;
  /** True when the family's tokenizer is not public (Claude, Gemini, open models): a calibrated estimate. */
  estimate: boolean;
  /** Blocks in the request, and how many of them the tokenizer had to count (the rest were cached). */
  blocks: number;
  counted: number;
}

export interface CountOptions {
  encoding?: Encoding;
  /** Whose framing and tool format to count with (default `openai`; see `tokenFamilyFor`). */
  family?: TokenFamilyName;
  /** The client's signal: when it aborts, the count stops (its task leaves the pool) and fails. */
  signal?: AbortSignal;
  /** Milliseconds the count may take, waiting for a worker included (default: the counter's `deadline`). */
  deadline?: number;
}

export interface TokenCounterOptions {
  log: Logger;
  /** Worker threads (default: one per core beyond the first, at least 1, at most 4). */
  workers?: number;
  /** Block counts remembered (default 200,000; about 100 bytes each). */
  cacheBlocks?: number;
  /** Milliseconds a count may take before it is abandoned and fails (default 5,000). */
  deadline?: number;
}

/** Counting a 100k-token request from scratch takes ~50 ms; a count still running after this is pathological. */
export const defaultCountDeadline = 5_000;

export class TokenCounter {
  readonly #log: Logger;
  readonly #workers: number;
  readonly #cache: LRUCache<string, number>;
  /** What each message (by its bytes) and each request frame adds to a count, for `countBody`. */
  readonly #pieces: LRUCache<string, Piece>;
  readonly #deadline: number;
  /** Blocks being counted right now, so concurrent requests sharing them count them once. */
  readonly #counting = new Map<string, Promise<number>>();
  #pool: Piscina | undefined;
  #closed = false;

  constructor(options: TokenCounterOptions) {
    this.#log = options.log;
    this.#workers = options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    // Bounded by count through maxSize rather than max: lru-cache allocates `max` slots up front
    // (5.6 MB of heap for 200,000 blocks, in every router, counting or not); this way it grows.
    const blocks = options.cacheBlocks ?? 200_000;
    this.#cache = new LRUCache({ maxSize: blocks, sizeCalculation: () => 1 });
    this.#pieces = new LRUCache({ maxSize: Math.ceil(blocks / 4), sizeCalculation: () => 1 });
    this.#deadline = options.deadline ?? defaultCountDeadline;
  }

  /** Starts the pool and loads the default encoding in every worker, so no request pays for it. */
  async warm(encoding: Encoding = 'o200k_base'): Promise<void> {
    const pool = this.#ensurePool();
    await Promise.all(Array.from({ length: this.#workers }, () => pool.run({ encoding, texts: ['warm up'] } satisfies CountTask)));
    // Loading an encoding leaves garbage behind: the source text of the modules it imports.
    await this.collect();
  }

  /**
   * A full garbage collection in every worker (the router calls this when it falls idle): a
   * worker's heap grows while it counts a long conversation and V8 keeps it after. A task per
   * worker; piscina gives idle workers one each. Does nothing before the pool started.
   */
  async collect(): Promise<void> {
    const pool = this.#pool;
    if (!pool) return;
    await Promise.all(Array.from({ length: this.#workers }, () => pool.run({ collect: true } satisfies CollectTask))).catch((err: unknown) => {
      this.#log.debug({ err }, 'a token worker could not run its collection');
    });
  }

  count(request: CanonicalRequest, options?: CountOptions): Promise<TokenCount> {
    return this.countBlocks(requestBlocks(request), options);
  }

  async countBlocks(blocks: RequestBlocks, options: CountOptions = {}): Promise<TokenCount> {
    const encoding = options.encoding ?? 'o200k_base';
    const family = tokenFamilies[options.family ?? 'openai'];
    const { counts, counted } = await this.#countEach(familyTexts(blocks, family), encoding, options);
    let tokens = 0;
    for (const n of counts) tokens += n;
    const total = Math.ceil(tokens * family.scale) + framingOf(blocks, family);
    return { tokens: total, encoding, family: family.name, estimate: family.estimate, blocks: blocks.texts.length + blocks.tools.length, counted };
  }

  /**
   * The same count as `countBlocks` on the parsed request, from the body's bytes: each message is
   * remembered by its bytes, so only messages not seen before are decoded and parsed, and a
   * 470 KB conversation that grew by a turn costs a scan, a hash and its new turn (body-count.ts).
   * Anthropic's dialect only (its messages stand alone; OpenAI's merge tool results into turns):
   * undefined for others, and for a body it cannot lay out, so the caller counts the parsed request.
   */
  async countBody(body: Buffer | Pick<RawRequest, 'bytes' | 'layout'>, options: CountOptions & { dialect: Dialect }): Promise<TokenCount | undefined> {
    if (options.dialect !== 'anthropic') return undefined;
    const encoding = options.encoding ?? 'o200k_base';
    const family = tokenFamilies[options.family ?? 'openai'];
    const found = await countAnthropicBody(body, family, encoding, await blockHasher(), this.#pieces, (texts) => this.#countEach(texts, encoding, options));
    if (!found) return undefined;
    const total = Math.ceil(found.tokens * family.scale) + framingOf(found.shape, family);
    return { tokens: total, encoding, family: family.name, estimate: family.estimate, blocks: found.blocks, counted: found.counted };
  }

  /** Each text's count (0 for an empty one), from the cache or the pool; `counted`: how many went to this request's task. */
  async #countEach(texts: string[], encoding: Encoding, options: CountOptions): Promise<{ counts: number[]; counted: number }> {
    const counts = new Array<number>(texts.length).fill(0);
    const hasher = await blockHasher();
    // Each block the cache does not know, once (a tool result quoted back is counted once), with
    // where it occurs; those no one is counting go to this request's task, those another request
    // is counting right now are awaited rather than counted again.
    const occurrences = new Map<string, number[]>();
    const mine = new Map<string, string>();
    const theirs = new Map<string, { text: string; count: Promise<number> }>();
    texts.forEach((text, i) => {
      if (text.length === 0) return;
      const key = encoding + hasher.text(text);
      const cached = this.#cache.get(key);
      if (cached !== undefined) {
        counts[i] = cached;
        return;
      }
      const at = occurrences.get(key);
      if (at) {
        at.push(i);
        return;
      }
      occurrences.set(key, [i]);
      const inFlight = this.#counting.get(key);
      if (inFlight) theirs.set(key, { text, count: inFlight });
      else mine.set(key, text);
    });
    if (occurrences.size > 0) {
      const known = await this.#countUnknown(mine, theirs, encoding, options);
      for (const [key, at] of occurrences) for (const i of at) counts[i] = known.get(key)!;
    }
    return { counts, counted: mine.size };
  }

  /** Counts this request's new blocks in one task and awaits those others are counting; recounts what their tasks failed to count. */
  async #countUnknown(mine: Map<string, string>, theirs: Map<string, { text: string; count: Promise<number> }>, encoding: Encoding, options: CountOptions): Promise<Map<string, number>> {
    const deadline = options.deadline ?? this.#deadline;
    const timeout = AbortSignal.timeout(deadline);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const counts = new Map<string, number>();
    try {
      const own = mine.size > 0 ? this.#run(mine, encoding, signal) : undefined;
      own?.catch(() => {}); // awaited below, after the others
      // Another request's task may fail (its worker crashed, its client left, its deadline
      // passed): that is not this request's failure, so it counts those blocks itself.
      const recount = new Map<string, string>();
      // One abort listener for all of them: a conversation shares hundreds of blocks.
      const settled = theirs.size === 0 ? [] : await untilAborted(Promise.allSettled([...theirs.values()].map(({ count }) => count)), signal);
      [...theirs].forEach(([key, { text }], i) => {
        const outcome = settled[i];
        if (outcome.status === 'fulfilled') counts.set(key, outcome.value);
        else recount.set(key, text);
      });
      if (own) for (const [key, n] of await own) counts.set(key, n);
      if (recount.size > 0) for (const [key, n] of await this.#run(recount, encoding, signal)) counts.set(key, n);
      return counts;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'RK_SHUTTING_DOWN') throw err;
      let reason = err instanceof Error ? err.message : String(err);
      if (options.signal?.aborted) reason = 'the request was cancelled';
      else if (timeout.aborted) {
        reason = `no count within ${deadline} ms`;
        this.#log.warn({ deadline }, 'a token count passed its deadline and was stopped (a worker running it is replaced)');
      }
      throw routerError('RK_TOKEN_COUNT_FAILED', { reason }, { cause: err });
    }
  }

  /** One pool task for these texts; other requests may await its blocks meanwhile. */
  async #run(texts: Map<string, string>, encoding: Encoding, signal: AbortSignal): Promise<Map<string, number>> {
    const keys = [...texts.keys()];
    const task = this.#ensurePool().run({ encoding, texts: [...texts.values()] } satisfies CountTask, { signal }) as Promise<number[]>;
    const shares = keys.map((key, i) => {
      const one = task.then((counts) => counts[i]);
      one.catch(() => {}); // whoever awaits it handles a failure
      this.#counting.set(key, one);
      return one;
    });
    try {
      const counts = await task;
      const out = new Map<string, number>();
      keys.forEach((key, i) => {
        out.set(key, counts[i]);
        this.#cache.set(key, counts[i]);
      });
      return out;
    } finally {
      // A request recounting after this task failed may have registered its own task meanwhile.
      keys.forEach((key, i) => this.#counting.get(key) === shares[i] && this.#counting.delete(key));
    }
  }

  /** The pool's worker threads (for tests that need to kill one). */
  get threads(): readonly unknown[] {
    return this.#pool?.threads ?? [];
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.destroy();
  }

  #ensurePool(): Piscina {
    if (this.#closed) throw routerError('RK_SHUTTING_DOWN');
    if (this.#pool) return this.#pool;
    const source = import.meta.url.endsWith('.ts');
    const filename = new URL(source ? './token-worker.ts' : './token-worker.js', import.meta.url).href;
    // Workers inherit the process's Node options when given none; passing them explicitly fails
    // on any V8 option (`node --max-old-space-size=4096`, `--cpu-prof`, `--trace-gc`: "invalid
    // execArgv flags"). Only a TypeScript worker in a process that registered tsx through its API
    // (not `--import tsx`) needs options of its own: tsx, and nothing the worker could refuse.
    const hasTsx = process.execArgv.some((arg) => arg.includes('tsx'));
    const execArgv = source && !hasTsx ? ['--import', 'tsx'] : undefined;
    // A small young generation: the tokenizer's garbage is short-lived, and V8 would otherwise grow
    // it to 48 MB per worker while counting a long conversation (measured: same count speed at 6
    // MB, ~7 MB less at start, ~30 MB less at peak).
    const resourceLimits = { maxYoungGenerationSizeMb: 6 };
    const pool = new Piscina({ filename, minThreads: this.#workers, maxThreads: this.#workers, idleTimeout: Infinity, execArgv, resourceLimits });
    // A worker that dies fails only its own task (above); piscina starts a replacement. A task
    // stopped by its signal (deadline, client gone) has its worker terminated and replaced too.
    pool.on('error', (err: unknown) => this.#log.error({ err }, 'token counting worker failed; it is being replaced'));
    this.#pool = pool;
    return pool;
  }
}

/** `promise`, or a rejection as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}
