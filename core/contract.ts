/**
 * The public plugin contract. Built-in plugins import from here (through the package entry,
 * `router-kernel`) exactly as third-party plugins do; nothing else in `core/` is theirs to use.
 *
 *   import { definePlugin } from 'router-kernel';
 *   export default definePlugin({
 *     id: 'middleware.stamp', kind: 'middleware', version: '1.0.0',
 *     schema: { type: 'object', properties: { value: { type: 'string' } }, additionalProperties: false },
 *     create(options) {
 *       return {
 *         async handle(ctx, next) { await next(); ctx.setHeader('x-stamp', options.value); },
 *       };
 *     },
 *   });
 *
 * Lifecycle of one instance (Caddy's, in YAML order): create → provision → validate → (the swap)
 * activate → handle… → cleanup. A reload builds a whole new generation beside the live one; an
 * instance whose plugin and options did not change is carried over as is (its pools and counters
 * stay warm), others are created fresh and may adopt their predecessor's state through
 * `scope.inherited`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CountOptions, Encoding, TokenCount } from './tokens/token-counter.ts';
import type { RequestBlocks } from './tokens/blocks.ts';
import type { CanonicalRequest, CanonicalResponse, Dialect, StreamEvent, Usage } from './canonical.ts';

export type PriorityClass = 'critical' | 'high' | 'normal' | 'low' | 'batch';
export const priorityClasses: readonly PriorityClass[] = ['critical', 'high', 'normal', 'low', 'batch'];

export type PluginKind = 'provider' | 'middleware' | 'scheduler' | 'cache' | 'monitor';
export const pluginKinds: readonly PluginKind[] = ['provider', 'middleware', 'scheduler', 'cache', 'monitor'];

/**
 * A JSON Schema (draft-07, as ajv reads it). `format: 'duration'` and `format: 'bytes'` are known,
 * and any node may carry `errorMessage: 'must be …'` to say in words what a pattern means.
 */
export type JsonSchema = Record<string, unknown>;

export type { Logger };

/** Where a request goes: a configured provider and one of its model names. */
export interface Route {
  provider: string;
  model: string;
  /** Why this route was chosen (`default`, `explicit`, `rule:3`, ...); shown in `x-router-route`. */
  reason: string;
  /** Facts behind the reason (`tokens=123456`), appended to `x-router-route`. */
  detail?: string;
  /**
   * Targets to try in order when this one fails before answering (a 5xx, a 429, a timeout or an
   * unreachable upstream). The route that answered is the one reported.
   */
  fallbacks?: Array<{ provider: string; model: string }>;
}

export interface RawRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /**
   * The body exactly as received, yours to keep. A large body's memory is reused once its request
   * has been answered (core/body-memory.ts), so for such a body this is a copy, made on first use:
   * to look at the bytes without copying them, use `bytes`.
   */
  readonly body: Buffer;
  /** The body's length in bytes. */
  readonly size: number;
  /**
   * The body's bytes, lent: valid until the request has been answered, after which a large body's
   * memory is reused for another request's body. Keep nothing of them past that, not even a view
   * (`subarray`); copy what you need (`Buffer.from(bytes)`), or take `body` instead. Reading a large
   * body after its request was answered (here, or through `json`, `field`, `withString`, `layout`,
   * unless already parsed) throws.
   */
  readonly bytes: Buffer;
  /**
   * The whole body parsed, on first use (then kept); treat as read-only. Parsing a large agent
   * request costs milliseconds: prefer `field()` when a top-level field or two will do.
   */
  readonly json: Record<string, unknown>;
  /** One top-level field of the body, parsed on its own (the rest of the body is not parsed). */
  field(name: string): unknown;
  /**
   * The body with one top-level string field set to `value`, for passthrough: chunks to send in
   * order (`Buffer.concat` them if you need one buffer), sharing the received bytes rather than
   * copying them. Undefined when the field is absent, not a string, or repeated (the body must
   * then be rebuilt, not edited). The chunks are lent as `bytes` is: send them upstream
   * with the kernel's upstream client (which holds them until undici is done), or copy them.
   */
  withString(name: string, value: string): Buffer[] | undefined;
  /**
   * Where a top-level field's value sits in the body (byte offsets, end exclusive) and, for an array,
   * where each element does (`elements.starts[i]`, `elements.ends[i]`), from the one scan the
   * kernel makes of every body. Undefined when the field is absent or repeated. For hashing or
   * comparing parts of a large body without decoding it: token counting remembers a
   * conversation's messages by their bytes this way. `elements.hashes[i]` is a 64-bit hash of
   * element i's bytes (xxHash, seeded per process: equal within this process for equal bytes),
   * computed on first use and shared by everyone who asks, the kernel's element memo included.
   */
  layout(name: string): { start: number; end: number; elements?: { readonly starts: readonly number[]; readonly ends: readonly number[]; readonly hashes: readonly string[] } } | undefined;
}

