/**
 * `GET /admin/state`: every stateful plugin's live state at once (key pools, queues, breakers,
 * limiters, caches), from the live generation, for operators. Plugins report through their
 * instance's `state()` hook; what they return must hold no secrets (keys appear as fingerprints).
 */
import type { PluginStateReport } from '../contract.ts';
import type { Generation } from '../generation/generation.ts';

export function adminState(generation: Generation): Record<string, unknown> {
  return { generation: generation.id, uptime: Math.round(process.uptime()), inflight: generation.inflight - 1, plugins: pluginStates(generation) };
}

export function pluginStates(generation: Generation): PluginStateReport[] {
  const plugins: PluginStateReport[] = [];
  for (const slot of generation.slots) {
    const report = slot.instance.state;
    if (typeof report !== 'function') continue;
    let state: unknown;
    try {
      state = report.call(slot.instance);
    } catch (err) {
      state = { error: err instanceof Error ? err.message : String(err) };
    }
    plugins.push({ name: slot.name, plugin: slot.definition.id, at: slot.scope.path, state });
  }
  return plugins;
}
