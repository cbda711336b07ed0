/** Small answers the front door writes itself: errors in the client's dialect, and failure naming. */
import type { ServerResponse } from 'node:http';
import type { IngressCodec } from '../dialects/codec.ts';
import { isRouterError, routerError, toRouterError, type RouterError } from '../errors.ts';
import { writeJson } from './deliver.ts';

/**
 * What a failure really was: once the request's signal has aborted, whatever was thrown is a
 * consequence (an AbortError from a timer, a socket error) and the abort reason is the truth: the
 * client went away, or the drain deadline of a replaced generation passed.
 */
export function failureOf(err: unknown, signal: AbortSignal): RouterError {
  if (signal.aborted) return isRouterError(signal.reason) ? signal.reason : routerError('RK_CLIENT_CLOSED');
  return toRouterError(err);
}

export function sendError(res: ServerResponse, codec: IngressCodec, error: RouterError, id: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const headers: Record<string, string | number> = {};
  if (error.retryAfter !== undefined) headers['retry-after'] = Math.ceil(error.retryAfter);
  if (error.code === 'RK_METHOD_NOT_ALLOWED' && typeof error.details.allow === 'string') headers.allow = error.details.allow;
  // 499 is nginx's "client closed request": nobody is left to read it, but the log stays honest.
  writeJson(res, error.status, codec.renderError(error, id), headers);
}
