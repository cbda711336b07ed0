/**
 * The one error catalog. Every error the router raises has a stable code, an HTTP status, a kind
 * (which each client dialect maps to its own error type) and a flag saying whether its message may
 * reach a client. `docs/errors.md` documents every entry; a test keeps the two in step.
 *
 *   throw routerError('RK_MODEL_NOT_FOUND', { model: 'gpt-9' })
 *
 * Errors carry a `Symbol.for` brand rather than relying on `instanceof`, because hot reload loads
 * plugin modules again and a plugin may hold a second copy of this module.
 */

export type ErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'request_too_large'
  | 'rate_limit'
  | 'api_error'
  | 'overloaded'
  | 'timeout';

interface CatalogEntry {
  status: number;
  kind: ErrorKind;
  /** May the message reach the client? Internal errors are replaced by a generic sentence. */
  expose: boolean;
  /** Message template; `{name}` placeholders are filled from the details object. */
  message: string;
}

export const errorCatalog = {
  RK_BAD_JSON: { status: 400, kind: 'invalid_request', expose: true, message: 'Request body is not valid JSON: {reason}' },
  RK_BAD_REQUEST: { status: 400, kind: 'invalid_request', expose: true, message: '{reason}' },
  RK_UNSUPPORTED_MEDIA_TYPE: { status: 415, kind: 'invalid_request', expose: true, message: 'Request body must be JSON (content-type: application/json), got {contentType}' },
  RK_BODY_TOO_LARGE: { status: 413, kind: 'request_too_large', expose: true, message: 'Request body exceeds the limit of {limit} bytes' },
  RK_UNAUTHORIZED: { status: 401, kind: 'authentication', expose: true, message: 'Missing or invalid API key for this router' },
  RK_FORBIDDEN: { status: 403, kind: 'permission', expose: true, message: '{reason}' },
  RK_NOT_FOUND: { status: 404, kind: 'not_found', expose: true, message: 'No endpoint {method} {path}' },
  RK_METHOD_NOT_ALLOWED: { status: 405, kind: 'invalid_request', expose: true, message: 'Method {method} is not allowed on {path}' },
  RK_MODEL_NOT_FOUND: { status: 404, kind: 'not_found', expose: true, message: 'No provider serves model "{model}"{hint}' },
  RK_NO_ROUTE: { status: 500, kind: 'api_error', expose: true, message: 'No route was chosen for this request: add a router to the pipeline or ask for "provider/model"' },
  RK_PROVIDER_NOT_FOUND: { status: 404, kind: 'not_found', expose: true, message: 'Route names provider "{provider}", which is not configured{hint}' },
  RK_UPSTREAM_ERROR: { status: 502, kind: 'api_error', expose: true, message: '{provider} answered {upstreamStatus}: {reason}' },
  RK_UPSTREAM_UNREACHABLE: { status: 502, kind: 'api_error', expose: true, message: 'Could not reach {provider}: {reason}' },
  RK_UPSTREAM_TIMEOUT: { status: 504, kind: 'timeout', expose: true, message: '{provider} did not answer in time ({reason})' },
  RK_UPSTREAM_BAD_RESPONSE: { status: 502, kind: 'api_error', expose: true, message: '{provider} sent a response the router could not read: {reason}' },
  RK_UPSTREAM_STREAM_ERROR: { status: 502, kind: 'api_error', expose: true, message: '{provider} failed mid-stream: {reason}' },
  RK_CLIENT_CLOSED: { status: 499, kind: 'api_error', expose: true, message: 'The client closed the connection' },
  RK_SHUTTING_DOWN: { status: 503, kind: 'overloaded', expose: true, message: 'The router is shutting down' },
  RK_DRAIN_TIMEOUT: { status: 503, kind: 'overloaded', expose: true, message: 'The request outlived the drain deadline ({timeout} ms) after the configuration it started on was replaced or the router stopped' },
  RK_TOO_DEEP: { status: 400, kind: 'invalid_request', expose: true, message: 'The request is nested too deeply to process' },
  RK_NEXT_CALLED_TWICE: { status: 500, kind: 'api_error', expose: false, message: 'Middleware "{plugin}" called next() more than once' },
  RK_PLUGIN_FAILED: { status: 500, kind: 'api_error', expose: false, message: 'Plugin "{plugin}" failed in {hook}: {reason}' },
  RK_RATE_LIMITED: { status: 429, kind: 'rate_limit', expose: true, message: 'Every key of {provider} is at its rate limit; waited {waited} s for one to free up' },
  RK_QUEUE_TIMEOUT: { status: 503, kind: 'overloaded', expose: true, message: '{provider} is busy; waited {waited} s in its queue' },
  RK_QUEUE_FULL: { status: 503, kind: 'overloaded', expose: true, message: "{provider}'s queue is full ({size} waiting)" },
  RK_NO_USABLE_KEY: { status: 503, kind: 'api_error', expose: true, message: 'Every key of {provider} is disabled or was refused by the provider; an operator must fix or enable one' },
  RK_CIRCUIT_OPEN: { status: 503, kind: 'overloaded', expose: true, message: '{target} is failing; requests to it are paused for {seconds} s' },
  RK_CLIENT_RATE_LIMITED: { status: 429, kind: 'rate_limit', expose: true, message: 'This client is over its {limit} limit ({rate}); retry after {retryAfter} s' },
  RK_TOKEN_COUNT_FAILED: { status: 500, kind: 'api_error', expose: true, message: 'Counting the request tokens failed: {reason}' },
  RK_INTERNAL: { status: 500, kind: 'api_error', expose: false, message: '{reason}' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof errorCatalog;

const kBrand = Symbol.for('router-kernel.error');

export interface RouterErrorFields {
  code: ErrorCode;
  status: number;
  kind: ErrorKind;
  expose: boolean;
  details: Record<string, unknown>;
}

export class RouterError extends Error implements RouterErrorFields {
  readonly code: ErrorCode;
  readonly status: number;
  readonly kind: ErrorKind;
  readonly expose: boolean;
  readonly details: Record<string, unknown>;
  /** Upstream `retry-after`, in seconds, when known; rendered as a response header. */
  retryAfter?: number;
  /**
   * For an upstream's HTTP error: its status and headers (rate-limit headroom, reset times), for key
   * pools. Never sent to the client.
   */
  upstream?: { status: number; headers: Record<string, string> };
  declare readonly [kBrand]: true;

  constructor(code: ErrorCode, details: Record<string, unknown> = {}, options?: { cause?: unknown; status?: number; kind?: ErrorKind }) {
    const entry: CatalogEntry = errorCatalog[code];
    super(fill(entry.message, details), options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RouterError';
    this.code = code;
    this.status = options?.status ?? entry.status;
    this.kind = options?.kind ?? entry.kind;
    this.expose = entry.expose;
    this.details = details;
    Object.defineProperty(this, kBrand, { value: true });
  }
}

export function routerError(code: ErrorCode, details?: Record<string, unknown>, options?: { cause?: unknown; status?: number; kind?: ErrorKind }): RouterError {
  return new RouterError(code, details, options);
}

export function isRouterError(value: unknown): value is RouterError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kBrand] === true;
}

/** Turns anything thrown into a RouterError; unknown errors become RK_INTERNAL and are not exposed. */
export function toRouterError(err: unknown): RouterError {
  if (isRouterError(err)) return err;
  if (isStackOverflow(err)) return routerError('RK_TOO_DEEP', {}, { cause: err });
  const reason = err instanceof Error ? err.message : String(err);
  return routerError('RK_INTERNAL', { reason }, { cause: err });
}

/**
 * JSON.parse accepts nesting that recursive code (stringify, schema walks) cannot follow; when that
 * overflows the stack, the request is at fault, not the plugin that happened to walk it.
 */
export function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && /call stack/i.test(err.message);
}

/** The message a client may see: the real one when exposed, a generic one otherwise. */
export function publicMessage(err: RouterError): string {
  return err.expose ? err.message : 'The router failed while handling this request; the log has details under the request id.';
}

function fill(template: string, details: Record<string, unknown>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => (details[name] === undefined ? '' : String(details[name])));
}
