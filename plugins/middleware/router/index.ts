/**
 * middleware.router: decides which provider and model answer each request.
 * A client model `provider,model` naming no configured provider is refused (404), not defaulted.
 *
 *   pipeline:
 *     - use: router
 *       with:
 *         default: deepseek/deepseek-chat
 *
 * A client model written as `provider/model` or `provider,model` (what users type in Claude
 * Code's /model) goes straight there; a model name a provider declares goes to that provider;
 * everything else goes to `default`. The choice and the reason are in `x-router-route`.
 */
import { definePlugin, routerError, type MiddlewareInstance } from 'router-kernel';

interface RouterOptions {
  default: string;
}

export default definePlugin<RouterOptions, MiddlewareInstance>({
  id: 'middleware.router',
  kind: 'middleware',
  version: '1.0.0',
  description: 'Chooses the provider and model for each request.',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['default'],
    properties: {
      default: { type: 'string', pattern: '^[^/,]+[/,].+$', errorMessage: 'must be "provider/model", for example "mock/mock-fast"', description: 'provider/model used when nothing more specific applies' },
    },
  },
  create(options) {
    let fallback: { provider: string; model: string } | undefined;

    return {
      validate(current) {
        fallback = current.parseTarget(options.default);
        if (!fallback) throw new Error(`default "${options.default}" names provider "${options.default.split(/[/,]/)[0]}", which is not configured (providers: ${current.providers().join(', ')})`);
      },

      async handle(ctx, next) {
        if (!ctx.route) {
          const model = ctx.model;
          const catalog = ctx.catalog;
          const explicit = catalog.parseTarget(model);
          // `provider,model` is only ever typed to pick a route (Claude Code's /model): a typo in
          // it must not fall through to the default unnoticed. (`a/b` may be a vendor's model id.)
          if (!explicit && /^[^,/]+,./.test(model)) {
            throw routerError('RK_PROVIDER_NOT_FOUND', { provider: model.slice(0, model.indexOf(',')), hint: ` (providers: ${catalog.providers().join(', ')})` });
          }
          const declared = explicit ? undefined : catalog.findModel(model)[0];
          if (explicit) ctx.route = { ...explicit, reason: 'explicit' };
          else if (declared) ctx.route = { ...declared, reason: 'model' };
          else if (fallback) ctx.route = { ...fallback, reason: 'default' };
          else throw routerError('RK_NO_ROUTE');
        }
        await next();
      },
    };
  },
});
