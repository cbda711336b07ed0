/**
 * What a provider's response headers say about a key's headroom:
 *
 *   OpenAI, Groq, DeepSeek, xAI, Mistral …   x-ratelimit-remaining-requests: 9999
 *                                            x-ratelimit-limit-requests: 10000
 *                                            x-ratelimit-reset-requests: 6m0s   (a duration)
 *   Anthropic                                anthropic-ratelimit-requests-remaining: 3999
 *                                            anthropic-ratelimit-tokens-reset: 2025-11-04T22:50:55Z
 *   anyone, with a 429 or 503                retry-after: 5   (seconds, or an HTTP date)
 *
 * Values that are not numbers or times (some recordings redact them) are ignored.
 */
export interface Headroom {
  remainingRequests?: number;
  remainingTokens?: number;
  /** The allowances those are left of (`x-ratelimit-limit-*`), when the provider says. */
  requestsLimit?: number;
  tokensLimit?: number;
  /** Epoch ms when the request / token allowance refills. */
  requestsResetAt?: number;
  tokensResetAt?: number;
  /** Epoch ms before which the provider asked not to be called again. */
  retryAt?: number;
}

export function headroomOf(headers: Record<string, string>, now = Date.now()): Headroom {
  const out: Headroom = {};
  const number = (name: string) => {
    const value = headers[name];
    if (value === undefined || value.trim() === '') return undefined;
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  };
  // The tightest allowance, and the limit it is left of.
  const tightest = (...pairs: Array<[string, string]>) => {
    let best: { remaining: number; limit?: number } | undefined;
    for (const [remaining, limit] of pairs) {
      const left = number(remaining);
      if (left !== undefined && (best === undefined || left < best.remaining)) best = { remaining: left, limit: number(limit) };
    }
    return best;
  };
  const requests = tightest(['x-ratelimit-remaining-requests', 'x-ratelimit-limit-requests'], ['anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-limit']);
  if (requests !== undefined) {
    out.remainingRequests = requests.remaining;
    if (requests.limit) out.requestsLimit = requests.limit;
  }
  const tokens = tightest(['x-ratelimit-remaining-tokens', 'x-ratelimit-limit-tokens'], ['anthropic-ratelimit-tokens-remaining', 'anthropic-ratelimit-tokens-limit'], ['anthropic-ratelimit-input-tokens-remaining', 'anthropic-ratelimit-input-tokens-limit']);
  if (tokens !== undefined) {
    out.remainingTokens = tokens.remaining;
    if (tokens.limit) out.tokensLimit = tokens.limit;
  }
  const requestsReset = timeOf(headers['x-ratelimit-reset-requests'], now) ?? timeOf(headers['anthropic-ratelimit-requests-reset'], now);
  if (requestsReset !== undefined) out.requestsResetAt = requestsReset;
  const tokensReset = timeOf(headers['x-ratelimit-reset-tokens'], now) ?? timeOf(headers['anthropic-ratelimit-tokens-reset'], now) ?? timeOf(headers['anthropic-ratelimit-input-tokens-reset'], now);
  if (tokensReset !== undefined) out.tokensResetAt = tokensReset;
  const retry = headers['retry-after'];
  if (retry !== undefined) {
    const seconds = Number(retry);
    const at = Number.isFinite(seconds) ? now + seconds * 1000 : Date.parse(retry);
    if (Number.isFinite(at)) out.retryAt = at;
  }
  return out;
}

/** `6m0s`, `1.5s`, `20ms`, `1h2m3s` (OpenAI's durations), or an ISO/HTTP date. */
function timeOf(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(text)) {
    let ms = 0;
    for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) ms += Number(amount) * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1);
    return now + ms;
  }
  if (/^\d+(\.\d+)?$/.test(text)) return now + Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isFinite(date) ? date : undefined;
}
