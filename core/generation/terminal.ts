/**
 * The last link of every chain (Envoy's router filter): sends the request to the provider named
 * by `ctx.route`. Without a routing middleware it still understands a client model written as
 * `provider/model` (or `provider,model`) or a model name some provider declares. A route with
 * fallbacks tries them in order when its provider fails before answering (5xx, 429, timeouts).
 */
import type { CanonicalRequest } from '../canonical.ts';
import type { ModelEntry, ProviderCatalog, RequestContext, Route } from '../contract.ts';
import { isRouterError, isStackOverflow, routerError } from '../errors.ts';
import type { Terminal } from '../compose.ts';
import type { ProviderSlot } from './generation.ts';

export function createTerminal(providers: Map<string, ProviderSlot>, catalog: ProviderCatalog): Terminal {
  return async function terminal(ctx: RequestContext): Promise<void> {
    if (ctx.response) return;
    const route = ctx.route ?? routeByModel(ctx.model, catalog);
    ctx.route = route;
    const targets = [{ provider: route.provider, model: route.model }, ...(route.fallbacks ?? [])];
    for (let i = 0; ; i++) {
      const target = targets[i];
      try {
        ctx.response = await invoke(ctx, providers, target);
        return;
      } catch (err) {
        const next = targets[i + 1];
        if (!next || !worthFallingBack(err) || ctx.signal.aborted) throw err;
        ctx.log.warn({ err, from: `${target.provider}/${target.model}`, to: `${next.provider}/${next.model}` }, 'route failed before answering; trying its fallback');
        // The route reported is the one that answers; the detail says what it stood in for. A key a
        // scheduler chose belongs to the first target's provider, not to the fallback's.
        ctx.credential = undefined;
        ctx.route = { ...route, ...next, detail: [route.detail, `fallback_from=${targets[0].provider}/${targets[0].model}`].filter(Boolean).join('; ') };
      }
    }
  };
}

async function invoke(ctx: RequestContext, providers: Map<string, ProviderSlot>, target: { provider: string; model: string }) {
  const provider = providers.get(target.provider);
  if (!provider) throw routerError('RK_PROVIDER_NOT_FOUND', { provider: target.provider });
  const entry = provider.models.get(target.model);
  // Only a model with limits needs the request parsed to check them (passthrough avoids parsing).
  const limited = entry !== undefined && (entry.maxOutputTokens !== undefined || entry.thinking === false);
  // A target's limits apply to its own attempt: a fallback starts from the request as it was.
  const before = limited ? { request: ctx.request, rawStale: ctx.rawStale, dropped: [...droppedOf(ctx)] } : undefined;
  if (limited) applyModelLimits(ctx, entry);
  try {
    return await provider.instance.invoke(ctx, { model: entry?.upstream ?? target.model, route: ctx.route! });
  } catch (err) {
    if (before) {
      ctx.request = before.request;
      ctx.rawStale = before.rawStale;
      const dropped = droppedOf(ctx);
      for (const feature of [...dropped]) if (!before.dropped.includes(feature)) dropped.delete(feature);
    }
    throw providerFailure(err, target.provider, 'invoke');
  }
}

/** The kernel context's record of dropped features (for x-router-dropped), if it is one. */
function droppedOf(ctx: RequestContext): Set<string> {
  return (ctx as { droppedFeatures?: Set<string> }).droppedFeatures ?? new Set();
}

/** Failures another provider may not share: overload, rate limits, outages, timeouts. */
function worthFallingBack(err: unknown): boolean {
  if (!isRouterError(err)) return false;
  if (err.code === 'RK_CLIENT_CLOSED' || err.code === 'RK_SHUTTING_DOWN') return false;
  return err.status === 429 || err.status === 408 || err.status >= 500;
}

/**
 * What the model cannot take is adjusted in the request itself, the same for every provider, and
 * reported: max_tokens above the model's limit is lowered to it (Claude Code asks for 32k-128k; many
 * models stop at 8k), thinking is not requested of a model that cannot think. A passthrough then
 * builds its body from the adjusted request.
 */
function applyModelLimits(ctx: RequestContext, entry: ModelEntry): void {
  const request = ctx.request;
  let adjusted: CanonicalRequest | undefined;
  if (entry.maxOutputTokens !== undefined && request.maxTokens !== undefined && request.maxTokens > entry.maxOutputTokens) {
    adjusted = { ...request, maxTokens: entry.maxOutputTokens };
    ctx.dropped('max_tokens');
  }
  if (entry.thinking === false && request.thinking && request.thinking.type !== 'disabled') {
    adjusted = { ...(adjusted ?? request) };
    delete adjusted.thinking;
    ctx.dropped('thinking');
  }
  if (!adjusted) return;
  // A copy, not an edit: the original is what the next target (a fallback) starts from.
  ctx.request = adjusted;
  ctx.rawStale = true;
}

/** Errors that are not from the catalog are named after the provider that threw them. */
export function providerFailure(err: unknown, provider: string, hook: string): unknown {
  if (isRouterError(err)) return err;
  if (isStackOverflow(err)) return routerError('RK_TOO_DEEP', {}, { cause: err });
  return routerError('RK_PLUGIN_FAILED', { plugin: provider, hook, reason: err instanceof Error ? err.message : String(err) }, { cause: err });
}

export function routeByModel(model: string, catalog: ProviderCatalog): Route {
  const explicit = catalog.parseTarget(model);
  if (explicit) return { ...explicit, reason: 'explicit' };
  const declared = catalog.findModel(model);
  if (declared.length > 0) return { ...declared[0], reason: 'model' };
  const known = catalog.providers().flatMap((p) => catalog.models(p).map((m) => `${p}/${m.name}`));
  const hint = known.length > 0 ? ` (configured: ${known.slice(0, 8).join(', ')}${known.length > 8 ? ', …' : ''})` : '';
  throw routerError('RK_MODEL_NOT_FOUND', { model, hint });
}
