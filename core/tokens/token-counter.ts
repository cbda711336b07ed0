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
}

export interface TokenCounterOptions {
  log: Logger;
  /** Worker threads (default: one per core beyond the first, at least 1, at most 4). */
  workers?: number;
  /** Block counts remembered (default 200,000; about 100 bytes each). */
  cacheBlocks?: number;
}

export class TokenCounter {
  readonly #log: Logger;
  readonly #workers: number;
  readonly #cache: LRUCache<string, number>;
  /** Blocks being counted right now, so concurrent requests sharing them count them once. */
  readonly #counting = new Map<string, Promise<number>>();
  #pool: Piscina | undefined;
  #closed = false;

  constructor(options: TokenCounterOptions) {
    this.#log = options.log;
    this.#workers = options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    this.#cache = new LRUCache({ max: options.cacheBlocks ?? 200_000 });
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
    // Blocks the cache does not know, each text once (a tool result quoted back is counted once),
    // and blocks another request is counting right now (awaited rather than counted again).
    const unknown = new Map<string, string>();
    const pending: string[] = [];
    const elsewhere: Array<Promise<number>> = [];
    for (const text of familyTexts(blocks, family)) {
      if (text.length === 0) continue;
      const key = encoding + hash('sha1', text, 'base64');
      const cached = this.#cache.get(key);
      if (cached !== undefined) {
        tokens += cached;
        continue;
      }
      const inFlight = this.#counting.get(key);
      if (inFlight && !unknown.has(key)) {
        elsewhere.push(inFlight);
        continue;
      }
      if (!unknown.has(key)) unknown.set(key, text);
      pending.push(key);
    }
    if (unknown.size > 0) {
      const task = this.#ensurePool().run({ encoding, texts: [...unknown.values()] } satisfies CountTask) as Promise<number[]>;
      const keys = [...unknown.keys()];
      keys.forEach((key, i) => {
        const one = task.then((counts) => counts[i]);
        one.catch(() => {}); // a failure is reported below, to this request
        this.#counting.set(key, one);
      });
      let counts: number[];
      try {
        counts = await task;
      } catch (err) {
        throw routerError('RK_TOKEN_COUNT_FAILED', { reason: err instanceof Error ? err.message : String(err) }, { cause: err });
      } finally {
        for (const key of keys) this.#counting.delete(key);
      }
      const counted = new Map<string, number>();
      keys.forEach((key, i) => {
        counted.set(key, counts[i]);
        this.#cache.set(key, counts[i]);
      });
      for (const key of pending) tokens += counted.get(key)!;
    }
    if (elsewhere.length > 0) {
      try {
        for (const count of await Promise.all(elsewhere)) tokens += count;
      } catch (err) {
        throw routerError('RK_TOKEN_COUNT_FAILED', { reason: err instanceof Error ? err.message : String(err) }, { cause: err });
      }
    }
    const total = Math.ceil(tokens * family.scale) + framingOf(blocks, family);
    return { tokens: total, encoding, family: family.name, estimate: family.estimate, blocks: blocks.texts.length + blocks.tools.length, counted: unknown.size };
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
    // A worker that dies fails only its own task (above); piscina starts a replacement.
    pool.on('error', (err: unknown) => this.#log.error({ err }, 'token counting worker failed; it is being replaced'));
    this.#pool = pool;
    return pool;
  }
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
