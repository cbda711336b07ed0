/** The providers and models of one generation, as the contract's ProviderCatalog. */
import type { ModelConfig } from '../config/schema.ts';
import { hash } from 'node:crypto';
import type { Credential, ModelEntry, ProviderCatalog } from '../contract.ts';

export function createCatalog(models: Map<string, ModelEntry[]>, credentials: Map<string, Credential[]> = new Map()): ProviderCatalog {
  return {
    credentials: (provider) => credentials.get(provider) ?? [],
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

interface KeyConfig {
  key: string;
  name?: string;
  rpm?: number;
  tpm?: number;
  concurrency?: number;
  weight?: number;
}

/**
 * A provider's keys from its options, by the convention every built-in provider follows: `keys`
 * (strings, or objects with `key` and limits) or a single `api_key`. Empty keys (an unset
 * environment variable with a default of "") are left out.
 */
export function credentialsOf(options: Record<string, unknown>): Credential[] {
  const listed = Array.isArray(options.keys) ? (options.keys as Array<string | KeyConfig>) : typeof options.api_key === 'string' ? [options.api_key] : [];
  const out: Credential[] = [];
  for (const entry of listed) {
    const config: KeyConfig = typeof entry === 'string' ? { key: entry } : entry;
    if (typeof config.key !== 'string' || config.key === '') continue;
    const credential: Credential = { id: fingerprint(config.key), key: config.key };
    for (const field of ['name', 'rpm', 'tpm', 'concurrency', 'weight'] as const) if (config[field] !== undefined) (credential as unknown as Record<string, unknown>)[field] = config[field];
    out.push(credential);
  }
  return out;
}

/** A short, stable name for a key that reveals nothing of it: `key_` and 8 hex digits of its SHA-256. */
export function fingerprint(key: string): string {
  return 'key_' + hash('sha256', key, 'hex').slice(0, 8);
}
