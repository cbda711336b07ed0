/**
 * The HTTP client providers use to reach their upstream: one dispatcher (keep-alive pools per
 * origin, see dispatcher.ts) per set of connection settings, shared across reloads through
 * `scope.shared`, so a reload never drops warm connections. Failures come back as catalog errors.
 *
 *   const http = upstreamClient(scope, { baseUrl: 'https://api.deepseek.com/v1' });
 *   const res = await http.request({ path: '/chat/completions', headers, body, signal: ctx.signal });
 */
import { isIP } from 'node:net';
import type { Dispatcher } from 'undici';
import type { PluginScope } from '../contract.ts';
import { routerError } from '../errors.ts';
import { bodyMemory } from '../body-memory.ts';
import { decodeText } from '../json-bytes.ts';
import { createDispatcher, type DispatcherSettings } from './dispatcher.ts';
import { UpstreamBody, type BodyController } from './upstream-body.ts';
import { upstreamHttpError, upstreamNetworkError } from './upstream-error.ts';

export interface UpstreamClientOptions {
  baseUrl: string;
  /** Name used in error messages (default: the scope's name). */
  provider?: string;
  /** Most connections kept to this origin. */
  connections?: number;
  connectTimeout?: number;
  /** Time allowed until response headers arrive (a model's time-to-first-token counts here). */
  headersTimeout?: number;
  /** Longest silence allowed between two body chunks. */
  bodyTimeout?: number;
  keepAliveTimeout?: number;
  /** Offer HTTP/2 (over TLS, negotiated by ALPN). */
  http2?: boolean;
  /** Cache DNS lookups (default true). */
  dnsCache?: boolean;
  /** A proxy URL, false for none, or 'env' (default) to follow HTTPS_PROXY / HTTP_PROXY / NO_PROXY. */
  proxy?: string | false | 'env';
  /** PEM file of a CA to trust (self-hosted upstreams with their own certificates). */
  caFile?: string;
  /** Skip certificate verification (for tests and trusted networks only). */
  insecure?: boolean;
  /** Values to scrub from upstream error messages (the provider's own keys). */
  secrets?: readonly string[];
}

export interface UpstreamRequest {
  /** Appended to the base URL's path. */
  path: string;
  method?: 'GET' | 'POST';
  headers: Record<string, string>;
  /** One buffer or string, or chunks sent in order (with their total as content-length). */
  body?: string | Buffer | readonly Buffer[];
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  /** Read it once: iterate the chunks, or take it whole with `text()`, `json()`, `bytes()`. */
  body: UpstreamBody;
}

export interface UpstreamClient {
  readonly origin: string;
  /** The provider's own keys, to scrub from anything the upstream says before a client sees it. */
  readonly secrets: readonly string[];
  /** Resolves once headers arrive with a 2xx status; other statuses throw the mapped error. */
  request(req: UpstreamRequest): Promise<UpstreamResponse>;
}

