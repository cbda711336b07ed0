/**
 * Client authentication against `server.auth.keys`. Clients send their key the way their SDK does:
 * `x-api-key` (Anthropic) or `Authorization: Bearer` (OpenAI, Claude Code's ANTHROPIC_AUTH_TOKEN).
 * Compared in constant time; with no keys configured the router is open (and binds to loopback
 * by default).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { routerError } from '../errors.ts';

export function clientKey(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return apiKey;
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer /i.test(auth)) return auth.slice(7).trim();
  return undefined;
}

export function authorize(headers: IncomingHttpHeaders, keys: readonly string[]): void {
  if (keys.length === 0) return;
  const presented = clientKey(headers);
  if (presented === undefined || !keys.some((key) => sameSecret(presented, key))) throw routerError('RK_UNAUTHORIZED');
}

export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
