/**
 * What a failed attempt says about the key it used, wherever the provider put it:
 *
 *   rate-limited   a 429, over HTTP or as the first event of a 200 stream (OpenRouter, Anthropic
 *                  `rate_limit_error`); how long to rest comes from the headers, else from the
 *                  body's retry delay (Gemini's RetryInfo, which the kernel reads into retryAfter)
 *   refused        401, 402, 403, or Gemini's 400 INVALID_ARGUMENT with reason API_KEY_INVALID,
 *                  which the kernel reports as a 502 because it is the router's key at fault
 *   other          any other answer of this provider: only its headers' headroom is news
 *
 * Undefined when the failure is not this provider's answer (a network failure, another provider
 * the request fell back to, the client leaving).
 */
import { classifyFailure, isRouterError } from 'router-kernel';
import { headroomOf, type Headroom } from './rate-limit-headers.ts';

export type KeyVerdict = { kind: 'rate-limited'; headroom: Headroom } | { kind: 'refused'; reason: string } | { kind: 'other'; headroom: Headroom };

export function keyVerdict(err: unknown, provider: string, now = Date.now()): KeyVerdict | undefined {
  if (!isRouterError(err) || err.details.provider !== provider) return undefined;
  const failure = classifyFailure(err);
  if (failure.kind !== 'upstream') return undefined;
  const headroom = headroomOf(err.upstream?.headers ?? {}, now);
  if (headroom.retryAt === undefined && err.retryAfter !== undefined) headroom.retryAt = now + err.retryAfter * 1000;
  if (failure.status === 429) return { kind: 'rate-limited', headroom };
  const upstreamStatus = err.upstream?.status;
  if (upstreamStatus === 401 || upstreamStatus === 402 || upstreamStatus === 403) return { kind: 'refused', reason: `provider answered ${upstreamStatus}` };
  // upstreamHttpError keeps a 400 a 400 (the client's mistake) unless it recognised a refused key.
  if (upstreamStatus === 400 && err.status === 502) return { kind: 'refused', reason: 'provider answered 400: the API key is not valid' };
  return err.upstream ? { kind: 'other', headroom } : undefined;
}
