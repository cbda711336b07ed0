/**
 * retry: tries the same route again when it fails before answering (nothing has reached the client
 * yet), after exponential backoff with full jitter, or after the `retry-after` the provider asked
 * for. A retry budget bounds retries to a share of recent requests, so that in an outage retries
 * cannot multiply the load on a provider that is already down.
 *
 *   pipeline:
 *     - use: router
 *     - use: fallback
 *     - use: retry
 *       with: { attempts: 3, base_delay: 500ms, max_delay: 20s }
 *     - use: scheduler
 */
import { classifyFailure, definePlugin, parseDuration, transientStatuses, type MiddlewareInstance } from 'router-kernel';

interface RetryOptions {
  attempts: number;
  base_delay: number | string;
  max_delay: number | string;
  statuses: number[];
  network: boolean;
  budget: { ratio: number; min_per_second: number };
}

/** Requests and retries of the last 10 s, per process, across reloads. */
class Budget {
  #events: Array<{ at: number; retry: boolean }> = [];

  record(retry: boolean, now = Date.now()): void {
    this.#events.push({ at: now, retry });
    this.#trim(now);
  }

  allows(ratio: number, minPerSecond: number, now = Date.now()): boolean {
    this.#trim(now);
    const requests = this.#events.filter((e) => !e.retry).length;
    const retries = this.#events.length - requests;
    return retries < Math.max(minPerSecond * 10, ratio * requests);
  }

  snapshot(now = Date.now()) {
    this.#trim(now);
    const retries = this.#events.filter((e) => e.retry).length;
    return { requests: this.#events.length - retries, retries, windowSeconds: 10 };
  }

  #trim(now: number): void {
    let drop = 0;
    while (drop < this.#events.length && this.#events[drop].at < now - 10_000) drop++;
    if (drop > 0) this.#events.splice(0, drop);
  }
}

const duration = { type: ['integer', 'string'], format: 'duration' };

export default definePlugin<RetryOptions, MiddlewareInstance>({
  id: 'middleware.retry',
  kind: 'middleware',
  version: '1.0.0',
  description: 'Retries a route that fails before answering, with backoff, jitter and a budget.',
  reentrant: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      attempts: { type: 'integer', minimum: 1, maximum: 10, default: 3, description: 'tries in all, the first included' },
      base_delay: { ...duration, default: '500ms' },
      max_delay: { ...duration, default: '20s', description: 'longest wait; a retry-after beyond it is not waited for' },
      statuses: { type: 'array', items: { type: 'integer', minimum: 400, maximum: 599 }, default: [...transientStatuses] },
      network: { type: 'boolean', default: true, description: 'retry connection failures and timeouts' },
      budget: {
        type: 'object',
        additionalProperties: false,
        default: {},
        properties: {
          ratio: { type: 'number', minimum: 0, default: 0.2, description: 'retries allowed per request over the last 10 s' },
          min_per_second: { type: 'number', minimum: 0, default: 1, description: 'retries always allowed per second' },
        },
      },
    },
  },
  create(options, scope) {
    const budget = scope.shared('middleware.retry:budget', () => new Budget(), () => {});
    const base = parseDuration(options.base_delay);
    const cap = parseDuration(options.max_delay);
    // Since start: kept across reloads like the budget.
    const stats = scope.shared('middleware.retry:stats', () => ({ retried: 0, gaveUp: 0, budgetExhausted: 0 }), () => {});

    return {
      state: () => ({ ...budget.snapshot(), ...stats }),

      async handle(ctx, next) {
        budget.record(false);
        for (let attempt = 1; ; attempt++) {
          try {
            await next();
            if (attempt > 1) ctx.setHeader('x-router-attempts', String(attempt));
            return;
          } catch (err) {
            const failure = classifyFailure(err);
            const transient = failure.kind === 'upstream' ? options.statuses.includes(failure.status ?? 0) : options.network && (failure.kind === 'network' || failure.kind === 'timeout');
            if (!transient || attempt >= options.attempts || ctx.signal.aborted) throw err;
            // Full jitter (AWS's backoff advice): anywhere up to the exponential step.
            const step = Math.min(cap, base * 2 ** (attempt - 1));
            const asked = failure.retryAfter !== undefined ? failure.retryAfter * 1000 : 0;
            const delay = Math.max(Math.random() * step, asked);
            if (asked > cap || (ctx.deadline !== undefined && Date.now() + delay > ctx.deadline)) {
              stats.gaveUp++;
              throw err;
            }
            if (!budget.allows(options.budget.ratio, options.budget.min_per_second)) {
              stats.budgetExhausted++;
              ctx.log.warn({ attempt }, 'retry budget exhausted; not retrying');
              throw err;
            }
            budget.record(true);
            stats.retried++;
            ctx.log.info({ attempt, delayMs: Math.round(delay), failure }, 'retrying after a transient failure');
            await sleep(delay, ctx.signal);
          }
        }
      },
    };
  },
});

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
