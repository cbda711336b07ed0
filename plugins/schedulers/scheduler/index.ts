/**
 * scheduler: admission for every provider. Spreads requests over each provider's keys (its YAML
 * `keys`, each with its own rpm / tpm / concurrency / weight), keeps every key inside its limits
 * and inside the headroom the provider's rate-limit headers report, moves a request to another key
 * when one answers 429 (that key rests until its reset) or refuses the key (401/402/403: the key is
 * quarantined), limits requests in flight per provider (`concurrency: 1` is sequential mode), and
 * makes requests wait for capacity in priority order instead of failing, up to their deadline.
 *
 *   pipeline:
 *     - use: router
 *     - use: scheduler
 *       with:
 *         strategy: least_loaded
 *         providers:
 *           deepseek: { concurrency: 1 }            # sequential mode
 *
 * Place it after the router (it schedules the chosen provider) and inside retry and fallback, so
 * that each attempt is admitted on its own. Its state (usage, cooldowns, quarantines, queues) lives
 * across reloads; `GET /admin/state` shows it; the admin endpoints below change it at runtime.
 */
import { channel } from 'node:diagnostics_channel';
import { channels, definePlugin, EventStream, fingerprint, registerSecret, parseDuration, priorityClasses, routerError, type Credential, type MiddlewareInstance, type PluginRoute, type ProviderCatalog, type PriorityClass, type ProviderResponse, type RequestContext, type Usage } from 'router-kernel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProviderPool, type Lease, type PoolSettings, type Strategy } from './provider-pool.ts';
import { keyVerdict } from './key-verdict.ts';
import { headroomOf } from './rate-limit-headers.ts';

type Duration = number | string;

interface ProviderOptions {
  strategy?: Strategy;
  concurrency?: number;
  queue?: { max_size?: number };
  max_wait?: Partial<Record<PriorityClass, Duration>>;
}

interface SchedulerOptions extends ProviderOptions {
  strategy: Strategy;
  queue: { max_size: number };
  max_wait: Record<PriorityClass, Duration>;
  aging: Duration;
  cooldown: Duration;
  priority: { header: string; header_max: PriorityClass; by_reason: Record<string, PriorityClass> };
  providers: Record<string, ProviderOptions>;
}

const duration = { type: ['integer', 'string'], format: 'duration' };
const strategies = ['round_robin', 'least_loaded', 'least_recently_used', 'weighted', 'priority'];
const waits = { type: 'object', additionalProperties: false, properties: Object.fromEntries(priorityClasses.map((c) => [c, duration])) };
const providerProperties = {
  strategy: { enum: strategies },
  concurrency: { type: 'integer', minimum: 1, description: 'most requests in flight for the provider (1: sequential mode)' },
  queue: { type: 'object', additionalProperties: false, properties: { max_size: { type: 'integer', minimum: 0 } } },
  max_wait: waits,
};

/** The sessions of one process: pools outlive reloads (usage, cooldowns and queues carry over). */
type Pools = Map<string, ProviderPool>;

/** An operator's runtime concurrency, with the router.yaml value it replaced. */
interface Override {
  concurrency: number | undefined;
  configured: number | undefined;
}

