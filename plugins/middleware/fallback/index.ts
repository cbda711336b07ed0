/**
 * fallback: when a route fails before answering, tries the next target of its chain: the route's
 * own fallbacks (from the router's target lists), then those configured here for its target, then
 * the `default` ones. Each target is a whole new attempt, so everything inside this middleware
 * (retries, the breaker, key pools) runs again for it and the request is translated for its
 * dialect. The target that finally answered is named in `x-router-route`.
 *
 *   pipeline:
 *     - use: router
 *     - use: fallback
 *       with:
 *         targets: { deepseek/deepseek-chat: [openrouter/deepseek/deepseek-chat] }
 *         default: [local/qwen2.5-coder]
 *     - use: retry
 *     - use: breaker
 *     - use: scheduler
 */
import { classifyFailure, definePlugin, transientStatuses, type MiddlewareInstance, type ProviderCatalog } from 'router-kernel';

interface FallbackOptions {
  default: string[];
  targets: Record<string, string[]>;
  statuses: number[];
  network: boolean;
}

const target = { type: 'string', pattern: '^[^/,]+[/,].+$', errorMessage: 'must be "provider/model"' };

export default definePlugin<FallbackOptions, MiddlewareInstance>({
  id: 'middleware.fallback',
  kind: 'middleware',
  version: '1.0.0',
  description: 'Moves a failing route to the next target of its fallback chain.',
  reentrant: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      default: { type: 'array', items: target, default: [], description: 'targets tried after every route’s own' },
      targets: { type: 'object', additionalProperties: { type: 'array', items: target }, default: {}, description: '"provider/model" → its fallbacks' },
      statuses: { type: 'array', items: { type: 'integer', minimum: 400, maximum: 599 }, default: [...transientStatuses] },
      network: { type: 'boolean', default: true, description: 'fall back on connection failures and timeouts' },
    },
  },
  create(options, scope) {
    // Since start: a reload that changes the options keeps counting.
    const stats = scope.shared('middleware.fallback:stats', () => ({ fellBack: 0, exhausted: 0 }), () => {});

    return {
      state: () => ({ ...stats }),

      validate(catalog: ProviderCatalog) {
        const problems: string[] = [];
        const check = (text: string, where: string) => {
          if (!catalog.parseTarget(text)) problems.push(`${where}: "${text}" names provider "${text.split(/[/,]/)[0]}", which is not configured`);
        };
        options.default.forEach((t, i) => check(t, `default[${i}]`));
        for (const [from, list] of Object.entries(options.targets)) {
          check(from, `targets.${from}`);
          list.forEach((t, i) => check(t, `targets.${from}[${i}]`));
        }
        if (problems.length) throw new Error(problems.join('; '));
      },

      async handle(ctx, next) {
        const route = ctx.route;
        if (!route) return next();
        const first = { provider: route.provider, model: route.model };
        const chain = [first, ...(route.fallbacks ?? [])];
        for (const text of [...(options.targets[`${first.provider}/${first.model}`] ?? []), ...options.default]) {
          const t = ctx.catalog.parseTarget(text);
          if (t && !chain.some((c) => c.provider === t.provider && c.model === t.model)) chain.push(t);
        }
        for (let i = 0; ; i++) {
          // This middleware owns the chain: the terminal must not fall back on its own as well.
          ctx.route = i === 0 ? { ...route, fallbacks: [] } : { ...route, ...chain[i], fallbacks: [], detail: [route.detail, `fallback_from=${first.provider}/${first.model}`].filter(Boolean).join('; ') };
          try {
            await next();
            if (i > 0) stats.fellBack++;
            return;
          } catch (err) {
            const failure = classifyFailure(err);
            const eligible = failure.kind === 'capacity' || (failure.kind === 'upstream' ? options.statuses.includes(failure.status ?? 0) : options.network && (failure.kind === 'network' || failure.kind === 'timeout'));
            if (!eligible || ctx.signal.aborted) throw err;
            if (i + 1 >= chain.length) {
              stats.exhausted++;
              throw err;
            }
            ctx.credential = undefined;
            ctx.log.warn({ from: `${chain[i].provider}/${chain[i].model}`, to: `${chain[i + 1].provider}/${chain[i + 1].model}`, failure }, 'route failed before answering; trying its fallback');
          }
        }
      },
    };
  },
});
