/** The providers and models of one generation, as the contract's ProviderCatalog. */
import type { ModelConfig } from '../config/schema.ts';
import type { ModelEntry, ProviderCatalog } from '../contract.ts';

export function createCatalog(models: Map<string, ModelEntry[]>): ProviderCatalog {
  return {
    providers: () => [...models.keys()],
    models: (provider) => models.get(provider) ?? [],
    parseTarget(target) {
      const cut = target.search(/[/,]/);
      if (cut <= 0 || cut === target.length - 1) return undefined;
      const provider = target.slice(0, cut);
      return models.has(provider) ? { provider, model: target.slice(cut + 1) } : undefined;
    },
    findModel(model) {
      const out: Array<{ provider: string; model: string }> = [];
      for (const [provider, list] of models) if (list.some((m) => m.name === model)) out.push({ provider, model });
      return out;
    },
  };
}

export function modelEntries(models: Array<string | ModelConfig>): ModelEntry[] {
  return models.map((m) => {
    if (typeof m === 'string') return { name: m, upstream: m };
    const entry: ModelEntry = { name: m.name, upstream: m.upstream ?? m.name };
    if (m.max_output_tokens !== undefined) entry.maxOutputTokens = m.max_output_tokens;
    if (m.thinking !== undefined) entry.thinking = m.thinking;
    return entry;
  });
}
