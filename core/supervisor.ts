/**
 * Owns the live generation and replaces it. A reload compiles the new generation completely
 * beside the live one; only if that succeeds is the one reference swapped, and then its plugins are
 * told it is live (`activate`: where shared state takes new settings). The old generation then
 * drains and is cleaned up in the background. Reloads run one at a time; requests for a reload
 * that arrive meanwhile collapse into one more run, which reads the newest file contents.
 */
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { channels, type Logger } from './contract.ts';
import { isConfigError } from './config/config-error.ts';
import { readConfig, type LoadedConfig } from './config/load.ts';
import { compileGeneration } from './generation/compile.ts';
import type { Generation } from './generation/generation.ts';
import { SharedResources } from './generation/shared-resources.ts';
import { TokenCounter } from './tokens/token-counter.ts';
import { pluginStates } from './http/admin-state.ts';

export type ReloadResult = { ok: true; generation: number } | { ok: false; error: Error };

const reloadChannel = channel(channels.reload);

export class Supervisor {
  #current: Generation | undefined;
  #nextId = 1;
  #running: Promise<ReloadResult> | undefined;
  #queued: Promise<ReloadResult> | undefined;
  #retiring = new Set<Promise<void>>();
  readonly shared = new SharedResources();
  /** One tokenizer pool and block cache for the process: they outlive every reload. */
  readonly tokens: TokenCounter;

  constructor(
    readonly configFile: string,
    readonly log: Logger,
    readonly env: Record<string, string | undefined> = process.env,
  ) {
    this.tokens = new TokenCounter({ log });
  }

  get current(): Generation {
    if (!this.#current) throw new Error('router-kernel has no configuration loaded yet');
    return this.#current;
  }

  /** Compiles the first generation; throws ConfigError when the file is not usable. */
  async start(preloaded?: LoadedConfig): Promise<Generation> {
    const loaded = preloaded ?? (await readConfig(this.configFile, this.env));
    const first = await compileGeneration(loaded, undefined, { id: this.#nextId, log: this.log, shared: this.shared, tokens: this.tokens, states: () => (this.#current ? pluginStates(this.#current) : []) });
    this.#current = first;
    this.#nextId++;
    await first.activate(this.log);
    return first;
  }

  /** Reloads from the file. Never throws: a failure leaves the live generation serving. */
  reload(reason: string): Promise<ReloadResult> {
    if (!this.#running) {
      this.#running = this.#reload(reason).finally(() => (this.#running = undefined));
      return this.#running;
    }
    // One follow-up run covers every request that arrives while a reload is in progress.
    this.#queued ??= this.#running.then(() => {
      this.#queued = undefined;
      return this.reload(reason);
    });
    return this.#queued;
  }

  async #reload(reason: string): Promise<ReloadResult> {
    const started = performance.now();
    const old = this.#current;
    try {
      const loaded = await readConfig(this.configFile, this.env);
      const next = await compileGeneration(loaded, old, { id: this.#nextId, log: this.log, shared: this.shared, tokens: this.tokens, states: () => (this.#current ? pluginStates(this.#current) : []) });
      this.#current = next;
      // A rejected config uses up no number: generations count the configs that served.
      this.#nextId++;
      // Only now may plugins apply the new settings to state the old generation shares.
      await next.activate(this.log, old);
      const durationMs = Math.round(performance.now() - started);
      this.log.info({ generation: next.id, reason, durationMs, providers: [...next.providers.keys()] }, `config reloaded (generation ${next.id})`);
      if (reloadChannel.hasSubscribers) reloadChannel.publish({ generation: next.id, ok: true, durationMs });
      if (old) this.#retire(old);
      return { ok: true, generation: next.id };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (isConfigError(error)) this.log.error({ reason, issues: error.issues }, `config rejected, still serving generation ${old?.id}:\n${error.message}`);
      else this.log.error({ reason, err: error }, `reload failed, still serving generation ${old?.id}`);
      if (reloadChannel.hasSubscribers) reloadChannel.publish({ generation: old?.id, ok: false, error, durationMs: Math.round(performance.now() - started) });
      return { ok: false, error };
    }
  }

  #retire(generation: Generation): void {
    const done = (async () => {
      const { aborted } = await generation.drain(generation.settings.drainTimeout);
      if (aborted > 0) this.log.warn({ generation: generation.id, aborted }, 'drain deadline passed; aborted the remaining requests');
      await generation.release(this.shared, this.log);
      this.log.debug({ generation: generation.id }, 'generation retired');
    })();
    this.#retiring.add(done);
    void done.finally(() => this.#retiring.delete(done));
  }

  /** Drains the live generation (and any still retiring) and cleans everything up. */
  async close(timeoutMs?: number): Promise<void> {
    await this.#running?.catch(() => undefined);
    const current = this.#current;
    this.#current = undefined;
    if (current) {
      const { aborted } = await current.drain(timeoutMs ?? current.settings.drainTimeout);
      if (aborted > 0) this.log.warn({ aborted }, 'shutdown deadline passed; aborted the remaining requests');
      await current.release(this.shared, this.log);
    }
    await Promise.all(this.#retiring);
    await this.tokens.close();
  }
}
