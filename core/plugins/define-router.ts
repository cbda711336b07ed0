/**
 * A custom router in a few lines: a function from the request to a target, wrapped as a middleware
 * plugin. Put it in the pipeline before the built-in `router`; when it returns nothing, the
 * built-in router decides. Like any local plugin file, it hot-reloads when edited.
 *
 *   // my-router.ts
 *   import { defineRouter } from 'router-kernel';
 *   export default defineRouter({
 *     id: 'my-router',
 *     async route(request, { tokens, headers }) {
 *       if (headers['x-team'] === 'research') return 'claude/claude-opus-4-1';
 *       if ((await tokens()) > 100_000) return ['gemini/gemini-2.5-pro', 'deepseek/deepseek-chat'];
 *     },
 *   });
 *
 * A client that names its target (`provider/model`, `provider,model`) is not asked about.
 *
 * A file may also export the bare object, without an import: `export default { route(request) {…} }`.
 * The plugin loader wraps it with `defineRouter` (see `bareRouter`), taking the id from the file name
 * unless the object names one.
 */
import type { CanonicalRequest } from '../canonical.ts';
import { definePlugin, type JsonSchema, type Logger, type MiddlewareInstance, type ProviderCatalog, type RequestContext, type Route } from '../contract.ts';
import { routerError } from '../errors.ts';

/** `provider/model`, a list (the rest are fallbacks), or a route with its own reason. */
export type RouteChoice = string | string[] | { provider: string; model: string; reason?: string };

export interface CustomRouterContext<Options> {
  /** The client's model, as sent. */
  model: string;
  headers: Record<string, string | string[] | undefined>;
  /**
   * Input tokens as the client model's family bills them (`ctx.countTokens()`: the Claude estimate
   * for Claude models, OpenAI's exact count for GPT models), counted once per request off the event
   * loop; it stops when the client hangs up and fails (RK_TOKEN_COUNT_FAILED) past the counter's
   * deadline: catch it to decide without a count.
   */
  tokens(): Promise<number>;
  options: Options;
  catalog: ProviderCatalog;
  log: Logger;
  /** The whole request context, for anything else. */
  ctx: RequestContext;
}

export interface CustomRouter<Options> {
  id: string;
  version?: string;
  description?: string;
  schema?: JsonSchema;
  route(request: CanonicalRequest, context: CustomRouterContext<Options>): RouteChoice | undefined | void | Promise<RouteChoice | undefined | void>;
}

export function defineRouter<Options = Record<string, unknown>>(router: CustomRouter<Options>) {
  return definePlugin<Options, MiddlewareInstance>({
    id: router.id,
    kind: 'middleware',
    version: router.version ?? '1.0.0',
    ...(router.description ? { description: router.description } : {}),
    ...(router.schema ? { schema: router.schema } : {}),
    create(options, scope) {
      return {
        async handle(ctx, next) {
          if (!ctx.route && !ctx.catalog.parseTarget(ctx.model)) {
            const choice = await router.route(ctx.request, {
              model: ctx.model,
              headers: ctx.raw.headers,
              tokens: async () => (await ctx.countTokens()).tokens,
              options,
              catalog: ctx.catalog,
              log: scope.log,
              ctx,
            });
            if (choice) ctx.route = toRoute(choice, ctx.catalog, `custom:${router.id}`);
          }
          await next();
        },
      };
    },
  });
}

/**
 * A default export that is a bare router (`{ route }`, maybe with `id`, `schema`, `version`,
 * `description`, and nothing that makes it a plugin definition), made into a plugin; undefined for
 * anything else. `fallbackId` names it when it does not name itself (the loader passes the file's
 * or package's name).
 */
export function bareRouter(value: unknown, fallbackId: string): ReturnType<typeof defineRouter> | undefined {
  if (typeof value !== 'object' || value === null || 'create' in value || 'kind' in value) return undefined;
  const candidate = value as Partial<CustomRouter<Record<string, unknown>>>;
  if (typeof candidate.route !== 'function') return undefined;
  const id = typeof candidate.id === 'string' && candidate.id !== '' ? candidate.id : fallbackId;
  return defineRouter({ ...candidate, id, route: candidate.route });
}

function toRoute(choice: RouteChoice, catalog: ProviderCatalog, reason: string): Route {
  if (typeof choice === 'object' && !Array.isArray(choice)) {
    if (!catalog.providers().includes(choice.provider)) throw routerError('RK_PROVIDER_NOT_FOUND', { provider: choice.provider, hint: ` (providers: ${catalog.providers().join(', ')})` });
    return { provider: choice.provider, model: choice.model, reason: choice.reason ?? reason };
  }
  const targets = (Array.isArray(choice) ? choice : [choice]).map((text) => {
    const target = catalog.parseTarget(text);
    if (!target) throw routerError('RK_PROVIDER_NOT_FOUND', { provider: text.split(/[/,]/)[0], hint: ` (providers: ${catalog.providers().join(', ')})` });
    return target;
  });
  const route: Route = { ...targets[0], reason };
  if (targets.length > 1) route.fallbacks = targets.slice(1);
  return route;
}
