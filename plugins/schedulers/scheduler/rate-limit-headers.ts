/**
 * What a provider's response headers say about a key's headroom:
 *
 *   OpenAI, Groq, DeepSeek, xAI, Mistral …   x-ratelimit-remaining-requests: 9999
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
  const minimum = (...values: Array<number | undefined>) => {
    const known = values.filter((v): v is number => v !== undefined);
    return known.length ? Math.min(...known) : undefined;
  };
  const requests = minimum(number('x-ratelimit-remaining-requests'), number('anthropic-ratelimit-requests-remaining'));
  if (requests !== undefined) out.remainingRequests = requests;
  const tokens = minimum(number('x-ratelimit-remaining-tokens'), number('anthropic-ratelimit-tokens-remaining'), number('anthropic-ratelimit-input-tokens-remaining'));
  if (tokens !== undefined) out.remainingTokens = tokens;
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
