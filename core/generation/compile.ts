/**
 * Compiles a loaded router.yaml into a Generation beside the live one, or throws a ConfigError
 * saying where (file, line, YAML path) and why. Nothing the live generation uses is disturbed by
 * a failure: new instances that were provisioned are cleaned up, reused ones are left alone.
 *
 * Order: resolve every plugin → check every plugin's options → create (reusing unchanged
 * instances) → provision new instances in YAML order → validate all → compose the chain.
 */
import type { Credential, Logger, ModelEntry, PluginStateReport, PluginDefinition, PluginRoute, PluginScope, ProviderInstance } from '../contract.ts';
import { compose, type ChainLink } from '../compose.ts';
import { compileSchema, describeErrors } from '../config/ajv.ts';
import { ConfigError, type ConfigIssue } from '../config/config-error.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { ProviderEntry } from '../config/schema.ts';
import { createCatalog, credentialsOf, modelEntries } from './catalog.ts';
import { cleanupSlots, Generation, serverSettings, type ProviderSlot, type Slot } from './generation.ts';
import { PluginResolveError, resolvePlugin } from '../plugins/resolve.ts';
import type { SharedResources } from './shared-resources.ts';
import type { TokenCounter } from '../tokens/token-counter.ts';
import { createTerminal } from './terminal.ts';
import { recordClassifiers } from './priority.ts';

/** Paths the kernel answers itself; plugins cannot take them over. */
const kernelPaths = new Set(['/', '/health', '/v1/messages', '/v1/messages/count_tokens', '/v1/chat/completions', '/v1/models', '/admin/state']);

export interface CompileEnv {
  id: number;
  log: Logger;
  shared: SharedResources;
  tokens: TokenCounter;
  /** The live generation's plugin states (the supervisor knows which generation is live). */
  states?: () => PluginStateReport[];
  /** false for `router-kernel validate`: check everything but start nothing. */
  provision?: boolean;
}

interface Spec {
  key: string;
  path: Array<string | number>;
  /** Where the plugin's options sit in the YAML (error paths are relative to it). */
  optionsPath: Array<string | number>;
  name: string;
  use: string;
  options: Record<string, unknown>;
  models: ModelEntry[];
  definition?: PluginDefinition;
  files: string[];
}

