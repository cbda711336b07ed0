/**
 * Route targets in router options: `provider/model` (or `provider,model`), or a list of them, the
 * first being the target and the rest its fallbacks in order.
 */
import type { ProviderCatalog, Route } from 'router-kernel';

export type TargetSpec = string | string[];

export interface Target {
  provider: string;
  model: string;
  fallbacks: Array<{ provider: string; model: string }>;
}

export const targetSchema = {
  oneOf: [
    { type: 'string', pattern: '^[^/,]+[/,].+$' },
    { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^/,]+[/,].+$' } },
  ],
  errorMessage: 'must be "provider/model" or a list of them (the rest are fallbacks), for example "mock/mock-fast"',
};

/** Resolves a target against the providers; throws naming the option when a provider is missing. */
export function resolveTarget(spec: TargetSpec, where: string, catalog: ProviderCatalog): Target {
  const list = Array.isArray(spec) ? spec : [spec];
  const resolved = list.map((text) => {
    const target = catalog.parseTarget(text);
    if (!target) throw new Error(`${where}: "${text}" names provider "${text.split(/[/,]/)[0]}", which is not configured (providers: ${catalog.providers().join(', ')})`);
    return target;
  });
  return { ...resolved[0], fallbacks: resolved.slice(1) };
}

export function routeTo(target: Target, reason: string, detail?: string): Route {
  const route: Route = { provider: target.provider, model: target.model, reason };
  if (detail) route.detail = detail;
  if (target.fallbacks.length > 0) route.fallbacks = target.fallbacks;
  return route;
}