/**
 * One request's state as it travels the pipeline. Created by the kernel after the body is parsed;
 * lives until the answer has been fully written (for streams, until the last byte).
 */
export interface RequestContext {
  readonly id: string;
  /** The client's API dialect, decided by the path it called. */
  readonly dialect: Dialect;
  /** The endpoint within that dialect: `messages`, `chat.completions`. */
  readonly endpoint: string;
  /** The model the client asked for (the body's `model`), read without parsing the rest. */
  readonly model: string;
  /** Whether the client asked for a streamed answer. */
  readonly stream: boolean;
  /**
   * The canonical request, parsed from the body on first access (a malformed body throws a 400 in
   * the client's dialect then). Middleware may change it; after a change a passthrough provider
   * must not forward the raw body, so also set `rawStale`. Reading `model` or `stream` above, or
   * `raw.field()`, costs nothing; this costs a full parse, which passthrough otherwise avoids.
   *
   * Change it by replacement, never in place: the messages and tools of a long conversation are
   * shared with its earlier and later requests (each is parsed once, see docs/architecture.md) and
   * are frozen, so editing one throws. Assign a new array, message or part instead:
   * `ctx.request = { ...ctx.request, messages: [...] }`.
   */
  request: CanonicalRequest;
  readonly raw: RawRequest;
  /**
   * The request's input tokens as the client's model family bills them (`tokenFamilyFor(model,
   * dialect)`: OpenAI exactly, Claude and Gemini as calibrated estimates), counted once per request
   * however many plugins ask. Pass the blocks if you already walked the request (see `requestBlocks`) to avoid a second walk.
   */
  countTokens(blocks?: RequestBlocks): Promise<TokenCount>;
  /** Scheduling class (`critical` … `batch`, default `normal`), set by a scheduler or middleware. */
  priority: PriorityClass;
  /**
   * When the client stops waiting (epoch ms), if a plugin set one: queues give up then and answer
   * 429/503 with retry-after instead of holding the request longer.
   */
  deadline: number | undefined;
  /** The key a key pool chose for this attempt; providers send it instead of their first key. */
  credential: Credential | undefined;
  /**
   * Takes the upstream call's abort signal over from the client: from now on the client leaving no
   * longer aborts `ctx.signal`; the returned `upstream` controller does, and `client` still says
   * when this client left. For plugins that serve one upstream answer to several clients
   * (coalescing), which must abort it only when the last one has gone.
   */
  detachUpstream(): { upstream: AbortController; client: AbortSignal };
  /**
   * Set to true after changing `request` in a way a passthrough provider must not ignore: it then
   * builds the upstream body from the canonical request (same dialect, so extras, cache_control and
   * signatures still go along) instead of forwarding the client's bytes.
   */
  rawStale: boolean;
  /** The providers and models of the generation this request is pinned to. */
  readonly catalog: ProviderCatalog;
  /** Set by routing middleware; the terminal requires it (or a `provider/model` client model). */
  route: Route | undefined;
  /** Set by the terminal (or by middleware that answers itself, such as a cache). */
  response: ProviderResponse | undefined;
  /** Aborts when the client goes away or the router gives up on the request. */
  readonly signal: AbortSignal;
  /** A child logger carrying the request id. */
  readonly log: Logger;
  /** Per-request scratch space for plugins; key it with a Symbol or your plugin id. */
  readonly state: Map<string | symbol, unknown>;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** Adds a header to the client's response (ignored once the response has started). */
  setHeader(name: string, value: string): void;
  /** Records something translation could not carry to the provider (a loud downgrade). */
  dropped(feature: string): void;
}

