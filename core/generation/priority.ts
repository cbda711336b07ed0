/**
 * `priorityOf(ctx)`: the scheduling class a request will get, for plugins that act before the
 * scheduler does (a coalescer must never merge requests of different classes). Each generation's
 * instances with a `classify` hook are recorded under its catalog, which every request carries
 * (`ctx.catalog`), so a plugin instance reused by several generations asks the right one.
 */
import type { MiddlewareInstance, PriorityClass, ProviderCatalog, RequestContext } from '../contract.ts';
import type { Slot } from './generation.ts';

const classifiers = new WeakMap<ProviderCatalog, MiddlewareInstance[]>();

export function recordClassifiers(catalog: ProviderCatalog, slots: Slot[]): void {
  classifiers.set(catalog, slots.map((slot) => slot.instance as MiddlewareInstance).filter((instance) => typeof instance.classify === 'function'));
}

/**
 * The class the request will be scheduled in: the answer of the first instance of its generation
 * (in YAML order) with a `classify` hook, else `ctx.priority` as it stands. Call it once `ctx.route`
 * is set; it changes nothing.
 */
export function priorityOf(ctx: RequestContext): PriorityClass {
  for (const instance of classifiers.get(ctx.catalog) ?? []) {
    const priority = instance.classify!(ctx);
    if (priority !== undefined) return priority;
  }
  return ctx.priority;
}
