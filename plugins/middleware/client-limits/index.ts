/**
 * client-limits: rate limits per router client, as token buckets for requests and tokens per
 * minute. A client is the key it presents (x-api-key or Authorization: Bearer) when that key means
 * something: one of `server.auth.keys` (the kernel has checked it) or one listed here. Without
 * `server.auth.keys` anyone may send any key, so an unlisted one, like none at all, is the shared
 * `anonymous` bucket: a client inventing a key per request cannot escape its limits, nor grow the
 * state without end (which is bounded by `max_clients` anyway, least recently seen dropped first). Admission reserves the request's estimated prompt tokens (body bytes / 4)
 * plus the output it asks for (`max_tokens`); when the answer ends, the reservation is replaced by
 * what the provider reported it used. A client over a limit gets 429 with retry-after at once.
 *
 *   pipeline:
 *     - use: client-limits
 *       with:
 *         default: { rpm: 60, tpm: 400000 }
 *         clients:
 *           - { key: "${TEAM_A_KEY}", name: team-a, rpm: 600, tpm: 4000000 }
 *     - use: router
 */
import { channel } from 'node:diagnostics_channel';
import { LRUCache } from 'lru-cache';
import { channels, clientKey, definePlugin, fingerprint, routerError, type MiddlewareInstance, type RequestContext, type Usage } from 'router-kernel';

interface Limits {
  rpm?: number;
  tpm?: number;
}

interface ClientLimitsOptions {
  default: Limits;
  clients: Array<Limits & { key: string; name?: string }>;
  max_clients: number;
}

/** A bucket refilling continuously at `perMinute`, holding at most a minute's worth; may go negative. */
class Bucket {
  #level: number;
  #at = Date.now();
  constructor(private perMinute: number) {
    this.#level = perMinute;
  }

  level(now = Date.now()): number {
    this.#level = Math.min(this.perMinute, this.#level + ((now - this.#at) / 60_000) * this.perMinute);
    this.#at = now;
    return this.#level;
  }

  /** Seconds until `amount` is available (0 if it is now). */
  waitFor(amount: number, now = Date.now()): number {
    const missing = Math.min(amount, this.perMinute) - this.level(now);
    return missing <= 0 ? 0 : Math.ceil((missing / this.perMinute) * 60);
  }

  take(amount: number): void {
    this.#level -= amount;
  }

  resize(perMinute: number): void {
    this.perMinute = perMinute;
  }
}

interface ClientState {
  requests?: Bucket;
  tokens?: Bucket;
  label: string;
  totals: { admitted: number; limited: number };
}

const reservationKey = Symbol.for('router-kernel.client-limits.reservation');
const limitsSchema = { type: 'object', additionalProperties: false, properties: { rpm: { type: 'integer', minimum: 1 }, tpm: { type: 'integer', minimum: 1 } } };