/** What a provider (or an answering middleware) produces. */
export type ProviderResponse =
  | { kind: 'message'; message: CanonicalResponse; headers?: Record<string, string>; upstream?: UpstreamMeta }
  | { kind: 'stream'; events: AsyncIterable<StreamEvent>; headers?: Record<string, string>; upstream?: UpstreamMeta }
  | PassthroughResponse;

/** The upstream's status and every response header, for schedulers that learn rate-limit headroom. */
export interface UpstreamMeta {
  status: number;
  headers: Record<string, string>;
}

/**
 * Upstream bytes in the client's own dialect, sent on untouched. `usage` settles when the body has
 * been read to the end (it is read from the bytes as they pass, never by re-encoding them).
 */
export interface PassthroughResponse {
  kind: 'passthrough';
  status: number;
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  usage: Promise<Usage | undefined>;
  upstream?: UpstreamMeta;
}

/** `await next()` runs the rest of the pipeline and the provider; not calling it short-circuits. */
export type Next = () => Promise<void>;
export type Handler = (ctx: RequestContext, next: Next) => Promise<void>;

export interface ModelEntry {
  /** The name clients and routes use. */
  name: string;
  /** The id sent upstream (differs when the provider entry aliases it). */
  upstream: string;
  /** The most output tokens the model accepts; larger `max_tokens` requests are lowered to it. */
  maxOutputTokens?: number;
  /** false: the model cannot think, so thinking requests are not passed on to it. */
  thinking?: boolean;
}

/**
 * One of a provider's API keys, as declared under the provider's `keys` (or `api_key`) with its own
 * limits. `id` is a fingerprint safe to show and log; `key` itself never is.
 */
export interface Credential {
  id: string;
  key: string;
  /** A label from YAML (`name:`), shown beside the fingerprint. */
  name?: string;
  /** Requests per minute, tokens per minute and requests in flight the key is allowed. */
  rpm?: number;
  tpm?: number;
  concurrency?: number;
  /** Share of the work under the `weighted` strategy (default 1). */
  weight?: number;
}

/** The providers of one generation, for routing and for `validate` checks. */
export interface ProviderCatalog {
  /** The provider's keys in YAML order (empty for a provider without keys). */
  credentials(provider: string): Credential[];
  providers(): string[];
  models(provider: string): ModelEntry[];
  /** `provider/model` or `provider,model` (as typed in Claude Code's /model) to a route target. */
  parseTarget(target: string): { provider: string; model: string } | undefined;
  /** Every provider that declares this model name. */
  findModel(model: string): Array<{ provider: string; model: string }>;
}

/** Handed to `create`. Everything a plugin may touch of the kernel comes through here. */
export interface PluginScope {
  /** The instance name: the provider's key, or the pipeline entry's `name` (default: its `use`). */
  readonly name: string;
  /** Where the instance sits in router.yaml, e.g. `pipeline[2]` or `providers.deepseek`. */
  readonly path: string;
  readonly log: Logger;
  /** Folder of the router.yaml being loaded; resolve relative files against it. */
  readonly configDir: string;
  /** Models declared for this provider (providers only; empty for other kinds). */
  readonly models: ModelEntry[];
  /** Whatever the instance this one replaces returned from `handover()`, if any. */
  readonly inherited: unknown;
  /** The generation's providers; complete by the time `provision` and `validate` run. */
  readonly catalog: ProviderCatalog;
  /**
   * A resource shared across generations and instances under one key (connection pools, stores).
   * Created on first use, disposed when the last generation using it is cleaned up.
   */
  shared<T>(key: string, create: () => T, dispose: (value: T) => void | Promise<void>): T;
  /** The kernel's token counter (worker threads and a per-block cache shared by every plugin). */
  readonly tokens: TokenCounting;
  /** The live configuration's plugin states, as `GET /admin/state` shows them (for monitors). */
  pluginStates(): PluginStateReport[];
}

