/** Serving a plugin's own endpoint (PluginRoute), after checking who may call it. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PluginRoute } from '../contract.ts';
import { isRouterError, routerError } from '../errors.ts';
import type { Generation } from '../generation/generation.ts';
import { authorize, clientKey, sameSecret } from './auth.ts';

export async function servePluginRoute(generation: Generation, entry: { route: PluginRoute; plugin: string }, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const access = entry.route.access ?? 'admin';
  if (access === 'client') authorize(req.headers, generation.settings.authKeys);
  if (access === 'admin') authorizeAdmin(generation, req, entry.route.path);
  try {
    await entry.route.handle(req, res);
  } catch (err) {
    if (isRouterError(err)) throw err;
    throw routerError('RK_PLUGIN_FAILED', { plugin: entry.plugin, hook: `${entry.route.method} ${entry.route.path}`, reason: err instanceof Error ? err.message : String(err) }, { cause: err });
  }
}

/** The methods a path is served with, for a 405's Allow header. */
export function methodsFor(generation: Generation, path: string): string[] {
  return [...generation.routes.values()].filter((e) => e.route.path === path).map((e) => e.route.method);
}

/** Admin endpoints need `server.admin_key`, presented like a client key; without one they are refused. */
export function authorizeAdmin(generation: Generation, req: IncomingMessage, path: string): void {
  const adminKey = generation.settings.adminKey;
  if (!adminKey) throw routerError('RK_FORBIDDEN', { reason: `${req.method} ${path} is an admin endpoint: set server.admin_key to use it` });
  const presented = clientKey(req.headers);
  if (presented === undefined || !sameSecret(presented, adminKey)) throw routerError('RK_UNAUTHORIZED');
}
