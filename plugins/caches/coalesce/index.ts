/**
 * coalesce: identical requests in flight at the same time share one upstream call. The first is
 * sent; the others wait for its answer and receive it too: a complete answer as is, a stream fanned
 * out to every client (one that joins late first receives what was already streamed, then follows
 * live). A client that leaves does not cancel the others; the upstream call is aborted only when
 * every client has gone.
 *
 *   pipeline:
 *     - use: router
 *     - use: coalesce            # before fallback and retry: the shared call includes them
 *       with: { mode: deterministic }
 *     - use: fallback
 *     - use: retry
 *
 * Identical means the same body (or, once a plugin changed the request, the same canonical
 * request), dialect, endpoint and route. Only requests whose answer does not depend on chance
 * share by default (`deterministic`: temperature 0 or top_k 1, or opted in with the header);
 * `always` shares every identical request; `header` only those that opt in. The header's value
 * `off` opts out.
 */
import { createHash } from 'node:crypto';
import { definePlugin, priorityOf, routerError, type MiddlewareInstance, type ProviderResponse, type RequestContext, type Route, type StreamEvent } from 'router-kernel';
import { Broadcast } from './broadcast.ts';

interface CoalesceOptions {
  mode: 'deterministic' | 'always' | 'header';
  header: string;
}

interface Shared {
  response: ProviderResponse;
  /** Runs `listener` as the answer ends, before readers are woken (at once if it has). */
  onEnd(listener: () => void): void;
  /**
   * The same answer for one more client, from the start; `onLeave` when that client stops reading.
   * Its reading fails with the reason once `client` (its client's signal) aborts.
   */
  subscribe(onLeave: () => void, client: AbortSignal): ProviderResponse;
}

type Head = { shared: Shared; route: Route | undefined };

/**
 * The clients waiting on one upstream call. The flight is forgotten (`forget`: out of the map of
 * flights) the moment it can no longer serve a newcomer: when it failed, when its answer ended, or
 * when every client left before that (abandoned: the upstream call is aborted).
 */
class Flight {
  readonly #clients = new Set<object>();
  #settled = false;
  #head: Promise<Head>;
  #resolve!: (value: Head) => void;
  #reject!: (err: unknown) => void;
  abandoned = false;

  constructor(
    private readonly upstream: AbortController,
    private readonly forget: () => void,
    private readonly onAbandon: () => void,
  ) {
    this.#head = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#head.catch(() => {});
  }

  get head(): Promise<Head> {
    return this.#head;
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** A client joins; the returned function is how it leaves (idempotent). Its leaving is watched. */
  join(signal: AbortSignal): () => void {
    const token = {};
    this.#clients.add(token);
    const leave = () => {
      signal.removeEventListener('abort', leave);
      if (!this.#clients.delete(token)) return;
      // The last client gone before the answer ended: nobody wants it any more, and nobody new may
      // join a call that is being aborted.
      if (this.#clients.size === 0 && !this.#settled) {
        this.#settled = true;
        this.abandoned = true;
        this.forget();
        this.onAbandon();
        this.upstream.abort(new Error('every client waiting for this answer has gone'));
      }
    };
    if (signal.aborted) queueMicrotask(leave);
    else signal.addEventListener('abort', leave, { once: true });
    return leave;
  }

  resolve(shared: Shared, route: Route | undefined): void {
    // Settled the moment the answer ends, before any reader hears of it, so the readers leaving
    // after the end cannot look like the last client giving up.
    shared.onEnd(() => {
      this.#settled = true;
      this.forget();
    });
    this.#resolve({ shared, route });
  }

  fail(err: unknown): void {
    this.#settled = true;
    this.forget();
    this.#reject(err);
  }
}

export default definePlugin<CoalesceOptions, MiddlewareInstance>({
  id: 'cache.coalesce',
  kind: 'cache',
  version: '1.0.0',
  description: 'Identical requests in flight share one upstream call; streams are fanned out.',
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      mode: { enum: ['deterministic', 'always', 'header'], default: 'deterministic' },
      header: { type: 'string', default: 'x-router-coalesce', description: 'per-request opt in (on) or out (off)' },
    },
  },
  create(options, scope) {
    const flights = scope.shared('cache.coalesce:flights', () => new Map<string, Flight>(), () => {});
    // Since start: kept across reloads like the flights.
    const stats = scope.shared('cache.coalesce:stats', () => ({ leaders: 0, followers: 0, abandoned: 0 }), () => {});

    return {
      state: () => ({ inFlight: flights.size, waiting: [...flights.values()].reduce((n, f) => n + f.clients, 0), totals: { ...stats } }),

      async handle(ctx, next) {
        if (!ctx.route || !eligible(ctx, options)) return next();
        const key = keyOf(ctx);
        const existing = flights.get(key);
        if (existing) return follow(ctx, existing);

        // The first of its kind: its upstream call now belongs to every client that joins.
        const { upstream, client } = ctx.detachUpstream();
        const flight: Flight = new Flight(
          upstream,
          () => flights.get(key) === flight && flights.delete(key),
          () => stats.abandoned++,
        );
        flights.set(key, flight);
        stats.leaders++;
        const leave = flight.join(client);
        let shared: Shared;
        try {
          await next();
          if (!ctx.response) throw routerError('RK_INTERNAL', { reason: 'the pipeline after coalesce finished without an answer' });
          shared = share(ctx.response);
        } catch (err) {
          // Whatever went wrong (the call failed, a plugin after this one threw or left no answer),
          // every client waiting on this call hears the same, and the next request starts afresh.
          flight.fail(err);
          leave();
          throw err;
        }
        flight.resolve(shared, ctx.route);
        ctx.response = shared.subscribe(leave, client);
        ctx.setHeader('x-router-coalesced', 'leader');
        // This client left while the call was being made: the others are served; its own outcome
        // is that it left, not a 200 nobody read.
        if (client.aborted) throw client.reason;
      },
    };

    async function follow(ctx: RequestContext, flight: Flight): Promise<void> {
      stats.followers++;
      const leave = flight.join(ctx.signal);
      let head: Head;
      try {
        head = await untilAborted(flight.head, ctx.signal);
      } catch (err) {
        leave();
        throw err; // the shared attempt failed (this client gets the same error), or its client left
      }
      if (head.route) ctx.route = head.route;
      ctx.response = head.shared.subscribe(leave, ctx.signal);
      ctx.setHeader('x-router-coalesced', 'follower');
    }
  },
});