/** A generation that has just gone live, as `activate` is told of it. */
export interface LiveGeneration {
  /** 1 for the first configuration, one more for each successful reload. */
  id: number;
  /** Its providers and their keys. */
  catalog: ProviderCatalog;
  /**
   * Whether `server.auth.keys` is set: the kernel then refuses requests without one of those keys,
   * so the key a request presents (`clientKey`) names a real client. Without it, anyone may send
   * any key at all.
   */
  clientAuth: boolean;
  /**
   * The generation this one replaced, now draining: requests pinned to it (`ctx.catalog` is its
   * catalog) that are still running at `drainDeadline` (epoch ms, `server.drain_timeout` from now)
   * will be aborted with RK_DRAIN_TIMEOUT. Undefined for the first generation.
   */
  replaced?: { catalog: ProviderCatalog; drainDeadline: number };
}

export interface PluginStateReport {
  /** The instance name (pipeline `name`, or its `use`). */
  name: string;
  /** The plugin id, e.g. `scheduler.scheduler`. */
  plugin: string;
  /** Where it sits in router.yaml, e.g. `pipeline[2]`. */
  at: string;
  state: unknown;
}

/**
 * Exact token counts, computed off the event loop and cached per block (see core/tokens). Call
 * `warm()` in `provision` when requests will need counts, so the first one does not wait for the
 * tokenizer to load.
 */
export interface TokenCounting {
  count(request: CanonicalRequest, options?: CountOptions): Promise<TokenCount>;
  countBlocks(blocks: RequestBlocks, options?: CountOptions): Promise<TokenCount>;
  /**
   * The same count as `countBlocks` on the parsed request, from the request body's bytes, parsing
   * only messages it has not seen before (a growing conversation costs its new turn). Undefined
   * when it cannot (a dialect other than Anthropic's, a body it cannot lay out): count the parsed
   * request then.
   */
  countBody(body: Buffer | Pick<RawRequest, 'bytes' | 'layout'>, options: CountOptions & { dialect: Dialect }): Promise<TokenCount | undefined>;
  warm(encoding?: Encoding): Promise<void>;
}

/**
 * An HTTP endpoint a plugin serves beside the model API (metrics, dashboards, admin actions).
 * Matched by exact method and path after the kernel's own endpoints; read once per generation.
 */
export interface PluginRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Exact path, e.g. `/metrics`. */
  path: string;
  /**
   * Who may call it: anyone (`public`), a holder of one of `server.auth.keys` (`client`: open when
   * no keys are set), or the holder of `server.admin_key` (`admin`, the default; refused when no
   * admin key is set).
   */
  access?: 'public' | 'client' | 'admin';
  /** Answer the request. A thrown error is answered in the OpenAI error shape with a request id. */
  handle(req: IncomingMessage, res: ServerResponse): void | Promise<void>;
}

interface InstanceHooks {
  /** Endpoints this instance serves; see PluginRoute. */
  routes?: PluginRoute[];
  /** Acquire resources (sockets, timers, workers). Throwing rejects the whole new generation. */
  provision?(): void | Promise<void>;
  /** Check the finished configuration (routes name real providers, ...). Throwing rejects it. */
  validate?(catalog: ProviderCatalog): void | Promise<void>;
  /**
   * Called on the instance being replaced when a reload creates its successor; the value becomes
   * the successor's `scope.inherited`. Must not tear anything down: if the new generation fails,
   * this instance keeps serving.
   */
  handover?(): unknown;
  /**
   * The generation holding this instance has gone live: called after the kernel swapped it in, on
   * every instance of that generation in YAML order, reused ones too (once per generation they
   * serve). Never called for a configuration that was rejected. This is where new settings are
   * applied to state shared with the generation being replaced (key pools, limits, queues):
   * `provision` and `validate` run while the configuration may still be rejected (by this plugin or
   * any other), so they must leave shared live state alone. A synchronous `activate` completes
   * before the generation's first request; an async one must accept requests arriving before it
   * settles. It should not fail: what it throws is logged and the generation stays live.
   */
  activate?(generation: LiveGeneration): void | Promise<void>;
  /** Release resources. Runs once, after the generation drained or after a failed provisioning. */
  cleanup?(): void | Promise<void>;
  /**
   * Live state for `GET /admin/state` (keys, queues, breakers, limiters): plain JSON, no secrets.
   * Called on the live generation's instances when an operator asks.
   */
  state?(): unknown;
}