export async function compileGeneration(loaded: LoadedConfig, previous: Generation | undefined, env: CompileEnv): Promise<Generation> {
  const specs = collectSpecs(loaded);
  const issues: ConfigIssue[] = [...loaded.issues];

  await Promise.all(
    specs.map(async (spec) => {
      try {
        const resolved = await resolvePlugin(spec.use, loaded.dir, spec.key.startsWith('providers.') ? 'provider' : 'pipeline');
        spec.definition = resolved.definition;
        spec.files = resolved.files;
      } catch (err) {
        if (!(err instanceof PluginResolveError)) throw err;
        issues.push(loaded.issue([...spec.path, 'use'], err.message));
      }
    }),
  );
  for (const spec of specs) {
    if (!spec.definition?.schema) continue;
    const validate = compileSchema(spec.definition.schema);
    if (!validate(spec.options)) {
      for (const problem of describeErrors(validate.errors)) issues.push(loaded.issue([...spec.optionsPath, ...problem.path], problem.message));
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const models = new Map<string, ModelEntry[]>();
  const credentials = new Map<string, Credential[]>();
  for (const spec of specs) {
    if (!spec.key.startsWith('providers.')) continue;
    models.set(spec.name, spec.models);
    credentials.set(spec.name, credentialsOf(spec.options));
  }
  const catalog = createCatalog(models, credentials);
  const previousSlots = new Map(previous?.slots.map((s) => [s.key, s]));

  const slots: Slot[] = [];
  const fresh: Slot[] = [];
  const fail = async (spec: Spec, stage: string, err: unknown): Promise<never> => {
    for (const slot of slots) if (!fresh.includes(slot)) slot.holders--; // undo reuse claims
    await cleanupSlots(fresh, env.shared, env.log);
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError([loaded.issue(spec.path, `plugin "${spec.definition?.id}" failed to ${stage}: ${reason}`)]);
  };

  for (const spec of specs) {
    const definition = spec.definition as PluginDefinition;
    const fingerprint = JSON.stringify([spec.options, spec.models]);
    const before = previousSlots.get(spec.key);
    if (before && before.definition === definition && before.fingerprint === fingerprint) {
      before.holders++;
      slots.push(before);
      continue;
    }
    const slot = { key: spec.key, path: spec.path, name: spec.name, definition, fingerprint, holders: 1, started: false } as Slot;
    try {
      const inherited = before && before.definition.id === definition.id ? before.instance.handover?.() : undefined;
      slot.scope = {
        name: spec.name,
        path: spec.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '['),
        log: env.log.child({ plugin: definition.id, at: spec.key }),
        configDir: loaded.dir,
        models: spec.models,
        inherited,
        catalog,
        shared: (key, create, dispose) => env.shared.acquire(slot, key, create, dispose),
        tokens: env.tokens,
        pluginStates: () => env.states?.() ?? [],
      } satisfies PluginScope;
      slot.instance = definition.create(spec.options, slot.scope);
      if (typeof slot.instance !== 'object' || slot.instance === null) throw new Error('create() must return an object');
      if (spec.key.startsWith('providers.') && typeof (slot.instance as ProviderInstance).invoke !== 'function') throw new Error('a provider instance needs an invoke() method');
    } catch (err) {
      await fail(spec, 'create', err);
    }
    slots.push(slot);
    fresh.push(slot);
  }

  for (const slot of env.provision === false ? [] : fresh) {
    slot.started = true;
    try {
      await slot.instance.provision?.();
    } catch (err) {
      await fail(specs[slots.indexOf(slot)], 'start (provision)', err);
    }
  }
  // Every instance is validated, so one attempt reports every inconsistency.
  const invalid: ConfigIssue[] = [];
  for (const [i, slot] of slots.entries()) {
    try {
      await slot.instance.validate?.(catalog);
    } catch (err) {
      invalid.push(loaded.issue(specs[i].path, `plugin "${slot.definition.id}" failed to validate: ${err instanceof Error ? err.message : String(err)}`));
    }
  }
  if (invalid.length > 0) {
    for (const slot of slots) if (!fresh.includes(slot)) slot.holders--;
    await cleanupSlots(fresh, env.shared, env.log);
    throw new ConfigError(invalid);
  }

  const providers = new Map<string, ProviderSlot>();
  const links: ChainLink[] = [];
  for (const slot of slots) {
    if (slot.key.startsWith('providers.')) {
      const entries = models.get(slot.name) ?? [];
      providers.set(slot.name, { slot, instance: slot.instance as ProviderInstance, models: new Map(entries.map((m) => [m.name, m])) });
    } else if ('handle' in slot.instance && typeof slot.instance.handle === 'function') {
      links.push({ name: slot.name, handle: slot.instance.handle.bind(slot.instance), reentrant: slot.definition.reentrant === true });
    }
  }
  const routes = new Map<string, { route: PluginRoute; plugin: string }>();
  const clashes: ConfigIssue[] = [];
  for (const [i, slot] of slots.entries()) {
    for (const route of slot.instance.routes ?? []) {
      const key = `${route.method} ${route.path}`;
      const taken = routes.get(key) ?? (kernelPaths.has(route.path) ? { plugin: 'the kernel' } : undefined);
      if (taken) clashes.push(loaded.issue(specs[i].path, `plugin "${slot.definition.id}" serves ${key}, which ${taken.plugin} already serves`));
      else routes.set(key, { route, plugin: slot.name });
    }
  }
  if (clashes.length > 0) {
    for (const slot of slots) if (!fresh.includes(slot)) slot.holders--;
    await cleanupSlots(fresh, env.shared, env.log);
    throw new ConfigError(clashes);
  }
  const chain = compose(links, createTerminal(providers, catalog));
  recordClassifiers(catalog, slots);
  const files = [...new Set(specs.flatMap((s) => s.files))];
  return new Generation(env.id, loaded, serverSettings(loaded), slots, providers, catalog, chain, files, env.tokens, routes);
}

/**
 * The plugin slots the config asks for. Written defensively: it also runs on a config with schema
 * problems, to report plugin problems in the same attempt, and skips entries too broken to read.
 */
function collectSpecs(loaded: LoadedConfig): Spec[] {
  const specs: Spec[] = [];
  const { providers, pipeline } = loaded.config as { providers?: unknown; pipeline?: unknown };
  const isEntry = (e: unknown): e is Record<string, unknown> & { use: string } => typeof e === 'object' && e !== null && typeof (e as { use?: unknown }).use === 'string';
  for (const [name, entry] of Object.entries(typeof providers === 'object' && providers !== null ? providers : {})) {
    if (!isEntry(entry)) continue;
    const { use, models, ...options } = entry;
    specs.push({ key: `providers.${name}`, path: ['providers', name], optionsPath: ['providers', name], name, use, options: structuredClone(options), models: Array.isArray(models) ? modelEntries(models as ProviderEntry['models']) : [], files: [] });
  }
  const seen = new Map<string, number>();
  (Array.isArray(pipeline) ? (pipeline as unknown[]) : []).forEach((entry, i) => {
    if (!isEntry(entry) || entry.enabled === false) return;
    const name = typeof entry.name === 'string' ? entry.name : entry.use;
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    const options = typeof entry.with === 'object' && entry.with !== null ? entry.with : {};
    specs.push({ key: `pipeline.${name}#${n}`, path: ['pipeline', i], optionsPath: ['pipeline', i, 'with'], name, use: entry.use, options: structuredClone(options) as Record<string, unknown>, models: [], files: [] });
  });
  return specs;
}
