/**
 * A generation: one compiled router.yaml. It owns its plugin slots (some shared with the previous
 * or next generation when their options did not change), its composed chain, and the requests
 * pinned to it. When replaced it drains (in-flight requests, long streams included, finish on it,
 * up to a deadline) and then cleans up its own slots in reverse order.
 */
import type { TokenCounter } from '../tokens/token-counter.ts';
import type { LiveGeneration, Logger, ModelEntry, PluginDefinition, PluginInstance, PluginRoute, PluginScope, ProviderCatalog, ProviderInstance } from '../contract.ts';
import type { LoadedConfig } from '../config/load.ts';
import { parseBytes, parseDuration } from '../config/units.ts';
import type { Terminal } from '../compose.ts';
import { routerError } from '../errors.ts';
import type { SharedResources } from './shared-resources.ts';

export interface Slot {
  /** Identity across generations: `providers.<name>` or `pipeline.<name>#<n>`. */
  key: string;
  path: Array<string | number>;
  name: string;
  definition: PluginDefinition;
  /** Options and models as JSON: an instance is reused only when this is unchanged. */
  fingerprint: string;
  instance: PluginInstance;
  scope: PluginScope;
  /** Live generations holding this slot. */
  holders: number;
  /** provision() was called (even if it threw): cleanup() is owed. */
  started: boolean;
}

export interface ProviderSlot {
  slot: Slot;
  instance: ProviderInstance;
  /** Model name → its entry (upstream id and limits). */
  models: Map<string, ModelEntry>;
}

export interface ServerSettings {
  host: string;
  port: number;
  bodyLimit: number;
  drainTimeout: number;
  keepAliveTimeout: number;
  /** Milliseconds without a request before a full garbage collection returns memory; 0: never. */
  idleCollectAfter: number;
  /** Large request bodies joined into memory reused from earlier ones (core/body-memory.ts). */
  reuseBodyMemory: boolean;
  authKeys: string[];
  adminKey: string | undefined;
  logBodies: boolean;
  logLevel: string;
}

export function serverSettings(loaded: LoadedConfig): ServerSettings {
  const { server, log } = loaded.config;
  return {
    host: server.host,
    port: server.port,
    bodyLimit: parseBytes(server.body_limit),
    drainTimeout: parseDuration(server.drain_timeout),
    keepAliveTimeout: parseDuration(server.keep_alive_timeout),
    idleCollectAfter: parseDuration(server.idle_collect),
    reuseBodyMemory: server.reuse_body_memory,
    authKeys: server.auth?.keys ?? [],
    adminKey: server.admin_key,
    logBodies: log.bodies,
    logLevel: log.level,
  };
}

export class Generation {
  inflight = 0;
  #controllers = new Set<AbortController>();
  #idle: (() => void) | undefined;

  constructor(
    readonly id: number,
    readonly loaded: LoadedConfig,
    readonly settings: ServerSettings,
    /** Every slot in creation order: providers, then pipeline. */
    readonly slots: Slot[],
    readonly providers: Map<string, ProviderSlot>,
    readonly catalog: ProviderCatalog,
    readonly chain: Terminal,
    /** Local plugin files to watch, besides router.yaml. */
    readonly files: string[],
    /** The kernel's token counter (one for the process, shared by every generation). */
    readonly tokens: TokenCounter,
    /** Plugin endpoints by `METHOD path`, with the name of the plugin serving each. */
    readonly routes: Map<string, { route: PluginRoute; plugin: string }> = new Map(),
  ) {}

  enter(controller: AbortController): void {
    this.inflight++;
    this.#controllers.add(controller);
  }

  leave(controller: AbortController): void {
    if (!this.#controllers.delete(controller)) return;
    this.inflight--;
    if (this.inflight === 0) this.#idle?.();
  }

  /**
   * Tells every instance that this generation is live (right after the swap, `replaced` about to
   * drain), in creation order.
   * The synchronous part of every hook runs before this returns, so before any request reaches the
   * generation; failures are logged, since the swap cannot be undone.
   */
  activate(log: Logger, replaced?: Generation): Promise<void> {
    const live: LiveGeneration = { id: this.id, catalog: this.catalog, clientAuth: this.settings.authKeys.length > 0 };
    if (replaced) live.replaced = { catalog: replaced.catalog, drainDeadline: Date.now() + replaced.settings.drainTimeout };
    const pending: Array<Promise<void>> = [];
    const failed = (slot: Slot) => (err: unknown) => log.error({ err, plugin: slot.definition.id, at: slot.key }, 'plugin activate failed; the generation stays live');
    for (const slot of this.slots) {
      try {
        const result = slot.instance.activate?.(live);
        if (result) pending.push(Promise.resolve(result).catch(failed(slot)));
      } catch (err) {
        failed(slot)(err);
      }
    }
    return Promise.all(pending).then(() => undefined);
  }

  /** Resolves when every pinned request has finished, aborting stragglers at the deadline. */
  async drain(timeoutMs: number): Promise<{ aborted: number }> {
    if (this.inflight === 0) return { aborted: 0 };
    const idle = new Promise<void>((resolve) => (this.#idle = resolve));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    const outcome = await Promise.race([idle, timedOut]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return { aborted: 0 };
    const aborted = this.#controllers.size;
    for (const controller of this.#controllers) controller.abort(routerError('RK_DRAIN_TIMEOUT', { timeout: timeoutMs }));
    // Aborted requests unwind on their own; give them a moment to release their resources.
    await Promise.race([idle, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
    return { aborted };
  }

  /** Cleans up the slots no other live generation holds, in reverse creation order. */
  async release(shared: SharedResources, log: Logger): Promise<void> {
    await cleanupSlots(this.slots, shared, log);
  }
}

export async function cleanupSlots(slots: Slot[], shared: SharedResources, log: Logger): Promise<void> {
  for (const slot of [...slots].reverse()) {
    slot.holders--;
    if (slot.holders > 0) continue;
    if (slot.started) {
      try {
        await slot.instance.cleanup?.();
      } catch (err) {
        log.error({ err, plugin: slot.definition.id, at: slot.key }, 'plugin cleanup failed');
      }
    }
    await shared.release(slot);
  }
}