/**
 * Middleware, schedulers and caches. `handle` runs once per request in YAML order on the way in
 * and in reverse on the way out. Throwing sends the error to the client in its dialect (unless
 * middleware earlier in the pipeline catches it from `next()`).
 */
export interface MiddlewareInstance extends InstanceHooks {
  handle?: Handler;
  /**
   * The scheduling class this instance gives a request in `handle` (a scheduler's rules: a header,
   * the route's reason), computed without setting anything, so that plugins earlier in the pipeline
   * can know it (`priorityOf(ctx)`, exported by `router-kernel`). Called per request, possibly several times: keep it pure and
   * cheap. Undefined: no opinion. Throwing fails the request that asked.
   */
  classify?(ctx: RequestContext): PriorityClass | undefined;
}

/** A terminal adapter to one upstream API. */
export interface ProviderInstance extends InstanceHooks {
  /**
   * Makes the upstream call for `ctx.request` to `call.model` (the upstream model id) and resolves
   * when the answer has begun: errors before the first byte reaches the client are thrown (as
   * RouterErrors) so retries and fallbacks can act on them. Called once per attempt.
   */
  invoke(ctx: RequestContext, call: ProviderCall): Promise<ProviderResponse>;
}

export interface ProviderCall {
  /** The model id to send upstream (after alias resolution). */
  model: string;
  route: Route;
}

export type PluginInstance = MiddlewareInstance | ProviderInstance;

export interface PluginDefinition<Options = any, Instance extends PluginInstance = PluginInstance> {
  /** Namespaced by kind: `provider.openai`, `middleware.router`, or your package name. */
  id: string;
  kind: PluginKind;
  version: string;
  description?: string;
  /** JSON Schema for the YAML options; checked (defaults applied) before anything is created. */
  schema?: JsonSchema;
  /**
   * Middleware that deliberately call `next()` again after it settled (retries, fallbacks) say so
   * here; for everyone else a second call is a bug and is refused.
   */
  reentrant?: boolean;
  /** Build an instance. No side effects here: acquire resources in `provision`. */
  create(options: Options, scope: PluginScope): Instance;
}

const kPlugin = Symbol.for('router-kernel.plugin');

export function definePlugin<Options = any, Instance extends PluginInstance = PluginInstance>(
  definition: PluginDefinition<Options, Instance>,
): PluginDefinition<Options, Instance> {
  if (typeof definition?.id !== 'string' || definition.id === '') throw new TypeError('definePlugin: `id` must be a non-empty string');
  if (!pluginKinds.includes(definition.kind)) throw new TypeError(`definePlugin(${definition.id}): \`kind\` must be one of ${pluginKinds.join(', ')}`);
  if (typeof definition.version !== 'string') throw new TypeError(`definePlugin(${definition.id}): \`version\` must be a string`);
  if (typeof definition.create !== 'function') throw new TypeError(`definePlugin(${definition.id}): \`create\` must be a function`);
  Object.defineProperty(definition, kPlugin, { value: true });
  return definition;
}

export function isPluginDefinition(value: unknown): value is PluginDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kPlugin] === true;
}

/**
 * Diagnostics channels the kernel publishes to (node:diagnostics_channel). Monitors subscribe in
 * `provision` and unsubscribe in `cleanup`; with no subscriber, publishing costs nothing.
 */
export const channels = {
  /** `{ ctx }` when a request enters the pipeline. */
  requestStart: 'router-kernel:request:start',
  /** `{ ctx, status, error?, usage?, durationMs }` when its answer has been fully written. */
  requestEnd: 'router-kernel:request:end',
  /** `{ ctx, feature }` for each loud downgrade. */
  dropped: 'router-kernel:dropped',
  /** `{ generation, ok, error?, durationMs }` after each reload attempt. */
  reload: 'router-kernel:reload',
} as const;
