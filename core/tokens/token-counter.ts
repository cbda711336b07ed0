/**
 * Exact token counts off the event loop, remembered per block. The main thread hashes each block
 * (SHA-1 of its text) and looks it up in an LRU of counts; only blocks it has not seen go to the
 * tokenizer pool (piscina worker threads), in one task per request. A conversation that grows by a
 * turn therefore costs its new blocks, not the whole history.
 *
 *   const counter = new TokenCounter({ log });
 *   await counter.warm();                                       // at start-up: load the tokenizer
 *   const { tokens } = await counter.count(request, { family: 'claude' });
 *   await counter.close();
 *
 * Texts are counted exactly (gpt-tokenizer matches tiktoken); each model family then adds its own
 * framing and, where its tokenizer is not public (Claude, Gemini), scales the count by a
 * calibrated factor (families.ts); such counts say `estimate: true`.
 *
 * A count has a deadline (5 s by default) and may carry the client's AbortSignal: either stops its
 * task in the pool (piscina terminates a worker that is running it and starts another), so no
 * request holds a worker longer than that. A failed count, whatever the cause, fails only the
 * request it was for: requests that were waiting for blocks it was counting count those themselves.
 */
import { hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { LRUCache } from 'lru-cache';
import { Piscina } from 'piscina';
import type { CanonicalRequest } from '../canonical.ts';
import type { Logger } from '../contract.ts';
import { routerError } from '../errors.ts';
import { requestBlocks, type RequestBlocks } from './blocks.ts';
import { tokenFamilies, type TokenFamily, type TokenFamilyName } from './families.ts';
import type { CountTask, Encoding } from './token-worker.ts';

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
  readonly #deadline: number;
  /** Blocks being counted right now, so concurrent requests sharing them count them once. */
  readonly #counting = new Map<string, Promise<number>>();
  #pool: Piscina | undefined;
  #closed = false;

  constructor(options: TokenCounterOptions) {
    this.#log = options.log;
    this.#workers = options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    this.#cache = new LRUCache({ max: options.cacheBlocks ?? 200_000 });
    this.#deadline = options.deadline ?? defaultCountDeadline;
  }

  /** Starts the pool and loads the default encoding in every worker, so no request pays for it. */
  async warm(encoding: Encoding = 'o200k_base'): Promise<void> {
    const pool = this.#ensurePool();
    await Promise.all(Array.from({ length: this.#workers }, () => pool.run({ encoding, texts: ['warm up'] } satisfies CountTask)));
  }

  count(request: CanonicalRequest, options?: CountOptions): Promise<TokenCount> {
    return this.countBlocks(requestBlocks(request), options);
  }

  async countBlocks(blocks: RequestBlocks, options: CountOptions = {}): Promise<TokenCount> {
    const encoding = options.encoding ?? 'o200k_base';
    const family = tokenFamilies[options.family ?? 'openai'];
    let tokens = 0;
    // Each block the cache does not know, once (a tool result quoted back is counted once), with
    // how often it occurs; those no one is counting go to this request's task, those another
    // request is counting right now are awaited rather than counted again.
    const occurrences = new Map<string, number>();
    const mine = new Map<string, string>();
    const theirs = new Map<string, { text: string; count: Promise<number> }>();
    for (const text of familyTexts(blocks, family)) {
      if (text.length === 0) continue;
      const key = encoding + hash('sha1', text, 'base64');
      const cached = this.#cache.get(key);
      if (cached !== undefined) {
        tokens += cached;
        continue;
      }
      const seen = occurrences.get(key);
      occurrences.set(key, (seen ?? 0) + 1);
      if (seen !== undefined) continue;
      const inFlight = this.#counting.get(key);
      if (inFlight) theirs.set(key, { text, count: inFlight });
      else mine.set(key, text);
    }
    if (occurrences.size > 0) {
      const counts = await this.#countUnknown(mine, theirs, encoding, options);
      for (const [key, times] of occurrences) tokens += counts.get(key)! * times;
    }
    const total = Math.ceil(tokens * family.scale) + framingOf(blocks, family);
    return { tokens: total, encoding, family: family.name, estimate: family.estimate, blocks: blocks.texts.length + blocks.tools.length, counted: mine.size };
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
      const settled = await Promise.allSettled([...theirs.values()].map(({ count }) => untilAborted(count, signal)));
      signal.throwIfAborted();
      [...theirs].forEach(([key, { text }], i) => {
        const outcome = settled[i];
        if (outcome.status === 'fulfilled') counts.set(key, outcome.value);
        else recount.set(key, text);
      });
      if (own) for (const [key, n] of await own) counts.set(key, n);
      if (recount.size > 0) for (const [key, n] of await this.#run(recount, encoding, signal)) counts.set(key, n);
      return counts;
    } catch (err) {
      let reason = err instanceof Error ? err.message : String(err);
      if (options.signal?.aborted) reason = 'the request was cancelled';
      else if (timeout.aborted) {
        reason = `no count within ${deadline} ms`;
        this.#log.warn({ deadline }, 'a token count passed its deadline; it was stopped and its worker replaced');
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
    // A TypeScript worker needs tsx in the worker too, unless the process was started with it.
    const hasTsx = process.execArgv.some((arg) => arg.includes('tsx'));
    const execArgv = source && !hasTsx ? [...process.execArgv, '--import', 'tsx'] : process.execArgv;
    const pool = new Piscina({ filename, minThreads: this.#workers, maxThreads: this.#workers, idleTimeout: Infinity, execArgv });
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

/** Every text the family's model reads: the request's texts, then its tool definitions as the family writes them (each its own cached block). */
export function familyTexts(blocks: RequestBlocks, family: TokenFamily): string[] {
  if (blocks.tools.length === 0) return blocks.texts;
  const texts = [...blocks.texts, ...blocks.tools.map((tool) => family.renderTool(tool))];
  if (family.toolsHeader) texts.push(family.toolsHeader);
  if (family.toolsFooter) texts.push(family.toolsFooter);
  return texts;
}

/** Tokens the family adds that are not text: message framing, images, tool calls, the tools preamble. */
export function framingOf(blocks: RequestBlocks, family: TokenFamily): number {
  let tokens = family.perRequest + (blocks.messages + (blocks.system ? 1 : 0)) * family.perMessage + blocks.toolCalls * family.perToolCall + blocks.images * family.perImage;
  if (blocks.tools.length > 0) tokens += family.withTools + (blocks.system ? family.withToolsAndSystem : 0);
  if (blocks.thinking) tokens += family.withThinking;
  return tokens;
}
