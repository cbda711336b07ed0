/**
 * The built-in plugins by full id. They are ordinary plugins written against the public contract;
 * the kernel only knows where to find them. Imported lazily, so unused ones cost nothing.
 */
import type { PluginDefinition } from '../contract.ts';

type Loader = () => Promise<PluginDefinition>;

const load = (importer: () => Promise<{ default: PluginDefinition }>): Loader => async () => (await importer()).default;

export const builtinPlugins: Record<string, Loader> = {
  'provider.mock': load(() => import('../../plugins/providers/mock/index.ts')),
  'provider.openai': load(() => import('../../plugins/providers/openai/index.ts')),
  'provider.anthropic': load(() => import('../../plugins/providers/anthropic/index.ts')),
  'provider.gemini': load(() => import('../../plugins/providers/gemini/index.ts')),
  'provider.ollama': load(() => import('../../plugins/providers/ollama/index.ts')),
  'middleware.router': load(() => import('../../plugins/middleware/router/index.ts')),
  'middleware.retry': load(() => import('../../plugins/middleware/retry/index.ts')),
  'middleware.fallback': load(() => import('../../plugins/middleware/fallback/index.ts')),
  'middleware.breaker': load(() => import('../../plugins/middleware/breaker/index.ts')),
  'middleware.client-limits': load(() => import('../../plugins/middleware/client-limits/index.ts')),
  'cache.coalesce': load(() => import('../../plugins/caches/coalesce/index.ts')),
  'scheduler.scheduler': load(() => import('../../plugins/schedulers/scheduler/index.ts')),
  'monitor.metrics': load(() => import('../../plugins/monitors/metrics/index.ts')),
};