export default definePlugin<SchedulerOptions, MiddlewareInstance>({
  id: 'scheduler.scheduler',
  kind: 'scheduler',
  version: '1.0.0',
  description: 'Key pools, per-provider concurrency (sequential mode) and priority queues.',
  reentrant: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...providerProperties,
      strategy: { enum: strategies, default: 'least_loaded' },
      queue: { type: 'object', additionalProperties: false, default: {}, properties: { max_size: { type: 'integer', minimum: 0, default: 1000 } } },
      max_wait: { ...waits, default: {}, properties: Object.fromEntries(priorityClasses.map((c) => [c, { ...duration, default: { critical: '5m', high: '3m', normal: '2m', low: '1m', batch: '10m' }[c] }])) },
      aging: { ...duration, default: '15s', description: 'a waiting request moves up one class for every this long it has waited' },
      cooldown: { ...duration, default: '10s', description: 'rest for a key that answered 429 without saying until when' },
      priority: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          header: { type: 'string', default: 'x-router-priority', description: 'request header naming the class (any letter case)' },
          header_max: { enum: priorityClasses, default: 'high', description: 'the highest class a request may claim by header (any client can send it); higher claims get this one' },
          by_reason: { type: 'object', additionalProperties: { enum: priorityClasses }, default: { background: 'low' }, description: 'route reason → class' },
        },
      },
      providers: { type: 'object', default: {}, additionalProperties: { type: 'object', additionalProperties: false, properties: providerProperties } },
    },
  },
  create(options, scope) {
    const pools = scope.shared<Pools>('scheduler.scheduler:pools', () => new Map(), () => {});
    const overrides = scope.shared('scheduler.scheduler:overrides', () => new Map<string, Override>(), () => {});
    /** Generations being drained (by catalog) → when their queued requests must have been answered. */
    const retiring = scope.shared('scheduler.scheduler:retiring', () => new WeakMap<ProviderCatalog, number>(), () => {});
    const cooldownMs = parseDuration(options.cooldown);
    // Node gives incoming header names in lower case; YAML may spell them any way.
    const priorityHeader = options.priority.header.toLowerCase();
    const headerMax = priorityClasses.indexOf(options.priority.header_max);
    /** The live configuration's providers (set when a generation holding this instance goes live). */
    let live: ProviderCatalog = scope.catalog;
    const ended = channel(channels.requestEnd);
    // A backstop: an answer nobody began to read (a later plugin threw it away) still gives its
    // slot back when the request ends. One being read keeps it until the reading ends: a coalesced
    // answer is read on for other clients after the request that asked for it has ended.
    const onEnd = (message: unknown) => {
      for (const lease of ((message as { ctx: RequestContext }).ctx.state.get(leaseKey) as Lease[] | undefined) ?? []) if (!reading.has(lease)) lease.release(undefined);
    };

    /** The provider's concurrency as router.yaml sets it (an operator's override aside). */
    function configuredConcurrency(provider: string): number | undefined {
      return options.providers[provider]?.concurrency ?? options.concurrency;
    }

    function settingsFor(provider: string): PoolSettings {
      const own = options.providers[provider] ?? {};
      const wait = { ...options.max_wait, ...own.max_wait };
      const override = overrides.get(provider);
      return {
        strategy: own.strategy ?? options.strategy,
        concurrency: override ? override.concurrency : configuredConcurrency(provider),
        maxQueue: own.queue?.max_size ?? options.queue.max_size,
        maxWaitMs: Object.fromEntries(priorityClasses.map((c) => [c, parseDuration(wait[c] as Duration)])) as Record<PriorityClass, number>,
        agingMs: Math.max(1, parseDuration(options.aging)),
      };
    }

    /** The provider's pool; made on first use (a reload applies new keys and settings in `activate`). */
    function poolFor(provider: string, catalog: ProviderCatalog): ProviderPool {
      let pool = pools.get(provider);
      if (!pool) pools.set(provider, (pool = new ProviderPool(provider, catalog.credentials(provider), settingsFor(provider))));
      return pool;
    }

    const routes: PluginRoute[] = [
      { method: 'POST', path: '/admin/keys', handle: (req, res) => adminKeys(req, res) },
      { method: 'POST', path: '/admin/scheduler', handle: (req, res) => adminScheduler(req, res) },
    ];

    return {
      routes,

      // Checks only: this configuration may still be rejected, so the live pools stay as they are.
      validate(catalog) {
        for (const name of Object.keys(options.providers)) {
          if (!catalog.providers().includes(name)) throw new Error(`providers.${name}: no provider "${name}" is configured (providers: ${catalog.providers().join(', ')})`);
        }
      },

      provision() {
        ended.subscribe(onEnd);
      },

      activate(generation) {
        live = generation.catalog;
        // An operator's runtime concurrency holds until router.yaml changes that provider's setting.
        for (const [provider, override] of overrides) {
          if (configuredConcurrency(provider) === override.configured) continue;
          overrides.delete(provider);
          scope.log.info({ provider, concurrency: configuredConcurrency(provider) ?? null }, 'router.yaml changed the concurrency an operator had set at runtime; the YAML value applies');
        }
        // New keys and limits apply to the pools in place: usage, cooldowns and queues carry over.
        for (const provider of live.providers()) {
          const pool = pools.get(provider);
          if (pool) pool.reconfigure(live.credentials(provider), settingsFor(provider));
          else poolFor(provider, live);
        }
        // Requests queued on the replaced configuration stay queued (under the new settings), but
        // its drain deadline will cut them off: answer them, with retry-after, a moment before.
        if (generation.replaced) {
          const until = Math.max(Date.now(), generation.replaced.drainDeadline - drainMargin);
          retiring.set(generation.replaced.catalog, until);
          for (const pool of pools.values()) pool.shorten(generation.replaced.catalog, until);
        }
      },

      cleanup() {
        ended.unsubscribe(onEnd);
      },

      state() {
        const out: Record<string, unknown> = {};
        for (const [provider, pool] of pools) {
          // A provider the live configuration dropped shows only while requests still use it.
          if (!live.providers().includes(provider) && pool.inflight === 0 && pool.queued === 0) continue;
          out[provider] = {
            strategy: pool.settings.strategy,
            concurrency: pool.settings.concurrency ?? null,
            inflight: pool.inflight,
            queued: pool.queueByClass(),
            totals: { ...pool.stats },
            keys: pool.keys.map((k) => k.snapshot()),
          };
        }
        return out;
      },

      // The same answer handle() acts on, for plugins before this one (coalescing keys on it).
      classify: (ctx) => (ctx.route ? classOf(ctx) : undefined),

      async handle(ctx, next) {
        const route = ctx.route;
        if (!route) return next();
        ctx.priority = classOf(ctx);
        const pool = poolFor(route.provider, ctx.catalog);
        const estimate = estimateTokens(ctx);
        const refused = new Set<string>();
        // One wait for the whole request, however many keys it tries: a provider answering 429
        // again and again must not start the clock over each time.
        const deadline = Math.min(ctx.deadline ?? Infinity, Date.now() + pool.settings.maxWaitMs[ctx.priority], retiring.get(ctx.catalog) ?? Infinity);
        const leases = leasesOf(ctx);
        for (let switches = 0; ; switches++) {
          const lease = await pool.acquire(ctx.priority, estimate, ctx.signal, deadline, refused, ctx.catalog);
          leases.push(lease);
          ctx.credential = lease.key?.credential;
          try {
            await next();
          } catch (err) {
            lease.release(undefined);
            // Only this provider's own answer says anything about this key (the kernel may have
            // fallen back to another provider's target without this scheduler).
            const verdict = keyVerdict(err, route.provider);
            if (!lease.key || !verdict || ctx.signal.aborted || switches >= 2 * pool.keys.length + 2) throw err;
            if (verdict.kind === 'rate-limited') {
              // That key rests until the provider's reset; the request tries another (or waits).
              lease.key.coolDown(verdict.headroom, cooldownMs);
              scope.log.warn({ provider: route.provider, key: lease.key.id }, 'key rate-limited by the provider; cooling down and moving on');
              pool.poke();
              continue;
            }
            if (verdict.kind === 'refused') {
              lease.key.quarantine(verdict.reason);
              refused.add(lease.key.id);
              scope.log.error({ provider: route.provider, key: lease.key.id, reason: verdict.reason }, 'provider refused a key; quarantined until an operator enables it');
              continue;
            }
            lease.key.learn(verdict.headroom);
            throw err;
          } finally {
            ctx.credential = undefined;
          }
          if (lease.key && ctx.response?.upstream && ctx.route?.provider === route.provider) lease.key.learn(headroomOf(ctx.response.upstream.headers));
          // The slot is held until the answer has been read to its end (a stream holds it
          // throughout); requestEnd releases it too, should the answer never be read.
          if (ctx.response) ctx.response = releasing(ctx.response, lease);
          else lease.release(undefined);
          return;
        }
      },
    };

    /**
     * The request's class: the one its header names (at most `header_max`: anyone can send the
     * header), else its route's reason's, else as it is.
     */
    function classOf(ctx: RequestContext): PriorityClass {
      const asked = ctx.raw.headers[priorityHeader];
      const claimed = priorityClasses.indexOf((Array.isArray(asked) ? asked[0] : asked)?.trim().toLowerCase() as PriorityClass);
      if (claimed !== -1) return priorityClasses[Math.max(claimed, headerMax)];
      if (ctx.priority === 'normal' && ctx.route) return options.priority.by_reason[ctx.route.reason] ?? ctx.priority;
      return ctx.priority;
    }

    async function adminKeys(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const body = (await readJson(req)) as { provider?: string; key?: string; action?: string; new_key?: string; name?: string };
      const pool = body.provider && live.providers().includes(body.provider) ? poolFor(body.provider, live) : undefined;
      if (!pool) throw routerError('RK_BAD_REQUEST', { reason: `provider: must name a configured provider (${live.providers().join(', ')})` });
      const key = pool.keys.find((k) => k.id === body.key);
      if (!key) throw routerError('RK_BAD_REQUEST', { reason: `key: must be a key id of ${pool.provider} (${pool.keys.map((k) => k.id).join(', ')})` });
      if (body.action === 'rotate') {
        if (typeof body.new_key !== 'string' || body.new_key === '') throw routerError('RK_BAD_REQUEST', { reason: 'new_key: the key to put in its place' });
        // Shorter strings are not scrubbed from text (they would match too much): such a key could
        // leak through an upstream error that quotes it. No real API key is that short.
        if (body.new_key.length < minSecretLength) throw routerError('RK_BAD_REQUEST', { reason: `new_key: an API key of at least ${minSecretLength} characters` });
        // Scrubbed from upstream errors and logs like the keys in router.yaml.
        registerSecret(body.new_key);
        const fresh = { id: fingerprint(body.new_key), key: body.new_key, ...(body.name ? { name: body.name } : {}) };
        pool.rotate(key.id, fresh);
        scope.log.info({ provider: pool.provider, removed: key.id, added: fresh.id }, 'key rotated');
        return reply(res, { provider: pool.provider, added: fresh.id, removed: key.id, note: 'holds until router.yaml stops listing the key it replaced; put the new key in router.yaml too' });
      }
      if (body.action !== 'disable' && body.action !== 'enable') throw routerError('RK_BAD_REQUEST', { reason: 'action: disable, enable or rotate' });
      key.setDisabled(body.action === 'disable');
      pool.poke();
      scope.log.info({ provider: pool.provider, key: key.id, action: body.action }, `key ${body.action}d by an operator`);
      reply(res, key.snapshot());
    }

    async function adminScheduler(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const body = (await readJson(req)) as { provider?: string; concurrency?: number | null };
      if (!body.provider || !live.providers().includes(body.provider)) throw routerError('RK_BAD_REQUEST', { reason: `provider: must name a configured provider (${live.providers().join(', ')})` });
      if (body.concurrency !== null && (!Number.isInteger(body.concurrency) || (body.concurrency as number) < 1)) throw routerError('RK_BAD_REQUEST', { reason: 'concurrency: a whole number from 1, or null for no limit' });
      // Remembered with the YAML value it overrides, so that a reload can tell whether YAML changed it.
      overrides.set(body.provider, { concurrency: body.concurrency ?? undefined, configured: configuredConcurrency(body.provider) });
      const pool = poolFor(body.provider, live);
      // Queued requests stay queued: they are admitted under the new limit as slots free.
      pool.settings = settingsFor(body.provider);
      pool.poke();
      scope.log.info({ provider: body.provider, concurrency: body.concurrency }, 'concurrency changed by an operator (until router.yaml changes this setting)');
      reply(res, { provider: body.provider, concurrency: body.concurrency ?? null, queued: pool.queued, inflight: pool.inflight });
    }
  },
});

