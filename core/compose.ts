/**
 * The middleware onion (koa-compose's contract): A → B → C → terminal, then back C → B → A.
 *
 *   const run = compose([{ name: 'auth', handle: auth }], terminal);
 *   await run(ctx);
 *
 * Guards: calling `next()` while a previous call is still running, or after the middleware itself
 * has returned, is always an error; calling it again after it settled is allowed only for links
 * that declare themselves `reentrant` (retries and fallbacks re-run what follows them).
 */
import type { Handler, RequestContext } from './contract.ts';
import { isRouterError, isStackOverflow, routerError } from './errors.ts';

export interface ChainLink {
  name: string;
  handle: Handler;
  reentrant?: boolean;
}

export type Terminal = (ctx: RequestContext) => Promise<void>;

export function compose(links: readonly ChainLink[], terminal: Terminal): Terminal {
  for (const link of links) {
    if (typeof link.handle !== 'function') throw new TypeError(`Middleware "${link.name}" has no handle function`);
  }
  if (links.length === 0) return terminal;

  function dispatch(i: number, ctx: RequestContext): Promise<void> {
    if (i === links.length) return terminal(ctx);
    const link = links[i];
    let running = false;
    let calls = 0;
    let returned = false;
    const next = async function next(): Promise<void> {
      if (running || returned || (calls > 0 && !link.reentrant)) {
        throw routerError('RK_NEXT_CALLED_TWICE', { plugin: link.name });
      }
      calls++;
      running = true;
      try {
        await dispatch(i + 1, ctx);
      } finally {
        running = false;
      }
    };
    let result: Promise<void>;
    try {
      result = link.handle(ctx, next);
    } catch (err) {
      returned = true;
      return Promise.reject(wrap(err, link.name));
    }
    return result.then(
      () => { returned = true; },
      (err: unknown) => { returned = true; throw wrap(err, link.name); },
    );
  }

  return function composed(ctx: RequestContext) {
    return dispatch(0, ctx);
  };
}

/** Errors that are not from the catalog are named after the plugin that threw them (as Vite does). */
function wrap(err: unknown, plugin: string): unknown {
  if (isRouterError(err)) return err;
  if (isStackOverflow(err)) return routerError('RK_TOO_DEEP', {}, { cause: err });
  return routerError('RK_PLUGIN_FAILED', { plugin, hook: 'handle', reason: err instanceof Error ? err.message : String(err) }, { cause: err });
}
