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
import { channels, definePlugin, fingerprint, registerSecret, isRouterError, parseDuration, priorityClasses, routerError, type Credential, type MiddlewareInstance, type PluginRoute, type ProviderCatalog, type PriorityClass, type ProviderResponse, type RequestContext, type StreamEvent, type Usage } from 'router-kernel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProviderPool, type Lease, type PoolSettings, type Strategy } from './provider-pool.ts';
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
  priority: { header: string; by_reason: Record<string, PriorityClass> };
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
          header: { type: 'string', default: 'x-router-priority', description: 'request header naming the class' },
          by_reason: { type: 'object', additionalProperties: { enum: priorityClasses }, default: { background: 'low' }, description: 'route reason → class' },
        },
      },
      providers: { type: 'object', default: {}, additionalProperties: { type: 'object', additionalProperties: false, properties: providerProperties } },
    },
  },
  create(options, scope) {
    const pools = scope.shared<Pools>('scheduler.scheduler:pools', () => new Map(), () => {});
    const overrides = scope.shared('scheduler.scheduler:overrides', () => new Map<string, number | undefined>(), () => {});
    const cooldownMs = parseDuration(options.cooldown);
    /** The newest configuration's providers (a reused instance keeps the scope of an older one). */
    let latest: ProviderCatalog = scope.catalog;
    const ended = channel(channels.requestEnd);
    // A backstop: an answer that was never read to its end (a later plugin threw it away) still
    // gives its slot back when the request ends.
    const onEnd = (message: unknown) => {
      for (const lease of ((message as { ctx: RequestContext }).ctx.state.get(leaseKey) as Lease[] | undefined) ?? []) lease.release(undefined);
    };

    function settingsFor(provider: string): PoolSettings {
      const own = options.providers[provider] ?? {};
      const wait = { ...options.max_wait, ...own.max_wait };
      return {
        strategy: own.strategy ?? options.strategy,
        // An operator's runtime change holds until the scheduler's own options change.
        concurrency: overrides.has(provider) ? overrides.get(provider) : (own.concurrency ?? options.concurrency),
        maxQueue: own.queue?.max_size ?? options.queue.max_size,
        maxWaitMs: Object.fromEntries(priorityClasses.map((c) => [c, parseDuration(wait[c] as Duration)])) as Record<PriorityClass, number>,
        agingMs: Math.max(1, parseDuration(options.aging)),
      };
    }

    /**
     * The provider's pool, brought up to date with the generation serving the request: an instance
     * whose own options did not change is reused by a reload, while the providers' keys may have.
     */
    const applied = new Map<string, Credential[]>();
    function poolFor(provider: string, catalog: ProviderCatalog = latest): ProviderPool {
      const credentials = catalog.credentials(provider);
      let pool = pools.get(provider);
      if (!pool) {
        pool = new ProviderPool(provider, credentials, settingsFor(provider));
        pools.set(provider, pool);
      } else if (applied.get(provider) !== credentials) {
        pool.reconfigure(credentials, settingsFor(provider));
      }
      applied.set(provider, credentials);
      return pool;
    }

    const routes: PluginRoute[] = [
      { method: 'POST', path: '/admin/keys', handle: (req, res) => adminKeys(req, res) },
      { method: 'POST', path: '/admin/scheduler', handle: (req, res) => adminScheduler(req, res) },
    ];

    return {
      routes,

      validate(catalog) {
        latest = catalog;
        for (const name of Object.keys(options.providers)) {
          if (!catalog.providers().includes(name)) throw new Error(`providers.${name}: no provider "${name}" is configured (providers: ${catalog.providers().join(', ')})`);
        }
      },

      provision() {
        // A new instance means new options: runtime overrides made under the old ones end here.
        overrides.clear();
        ended.subscribe(onEnd);
        // A reload applies new keys and limits to the pools in place (state kept).
        for (const provider of pools.keys()) if (scope.catalog.providers().includes(provider)) poolFor(provider, scope.catalog);
      },

      cleanup() {
        ended.unsubscribe(onEnd);
      },

      state() {
        const out: Record<string, unknown> = {};
        for (const [provider, pool] of pools) {
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

      async handle(ctx, next) {
        const route = ctx.route;
        if (!route) return next();
        classify(ctx);
        latest = ctx.catalog;
        const pool = poolFor(route.provider, ctx.catalog);
        const estimate = estimateTokens(ctx);
        const refused = new Set<string>();
        // One wait for the whole request, however many keys it tries: a provider answering 429
        // again and again must not start the clock over each time.
        const deadline = Math.min(ctx.deadline ?? Infinity, Date.now() + pool.settings.maxWaitMs[ctx.priority]);
        const leases = leasesOf(ctx);
        for (let switches = 0; ; switches++) {
          const lease = await pool.acquire(ctx.priority, estimate, ctx.signal, deadline, refused);
          leases.push(lease);
          ctx.credential = lease.key?.credential;
          try {
            await next();
          } catch (err) {
            lease.release(undefined);
            // Only this provider's own answer says anything about this key (the kernel may have
            // fallen back to another provider's target without this scheduler).
            const upstream = isRouterError(err) && err.details.provider === route.provider ? err.upstream : undefined;
            if (!lease.key || !upstream || ctx.signal.aborted || switches >= 2 * pool.keys.length + 2) throw err;
            if (upstream.status === 429) {
              // That key rests until the provider's reset; the request tries another (or waits).
              lease.key.coolDown(headroomOf(upstream.headers), cooldownMs);
              scope.log.warn({ provider: route.provider, key: lease.key.id }, 'key rate-limited by the provider; cooling down and moving on');
              pool.poke();
              continue;
            }
            if (upstream.status === 401 || upstream.status === 402 || upstream.status === 403) {
              lease.key.quarantine(`provider answered ${upstream.status}`);
              refused.add(lease.key.id);
              scope.log.error({ provider: route.provider, key: lease.key.id, status: upstream.status }, 'provider refused a key; quarantined until an operator enables it');
              continue;
            }
            lease.key.learn(headroomOf(upstream.headers));
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

    function classify(ctx: RequestContext): void {
      const asked = ctx.raw.headers[options.priority.header];
      const value = Array.isArray(asked) ? asked[0] : asked;
      if (value && (priorityClasses as readonly string[]).includes(value)) ctx.priority = value as PriorityClass;
      else if (ctx.priority === 'normal' && ctx.route) {
        const byReason = options.priority.by_reason[ctx.route.reason];
        if (byReason) ctx.priority = byReason;
      }
    }

    async function adminKeys(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const body = (await readJson(req)) as { provider?: string; key?: string; action?: string; new_key?: string; name?: string };
      const pool = body.provider && latest.providers().includes(body.provider) ? poolFor(body.provider) : undefined;
      if (!pool) throw routerError('RK_BAD_REQUEST', { reason: `provider: must name a configured provider (${latest.providers().join(', ')})` });
      if (body.action === 'rotate') {
        if (typeof body.new_key !== 'string' || body.new_key === '') throw routerError('RK_BAD_REQUEST', { reason: 'new_key: the key to add' });
        // Scrubbed from upstream errors and logs like the keys in router.yaml.
        registerSecret(body.new_key);
        const credential = { id: fingerprint(body.new_key), key: body.new_key, ...(body.name ? { name: body.name } : {}) };
        const old = pool.keys.find((k) => k.id === body.key);
        const kept = pool.keys.filter((k) => k.id !== body.key).map((k) => k.credential);
        pool.reconfigure([...kept, { ...(old ? stripId(old.credential) : {}), ...credential }], pool.settings);
        scope.log.info({ provider: pool.provider, removed: old?.id, added: credential.id }, 'key rotated');
        return reply(res, { provider: pool.provider, added: credential.id, removed: old?.id ?? null, note: 'until router.yaml changes too, a reload restores its keys' });
      }
      const key = pool.keys.find((k) => k.id === body.key);
      if (!key) throw routerError('RK_BAD_REQUEST', { reason: `key: must be a key id of ${pool.provider} (${pool.keys.map((k) => k.id).join(', ')})` });
      if (body.action !== 'disable' && body.action !== 'enable') throw routerError('RK_BAD_REQUEST', { reason: 'action: disable, enable or rotate' });
      key.setDisabled(body.action === 'disable');
      pool.poke();
      scope.log.info({ provider: pool.provider, key: key.id, action: body.action }, `key ${body.action}d by an operator`);
      reply(res, key.snapshot());
    }

    async function adminScheduler(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const body = (await readJson(req)) as { provider?: string; concurrency?: number | null };
      if (!body.provider || !latest.providers().includes(body.provider)) throw routerError('RK_BAD_REQUEST', { reason: `provider: must name a configured provider (${latest.providers().join(', ')})` });
      if (body.concurrency !== null && (!Number.isInteger(body.concurrency) || (body.concurrency as number) < 1)) throw routerError('RK_BAD_REQUEST', { reason: 'concurrency: a whole number from 1, or null for no limit' });
      overrides.set(body.provider, body.concurrency ?? undefined);
      const pool = poolFor(body.provider);
      // Queued requests stay queued: they are admitted under the new limit as slots free.
      pool.settings = settingsFor(body.provider);
      pool.poke();
      scope.log.info({ provider: body.provider, concurrency: body.concurrency }, "concurrency changed by an operator (until the scheduler's options in router.yaml change)");
      reply(res, { provider: body.provider, concurrency: body.concurrency ?? null, queued: pool.queued, inflight: pool.inflight });
    }
  },
});

const leaseKey = Symbol.for('router-kernel.scheduler.leases');

function leasesOf(ctx: RequestContext): Lease[] {
  let leases = ctx.state.get(leaseKey) as Lease[] | undefined;
  if (!leases) ctx.state.set(leaseKey, (leases = []));
  return leases;
}

function stripId<T extends { id: string; key: string }>(credential: T): Omit<T, 'id' | 'key'> {
  const { id: _id, key: _key, ...rest } = credential;
  return rest;
}

/**
 * What a request will cost a key's token allowance, reserved at admission and reconciled with the
 * real usage at the end: ~4 bytes a token for the body, plus the output it may ask for.
 */
function estimateTokens(ctx: RequestContext): number {
  const maxTokens = ctx.raw.field('max_tokens') ?? ctx.raw.field('max_completion_tokens');
  return Math.ceil(ctx.raw.body.length / 4) + (typeof maxTokens === 'number' ? Math.min(maxTokens, 32_000) : 1024);
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
        try {
          yield* body;
        } finally {
          // A client that left early: usage may never settle; free the slot now.
          setTimeout(() => lease.release(undefined), 0);
        }
      })(),
    };
  }
  const events = response.events;
  return {
    ...response,
    events: (async function* (): AsyncGenerator<StreamEvent> {
      let usage: Usage | undefined;
      try {
        for await (const event of events) {
          if (event.type === 'finish') usage = event.usage;
          yield event;
        }
      } finally {
        lease.release(tokensOf(usage));
      }
    })(),
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
