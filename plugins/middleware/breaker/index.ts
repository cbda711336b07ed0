/**
 * breaker: a circuit breaker per provider and model. It opens after `consecutive` failures in a
 * row, or when at least `min_requests` of the last `window` requests ended and `error_ratio` of
 * them failed; while open, requests to that target fail at once (RK_CIRCUIT_OPEN, which the
 * fallback middleware treats as a reason to move on). After `cooldown` it lets `probes` requests
 * through (half-open): a probe's success closes it, a probe's failure opens it again. Only the
 * probes decide, and a request admitted under an earlier status (say, while closed, ending after
 * the circuit opened) moves nothing: it would restart the cooldown or close a circuit on old news.
 *
 * Failures are the provider's: network errors, timeouts and 5xx/529 answers before the first
 * byte. A 429 is a rate limit, not a fault (the scheduler handles those), and the client's own
 * errors never count.
 */
import { classifyFailure, definePlugin, parseDuration, routerError, type MiddlewareInstance } from 'router-kernel';

interface BreakerOptions {
  window: number;
  min_requests: number;
  error_ratio: number;
  consecutive: number;
  cooldown: number | string;
  probes: number;
  statuses: number[];
}

type Status = 'closed' | 'open' | 'half_open';

/**
 * What admission gave a request: the circuit's epoch then (it changes with every change of status)
 * and whether it is one of the half-open probes. Only a result of the current epoch moves the
 * circuit, and in half-open only a probe's: a request admitted while closed that ends after the
 * circuit opened says nothing about the provider now, and holds no probe slot to give back.
 */
interface Admission {
  epoch: number;
  probe: boolean;
}

class Circuit {
  status: Status = 'closed';
  #epoch = 0;
  #outcomes: boolean[] = [];
  #consecutive = 0;
  #openedAt = 0;
  probing = 0;
  readonly totals = { ok: 0, failed: 0, rejected: 0, opened: 0, ignoredLate: 0 };

  /** Whether a request may go through now (undefined: no); moves open → half-open once the cooldown has passed. */
  admit(cooldownMs: number, probes: number, now = Date.now()): Admission | undefined {
    if (this.status === 'open' && now - this.#openedAt >= cooldownMs) this.#become('half_open');
    if (this.status === 'closed') return { epoch: this.#epoch, probe: false };
    if (this.status === 'half_open' && this.probing < probes) {
      this.probing++;
      return { epoch: this.#epoch, probe: true };
    }
    this.totals.rejected++;
    return undefined;
  }

  /** An admitted request ended: ok, failed, or without a verdict on the provider (undefined: the client left, a 4xx, a 429). */
  settle(admission: Admission, ok: boolean | undefined, options: BreakerOptions): void {
    if (ok !== undefined) this.totals[ok ? 'ok' : 'failed']++;
    if (admission.epoch !== this.#epoch) {
      if (ok !== undefined) this.totals.ignoredLate++;
      return;
    }
    if (admission.probe) {
      if (ok === undefined) this.probing = Math.max(0, this.probing - 1); // its slot frees for another probe
      else this.#become(ok ? 'closed' : 'open');
      return;
    }
    if (ok === undefined) return;
    this.#outcomes.push(ok);
    if (this.#outcomes.length > options.window) this.#outcomes.shift();
    this.#consecutive = ok ? 0 : this.#consecutive + 1;
    const failures = this.#outcomes.filter((o) => !o).length;
    if (this.#consecutive >= options.consecutive || (this.#outcomes.length >= options.min_requests && failures / this.#outcomes.length >= options.error_ratio)) this.#become('open');
  }

  remainingMs(cooldownMs: number, now = Date.now()): number {
    return this.status === 'open' ? Math.max(0, cooldownMs - (now - this.#openedAt)) : 0;
  }

  snapshot(cooldownMs: number) {
    return {
      status: this.status,
      recent: { requests: this.#outcomes.length, failures: this.#outcomes.filter((o) => !o).length },
      consecutiveFailures: this.#consecutive,
      ...(this.status === 'open' ? { reopensInMs: this.remainingMs(cooldownMs) } : {}),
      ...(this.status === 'half_open' ? { probing: this.probing } : {}),
      totals: { ...this.totals },
    };
  }

  #become(status: Status): void {
    this.status = status;
    this.#epoch++;
    this.probing = 0;
    if (status === 'open') {
      this.#openedAt = Date.now();
      this.totals.opened++;
    }
    if (status === 'closed') {
      this.#outcomes = [];
      this.#consecutive = 0;
    }
  }
}

export default definePlugin<BreakerOptions, MiddlewareInstance>({
  id: 'middleware.breaker',
  kind: 'middleware',
  version: '1.0.0',
  description: 'A circuit breaker per provider and model.',
  reentrant: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      window: { type: 'integer', minimum: 1, default: 20, description: 'recent requests weighed' },
      min_requests: { type: 'integer', minimum: 1, default: 10, description: 'fewest recent requests before the ratio counts' },
      error_ratio: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.5 },
      consecutive: { type: 'integer', minimum: 1, default: 5, description: 'failures in a row that open the circuit' },
      cooldown: { type: ['integer', 'string'], format: 'duration', default: '30s' },
      probes: { type: 'integer', minimum: 1, default: 1, description: 'requests let through at once when half-open' },
      statuses: { type: 'array', items: { type: 'integer', minimum: 400, maximum: 599 }, default: [500, 502, 503, 504, 529], description: 'provider statuses that count as failures' },
    },
  },
  create(options, scope) {
    const circuits = scope.shared('middleware.breaker:circuits', () => new Map<string, Circuit>(), () => {});
    const cooldownMs = parseDuration(options.cooldown);

    return {
      state: () => Object.fromEntries([...circuits].map(([target, circuit]) => [target, circuit.snapshot(cooldownMs)])),

      async handle(ctx, next) {
        const route = ctx.route;
        if (!route) return next();
        const target = `${route.provider}/${route.model}`;
        let circuit = circuits.get(target);
        if (!circuit) circuits.set(target, (circuit = new Circuit()));
        const admission = circuit.admit(cooldownMs, options.probes);
        if (!admission) {
          const err = routerError('RK_CIRCUIT_OPEN', { target, seconds: Math.ceil(circuit.remainingMs(cooldownMs) / 1000) });
          err.retryAfter = Math.max(1, Math.ceil(circuit.remainingMs(cooldownMs) / 1000));
          throw err;
        }
        // Without the fallback middleware, the kernel itself may move a failing route to its next
        // target: an answer from elsewhere means this target failed.
        const movedOn = () => ctx.route !== undefined && (ctx.route.provider !== route.provider || ctx.route.model !== route.model);
        const settle = (ok: boolean | undefined) => {
          const was = circuit.status;
          circuit.settle(admission, ok, options);
          if (was !== 'open' && circuit.status === 'open') scope.log.warn({ target }, 'circuit opened');
          else if (was === 'half_open' && circuit.status === 'closed') scope.log.info({ target }, 'circuit closed');
        };
        try {
          await next();
        } catch (err) {
          const failure = classifyFailure(err);
          const counts = movedOn() || failure.kind === 'network' || failure.kind === 'timeout' || (failure.kind === 'upstream' && options.statuses.includes(failure.status ?? 0));
          // Anything else (a 4xx, a 429, the scheduler giving up, the client leaving) says nothing
          // about whether the provider is broken.
          settle(counts ? false : undefined);
          throw err;
        }
        settle(!movedOn());
      },
    };
  },
});