/** `promise`, or the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (err) => (signal.removeEventListener('abort', onAbort), reject(err)),
    );
  });
}

function eligible(ctx: RequestContext, options: CoalesceOptions): boolean {
  // Node gives incoming header names in lower case; YAML may spell them any way.
  const asked = ctx.raw.headers[options.header.toLowerCase()];
  const value = (Array.isArray(asked) ? asked[0] : asked)?.toLowerCase();
  if (value === 'off' || value === 'false' || value === '0') return false;
  if (value === 'on' || value === 'true' || value === '1') return true;
  if (options.mode === 'always') return true;
  if (options.mode === 'header') return false;
  // Deterministic settings: the same request gets the same answer, so sharing it changes nothing.
  return ctx.raw.field('temperature') === 0 || ctx.raw.field('top_k') === 1;
}

/** Request headers a provider passes on (they change what it answers), so they are part of identity. */
const forwarded = ['anthropic-beta', 'anthropic-version', 'openai-beta'];

function keyOf(ctx: RequestContext): string {
  const hash = createHash('sha1');
  // The priority class too, as the scheduler later in the pipeline will set it (not yet set here):
  // an urgent request must not wait behind a batch one it happens to match.
  hash.update(`${ctx.dialect}\n${ctx.endpoint}\n${ctx.route!.provider}/${ctx.route!.model}\n${priorityOf(ctx)}\n`);
  for (const name of forwarded) {
    const value = ctx.raw.headers[name];
    if (value !== undefined) hash.update(`${name}: ${Array.isArray(value) ? value.join(',') : value}\n`);
  }
  // The client's bytes when nothing changed them (cheap); the canonical request when a plugin did.
  if (ctx.rawStale) hash.update(JSON.stringify(ctx.request));
  else hash.update(ctx.raw.bytes);
  return hash.digest('base64');
}

function share(response: ProviderResponse): Shared {
  if (response.kind === 'message') return { response, onEnd: (listener) => listener(), subscribe: (onLeave) => (queueMicrotask(onLeave), response) };
  if (response.kind === 'stream') {
    const broadcast = new Broadcast<StreamEvent>(response.events);
    return { response, onEnd: (listener) => broadcast.onEnd(listener), subscribe: (onLeave, client) => ({ ...response, events: broadcast.subscribe(onLeave, client) }) };
  }
  const broadcast = new Broadcast<Uint8Array>(response.body);
  return { response, onEnd: (listener) => broadcast.onEnd(listener), subscribe: (onLeave, client) => ({ ...response, body: broadcast.subscribe(onLeave, client) }) };
}
