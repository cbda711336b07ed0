/**
 * What the kernel's upstream client needs of a plugin scope, for tests that use the client
 * directly: a name, and `shared` resources (its undici dispatcher) disposed of on teardown.
 */
import type { PluginScope } from '../../core/contract.ts';

export function upstreamScope(t: { teardown(fn: () => unknown): void }, name = 'up'): PluginScope {
  const disposers: Array<() => unknown> = [];
  t.teardown(async () => {
    for (const dispose of disposers) await dispose();
  });
  return {
    name,
    shared: <T>(_key: string, make: () => T, dispose: (value: T) => unknown) => {
      const value = make();
      disposers.push(() => dispose(value));
      return value;
    },
  } as unknown as PluginScope;
}
