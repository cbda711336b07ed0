/**
 * What kind of failure an error is, for retries, fallbacks and breakers, which must agree:
 *
 *   network     connection refused or reset, DNS failure (RK_UPSTREAM_UNREACHABLE)
 *   timeout     no headers or no body progress in time (RK_UPSTREAM_TIMEOUT)
 *   upstream    the provider answered with an error status (`status` is its own: 429, 500, 529 …),
 *               over HTTP or as the first event of a stream
 *   capacity    the router's own admission gave up: every key limited, queue full or timed out,
 *               no usable key, a circuit open (another provider may still serve)
 *   client      the request itself is at fault, or the client left: never worth another try
 *   other       anything else (a plugin bug)
 */
import { isRouterError } from '../errors.ts';

export type FailureKind = 'network' | 'timeout' | 'upstream' | 'capacity' | 'client' | 'other';

export interface Failure {
  kind: FailureKind;
  /** The provider's HTTP status, for `upstream` failures. */
  status?: number;
  /** Seconds the provider (or the router's admission) asked to wait, when known. */
  retryAfter?: number;
}

const capacity = new Set(['RK_RATE_LIMITED', 'RK_QUEUE_TIMEOUT', 'RK_QUEUE_FULL', 'RK_NO_USABLE_KEY', 'RK_CIRCUIT_OPEN']);

export function classifyFailure(err: unknown): Failure {
  if (!isRouterError(err)) return { kind: 'other' };
  const retryAfter = err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {};
  switch (err.code) {
    case 'RK_UPSTREAM_UNREACHABLE':
      return { kind: 'network', ...retryAfter };
    case 'RK_UPSTREAM_TIMEOUT':
      return { kind: 'timeout', ...retryAfter };
    case 'RK_UPSTREAM_ERROR':
    case 'RK_UPSTREAM_STREAM_ERROR': {
      const status = err.upstream?.status ?? (typeof err.details.upstreamStatus === 'number' ? err.details.upstreamStatus : err.status);
      return { kind: 'upstream', status, ...retryAfter };
    }
    case 'RK_CLIENT_CLOSED':
    case 'RK_SHUTTING_DOWN':
    case 'RK_DRAIN_TIMEOUT':
      return { kind: 'client' };
    default:
      if (capacity.has(err.code)) return { kind: 'capacity', ...retryAfter };
      return err.status < 500 ? { kind: 'client' } : { kind: 'other' };
  }
}

/** The statuses retries and fallbacks act on by default: overloaded, rate-limited or failing. */
export const transientStatuses: readonly number[] = [408, 409, 429, 500, 502, 503, 504, 529];
