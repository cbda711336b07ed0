/**
 * Upstream failures → catalog errors a client can act on. An upstream's HTTP error keeps its
 * meaning (429 stays a rate limit with its retry-after, 400 stays the client's mistake) except
 * credential failures: a provider rejecting the ROUTER's key is reported as a 502, so a client like
 * Claude Code does not conclude that its own key is wrong.
 */
import type { StreamError } from '../canonical.ts';
import { routerError, type ErrorKind, type RouterError } from '../errors.ts';

export function upstreamHttpError(provider: string, status: number, bodyText: string, headers: Record<string, string | string[] | undefined>, secrets: readonly string[] = []): RouterError {
  const reason = scrubSecrets(errorMessageOf(bodyText) ?? `HTTP ${status}`, secrets);
  const details = googleDetails(bodyText);
  // Google reports a bad key as 400 INVALID_ARGUMENT with reason API_KEY_INVALID: the router's key.
  const [clientStatus, kind] = details.badKey ? [502, 'api_error' as ErrorKind] : mapStatus(status);
  const err = routerError('RK_UPSTREAM_ERROR', { provider, upstreamStatus: status, reason }, { status: clientStatus, kind });
  const retryAfter = retryAfterSeconds(headers['retry-after']) ?? details.retryAfter;
  if (retryAfter !== undefined) err.retryAfter = retryAfter;
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  // Not enumerable: kept out of log lines, read by key pools.
  Object.defineProperty(err, 'upstream', { value: { status, headers: flat }, enumerable: false });
  return err;
}

/** What Google's error `details` say: a retry delay (RetryInfo) and whether the key was refused. */
function googleDetails(bodyText: string): { retryAfter?: number; badKey?: boolean } {
  if (!bodyText.includes('type.googleapis.com/google.rpc.')) return {};
  try {
    const parsed = JSON.parse(bodyText) as unknown;
    const error = ((Array.isArray(parsed) ? parsed[0] : parsed) as { error?: { details?: unknown[] } }).error;
    const out: { retryAfter?: number; badKey?: boolean } = {};
    for (const detail of error?.details ?? []) {
      const d = detail as { '@type'?: string; retryDelay?: string; reason?: string };
      if (d['@type']?.endsWith('google.rpc.RetryInfo') && typeof d.retryDelay === 'string') {
        const seconds = Number.parseFloat(d.retryDelay);
        if (Number.isFinite(seconds)) out.retryAfter = Math.ceil(seconds);
      }
      if (d['@type']?.endsWith('google.rpc.ErrorInfo') && (d.reason === 'API_KEY_INVALID' || d.reason === 'API_KEY_SERVICE_BLOCKED')) out.badKey = true;
    }
    return out;
  } catch {
    return {};
  }
}

/** The status and kind a client sees for an upstream's HTTP status. */
export function mapStatus(status: number): [number, ErrorKind] {
  if (status === 400 || status === 422) return [400, 'invalid_request'];
  if (status === 401 || status === 402 || status === 403) return [502, 'api_error'];
  if (status === 404) return [404, 'not_found'];
  if (status === 408) return [504, 'timeout'];
  if (status === 413) return [413, 'request_too_large'];
  if (status === 429) return [429, 'rate_limit'];
  if (status === 503 || status === 529) return [status, 'overloaded'];
  if (status === 504) return [504, 'timeout'];
  return [502, 'api_error'];
}

/** The human message inside any of the error envelopes providers use. */
export function errorMessageOf(bodyText: string): string | undefined {
  const text = bodyText.trim();
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    const body = Array.isArray(parsed) ? parsed[0] : parsed; // Gemini sometimes wraps errors in an array
    const error = (body as { error?: unknown })?.error;
    if (typeof error === 'string') return error;
    if (error && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
    if (typeof (body as { message?: unknown })?.message === 'string') return (body as { message: string }).message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.length > 500 ? text.slice(0, 500) + '…' : text;
}

export function retryAfterSeconds(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Replaces any configured secret (and its tail, as some providers echo `sk-...abcd`) in text. */
/**
 * Keys that came into use after the providers were built (an operator rotating a key in at
 * runtime): scrubbed everywhere, like the keys in router.yaml.
 */
const runtimeSecrets = new Set<string>();

export function registerSecret(secret: string): void {
  if (secret.length >= 8) runtimeSecrets.add(secret);
}

/** A provider's own keys and every key registered at runtime. */
export function secretsWith(secrets: readonly string[]): readonly string[] {
  return runtimeSecrets.size === 0 ? secrets : [...secrets, ...runtimeSecrets];
}

export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secretsWith(secrets)) {
    if (secret.length < 8) continue;
    out = out.split(secret).join('[redacted]');
    const tail = secret.slice(-4);
    out = out.replace(new RegExp(`[A-Za-z0-9_-]*\\*+[A-Za-z0-9_-]*${tail.replace(/[^A-Za-z0-9]/g, '\\$&')}`, 'g'), '[redacted]');
  }
  return out;
}

/**
 * An error the upstream reported inside a stream, made safe and meaningful for the client the same
 * way as an HTTP error: secrets scrubbed, credential failures turned into 502s.
 */
export function upstreamStreamError(error: StreamError, secrets: readonly string[]): StreamError {
  const out: StreamError = { kind: error.kind, message: scrubSecrets(error.message, secrets) };
  if (error.status !== undefined) {
    const [status, kind] = mapStatus(error.status);
    out.status = status;
    out.kind = kind;
  }
  return out;
}

/** A network-level failure (undici error codes) → catalog error. */
export function upstreamNetworkError(provider: string, err: unknown, signal?: AbortSignal): RouterError {
  const e = err as { code?: string; name?: string; message?: string };
  if (signal?.aborted || e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED') return routerError('RK_CLIENT_CLOSED', {}, { cause: err });
  const reason = e.code ? `${e.code}${e.message ? `: ${e.message}` : ''}` : (e.message ?? String(err));
  if (e.code === 'UND_ERR_CONNECT_TIMEOUT' || e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') {
    return routerError('RK_UPSTREAM_TIMEOUT', { provider, reason, networkCode: e.code }, { cause: err });
  }
  return routerError('RK_UPSTREAM_UNREACHABLE', { provider, reason, networkCode: e.code }, { cause: err });
}