const leaseKey = Symbol.for('router-kernel.scheduler.leases');
/** The shortest secret the kernel scrubs from logs and upstream errors (registerSecret ignores shorter). */
const minSecretLength = 8;
/** How long before a drain deadline the requests queued on that generation are answered. */
const drainMargin = 1000;
/** Leases whose answer is being read: they are released when the reading ends, however it ends. */
const reading = new WeakSet<Lease>();

function leasesOf(ctx: RequestContext): Lease[] {
  let leases = ctx.state.get(leaseKey) as Lease[] | undefined;
  if (!leases) ctx.state.set(leaseKey, (leases = []));
  return leases;
}

/**
 * What a request will cost a key's token allowance, reserved at admission and reconciled with the
 * real usage at the end: ~4 bytes a token for the body, plus the output it may ask for.
 */
function estimateTokens(ctx: RequestContext): number {
  const maxTokens = ctx.raw.field('max_tokens') ?? ctx.raw.field('max_completion_tokens');
  return Math.ceil(ctx.raw.size / 4) + (typeof maxTokens === 'number' ? Math.min(maxTokens, 32_000) : 1024);
}

function tokensOf(usage: Usage | undefined): number | undefined {
  return usage ? usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0) + usage.outputTokens : undefined;
}

/** The same answer, releasing its lease (with the real usage) once it has been read to the end. */
function releasing(response: ProviderResponse, lease: Lease): ProviderResponse {
  if (response.kind === 'message') {
    lease.release(tokensOf(response.message.usage));
    return response;
  }
  if (response.kind === 'passthrough') {
    void response.usage.then((usage) => lease.release(tokensOf(usage)), () => lease.release(undefined));
    // A complete answer (one buffer) is already read: it keeps its content-length.
    if (Array.isArray(response.body)) return response;
    const body = response.body;
    return {
      ...response,
      body: (async function* () {
        reading.add(lease);
        try {
          yield* body;
        } finally {
          // A client that left early: usage may never settle; free the slot now.
          setTimeout(() => lease.release(undefined), 0);
        }
      })(),
    };
  }
  let usage: Usage | undefined;
  return {
    ...response,
    events: EventStream.of(response.events).observe({
      begin: () => reading.add(lease),
      event: (event) => {
        if (event.type === 'finish') usage = event.usage;
      },
      end: () => lease.release(tokensOf(usage)),
    }),
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += chunk;
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    throw routerError('RK_BAD_JSON', { reason: 'the admin request body is not JSON' });
  }
}

function reply(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