export default definePlugin<ClientLimitsOptions, MiddlewareInstance>({
  id: 'middleware.client-limits',
  kind: 'middleware',
  version: '1.0.0',
  description: 'Request and token rate limits per router client key.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      default: { ...limitsSchema, default: {}, description: 'limits for every client not listed (none: unlimited)' },
      clients: {
        type: 'array',
        default: [],
        items: { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string', minLength: 1 }, name: { type: 'string' }, ...limitsSchema.properties } },
      },
      max_clients: { type: 'integer', minimum: 1, default: 10_000, description: 'clients whose buckets are kept; the least recently seen go first' },
    },
  },
  create(options, scope) {
    const held = scope.shared('middleware.client-limits:states', () => ({ states: new LRUCache<string, ClientState>({ max: options.max_clients }) }), () => {});
    /** Whether the live configuration checks client keys (server.auth.keys); told by `activate`. */
    let clientAuth = false;
    const listed = new Map(options.clients.map((c) => [fingerprint(c.key), c]));
    const ended = channel(channels.requestEnd);
    const self = {};
    // The real usage replaces the reservation once the answer has ended (streams included). While a
    // reload drains, the old and new instances both listen: each settles only its own admissions.
    const onEnd = (message: unknown) => {
      const { ctx, usage, status } = message as { ctx: RequestContext; usage?: Usage; status: number };
      const reservation = ctx.state.get(reservationKey) as { owner: object; state: ClientState; tokens: number } | undefined;
      if (!reservation?.state.tokens || reservation.owner !== self) return;
      if (usage) reservation.state.tokens.take(usage.inputTokens + (usage.cacheReadTokens ?? 0) + (usage.cacheWriteTokens ?? 0) + usage.outputTokens - reservation.tokens);
      // No usage: a request that failed before answering gives its tokens back; an answer that was
      // delivered (a stream the client dropped before its usage) keeps the reservation.
      else if (status >= 400) reservation.state.tokens.take(-reservation.tokens);
    };

    function stateOf(id: string, label: string, limits: Limits): ClientState {
      let state = held.states.get(id);
      if (!state) held.states.set(id, (state = { label, totals: { admitted: 0, limited: 0 } }));
      // New YAML limits apply to existing buckets without refilling them.
      if (limits.rpm) state.requests ? state.requests.resize(limits.rpm) : (state.requests = new Bucket(limits.rpm));
      else delete state.requests;
      if (limits.tpm) state.tokens ? state.tokens.resize(limits.tpm) : (state.tokens = new Bucket(limits.tpm));
      else delete state.tokens;
      return state;
    }

    return {
      provision() {
        ended.subscribe(onEnd);
      },
      activate(generation) {
        clientAuth = generation.clientAuth;
        if (held.states.max === options.max_clients) return;
        // A new bound: keep the most recently seen clients' buckets.
        const resized = new LRUCache<string, ClientState>({ max: options.max_clients });
        for (const [id, state] of [...held.states.entries()].reverse()) resized.set(id, state);
        held.states = resized;
      },
      cleanup() {
        ended.unsubscribe(onEnd);
      },
      state: () =>
        Object.fromEntries(
          [...held.states.entries()].map(([id, s]) => [id, { client: s.label, requestsLeft: s.requests ? Math.floor(s.requests.level()) : null, tokensLeft: s.tokens ? Math.floor(s.tokens.level()) : null, totals: { ...s.totals } }]),
        ),

      async handle(ctx, next) {
        const presented = clientKey(ctx.raw.headers);
        const fingerprinted = presented ? fingerprint(presented) : undefined;
        const configured = fingerprinted ? listed.get(fingerprinted) : undefined;
        const id = fingerprinted && (configured || clientAuth) ? fingerprinted : 'anonymous';
        const limits = configured ?? options.default;
        if (!limits.rpm && !limits.tpm) return next();
        const state = stateOf(id, configured?.name ?? id, limits);
        const maxTokens = ctx.raw.field('max_tokens') ?? ctx.raw.field('max_completion_tokens');
        const tokens = Math.ceil(ctx.raw.size / 4) + (typeof maxTokens === 'number' ? maxTokens : 1024);
        const waitRequests = state.requests?.waitFor(1) ?? 0;
        const waitTokens = state.tokens?.waitFor(tokens) ?? 0;
        if (waitRequests > 0 || waitTokens > 0) {
          state.totals.limited++;
          const retryAfter = Math.max(waitRequests, waitTokens, 1);
          const err = routerError('RK_CLIENT_RATE_LIMITED', { limit: waitRequests >= waitTokens ? 'request' : 'token', rate: waitRequests >= waitTokens ? `${limits.rpm} per minute` : `${limits.tpm} tokens per minute`, retryAfter });
          err.retryAfter = retryAfter;
          throw err;
        }
        state.requests?.take(1);
        state.tokens?.take(tokens);
        state.totals.admitted++;
        ctx.state.set(reservationKey, { owner: self, state, tokens });
        await next();
      },
    };
  },
});
