/**
 * V8's full garbage collection, without asking operators to start Node with `--expose-gc`: the
 * flag is set just long enough to create one context that has `gc`, then cleared, so plugin code
 * and later contexts do not see it. Used when the router (or a token worker) falls idle, to give
 * back memory V8 would otherwise keep (core/http/idle-collect.ts).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * Two full collections. They shrink the young generation only when V8 judges allocation to have
 * slowed (core/http/idle-collect.ts, `shrinkYoungGenerationLater`, covers when it has not).
 */
export function collectGarbage(): void {
  gc ??= exposedGc();
  gc();
  gc();
}

function exposedGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  setFlagsFromString('--expose-gc');
  const made = runInNewContext('gc') as () => void;
  setFlagsFromString('--no-expose-gc');
  return made;
}