export function upstreamClient(scope: PluginScope, options: UpstreamClientOptions): UpstreamClient {
  const url = new URL(options.baseUrl);
  const basePath = url.pathname.replace(/\/+$/, '');
  const provider = options.provider ?? scope.name;
  const settings: DispatcherSettings = {
    connections: options.connections ?? 64,
    connectTimeout: options.connectTimeout ?? 10_000,
    headersTimeout: options.headersTimeout ?? 600_000,
    bodyTimeout: options.bodyTimeout ?? 300_000,
    keepAliveTimeout: options.keepAliveTimeout ?? 60_000,
    http2: options.http2 ?? false,
    // An address needs no lookup: skipping the DNS interceptor saves ~7 µs a request to local models.
    dnsCache: (options.dnsCache ?? true) && isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0,
    proxy: options.proxy ?? 'env',
    insecure: options.insecure ?? false,
    ...(options.caFile ? { caFile: options.caFile } : {}),
  };
  const dispatcher = scope.shared(`undici:${JSON.stringify(settings)}`, () => createDispatcher(settings), (d) => d.close());

  return {
    origin: url.origin,
    secrets: options.secrets ?? [],
    request(req: UpstreamRequest): Promise<UpstreamResponse> {
      return new Promise((resolve, reject) => {
        const signal = req.signal;
        if (signal?.aborted) return reject(upstreamNetworkError(provider, signal.reason, signal));
        let controller: BodyController | undefined;
        let abortedEarly: Error | undefined;
        const onAbort = () => {
          const reason = signal?.reason instanceof Error ? signal.reason : Object.assign(new Error('the request was aborted'), { name: 'AbortError' });
          if (controller) controller.abort(reason);
          else abortedEarly = reason;
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        // A body sent as views of a pooled request body keeps that memory from reuse until undici is
        // done with it (core/body-memory.ts); over HTTP/2 it is never reused.
        const unpin = bodyMemory.pin(req.body, settings.http2);
        const settled = (clean = false) => {
          signal?.removeEventListener('abort', onAbort);
          unpin?.(clean);
        };
        let status = 0;
        let headers: Record<string, string> = {};
        let body: UpstreamBody | undefined;
        /** An error status's body, kept for the error message. */
        const failure: Buffer[] = [];
        const handler: Dispatcher.DispatchHandler = {
          onRequestStart(c) {
            controller = c as unknown as BodyController;
            if (abortedEarly) c.abort(abortedEarly);
          },
          onResponseStart(c, statusCode, responseHeaders) {
            status = statusCode;
            headers = flattenHeaders(responseHeaders as Record<string, string | string[] | undefined>);
            if (statusCode >= 200 && statusCode < 300) {
              body = new UpstreamBody(c as unknown as BodyController);
              resolve({ status, headers, body });
            }
          },
          onResponseData(_c, chunk) {
            if (body) body.push(chunk);
            else failure.push(chunk);
          },
          onResponseEnd() {
            settled(body !== undefined);
            if (body) body.end();
            else reject(upstreamHttpError(provider, status, decodeText(Buffer.concat(failure)), headers, options.secrets));
          },
          onResponseError(_c, err) {
            settled();
            if (body) body.fail(err);
            else reject(upstreamNetworkError(provider, err, signal));
          },
        };
        try {
          const { headers: sent, body: payload } = sendable(req);
          dispatcher.dispatch({ origin: url.origin, path: basePath + req.path, method: req.method ?? 'POST', headers: sent, body: payload }, handler);
        } catch (err) {
          settled();
          reject(upstreamNetworkError(provider, err, signal));
        }
      });
    },
  };
}

/**
 * Chunks are joined when small (one buffer is undici's fastest path) and sent one after another
 * when large: a large joined copy is a fresh mapping whose pages all fault when written (see
 * jsonChunks in json-bytes.ts), and copying costs more in garbage collection than the extra writes.
 */
function sendable(req: UpstreamRequest): { headers: Record<string, string>; body: Dispatcher.RequestOptions['body'] } {
  const body = Buffer.isBuffer(req.body) ? [req.body] : req.body;
  if (!Array.isArray(body)) return { headers: req.headers, body: body as string | undefined };
  const chunks = body as readonly Buffer[];
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  // One buffer goes as is, unless it is pooled memory: as chunks, undici destroys the socket if the
  // answer ends while it is still writing, rather than leaving the rest queued (core/body-memory.ts).
  if (chunks.length === 1 && !bodyMemory.isLent(chunks[0])) return { headers: req.headers, body: chunks[0] };
  if (total <= 64 * 1024) return { headers: req.headers, body: Buffer.concat(chunks, total) };
  // undici sends any iterable body (its type declarations only list streams and buffers).
  return { headers: { ...req.headers, 'content-length': String(total) }, body: chunks as unknown as Dispatcher.RequestOptions['body'] };
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Reads a whole JSON body, mapping a broken body to RK_UPSTREAM_BAD_RESPONSE. */
export async function readJson(provider: string, res: UpstreamResponse, signal?: AbortSignal): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = decodeText(await res.body.bytes());
  } catch (err) {
    throw upstreamNetworkError(provider, err, signal);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw routerError('RK_UPSTREAM_BAD_RESPONSE', { provider, reason: `expected a JSON object, got ${JSON.stringify(text.slice(0, 80))}` });
}
