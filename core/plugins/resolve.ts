/**
 * Turns a `use:` reference into a plugin definition:
 *   - `./guard.ts`, `../x.js`, `/abs/p.ts`: a local file, relative to router.yaml's folder;
 *   - `openai`, `provider.openai`: a built-in, by short name or full id;
 *   - anything else: an npm package installed where router.yaml is (its package.json must carry a
 *     `"router-kernel"` field, and its default export must come from `definePlugin`).
 * Bare names that match a built-in always mean the built-in.
 */
import { basename, isAbsolute, resolve } from 'node:path';
import { definePlugin, isPluginDefinition, type PluginDefinition, type PluginKind } from '../contract.ts';
import { builtinPlugins } from './builtins.ts';
import { bareRouter } from './define-router.ts';
import { findPackage, importLocal, importPackage } from './load-module.ts';

export interface ResolvedPlugin {
  definition: PluginDefinition;
  /** Where it came from, for messages: `built-in`, a file path or a package name@version. */
  source: string;
  /** Local files to watch for hot reload. */
  files: string[];
}

export class PluginResolveError extends Error {}

export async function resolvePlugin(use: string, configDir: string, slot: 'provider' | 'pipeline'): Promise<ResolvedPlugin> {
  const resolved = await load(use, configDir, slot);
  const kind = resolved.definition.kind;
  if (slot === 'provider' && kind !== 'provider') throw new PluginResolveError(`"${use}" is a ${kind} plugin; providers need a provider plugin`);
  if (slot === 'pipeline' && kind === 'provider') throw new PluginResolveError(`"${use}" is a provider plugin; declare it under \`providers:\`, not in the pipeline`);
  return resolved;
}

async function load(use: string, configDir: string, slot: 'provider' | 'pipeline'): Promise<ResolvedPlugin> {
  if (use.startsWith('./') || use.startsWith('../') || isAbsolute(use)) {
    const file = resolve(configDir, use);
    let loaded;
    try {
      loaded = await importLocal(file);
    } catch (err) {
      throw new PluginResolveError(`cannot load ${use}: ${firstLine(err)}`);
    }
    return { definition: definitionOf(loaded.exports, use), source: file, files: loaded.files };
  }

  const builtin = findBuiltin(use, slot);
  if (builtin) return { definition: await builtin(), source: 'built-in', files: [] };

  const pkg = findPackage(use, configDir);
  if (!pkg) {
    const names = Object.keys(builtinPlugins).filter((id) => (slot === 'provider') === id.startsWith('provider.')).map((id) => id.slice(id.indexOf('.') + 1));
    throw new PluginResolveError(`"${use}" is not a built-in plugin (${names.join(', ')}), a local file (start it with ./) or an npm package installed in ${configDir}`);
  }
  if (!('router-kernel' in pkg.manifest)) {
    throw new PluginResolveError(`npm package "${use}" is not a router-kernel plugin: its package.json has no "router-kernel" field`);
  }
  let exports;
  try {
    exports = await importPackage(pkg);
  } catch (err) {
    throw new PluginResolveError(`cannot load npm package "${use}": ${firstLine(err)}`);
  }
  return { definition: definitionOf(exports, use), source: `${use}@${String(pkg.manifest.version ?? '?')}`, files: [] };
}

function findBuiltin(use: string, slot: 'provider' | 'pipeline'): (() => Promise<PluginDefinition>) | undefined {
  if (use in builtinPlugins) return builtinPlugins[use];
  // The slot's own kinds first, then the rest, so a misplaced plugin gets a precise message.
  const kinds: PluginKind[] = slot === 'provider' ? ['provider', 'middleware', 'scheduler', 'cache', 'monitor'] : ['middleware', 'scheduler', 'cache', 'monitor', 'provider'];
  for (const kind of kinds) {
    const id = `${kind}.${use}`;
    if (id in builtinPlugins) return builtinPlugins[id];
  }
  return undefined;
}

function definitionOf(exports: Record<string, unknown>, use: string): PluginDefinition {
  const candidate = exports.default ?? exports.plugin;
  if (isPluginDefinition(candidate)) return candidate;
  // A custom router exported as a bare `{ route }` object, named after its file or package.
  const router = bareRouter(candidate, basename(use).replace(/\.[cm]?[jt]s$/, ''));
  if (router) return router;
  // A plain object of the right shape is accepted too, so a plugin file needs no imports at all.
  if (typeof candidate === 'object' && candidate !== null && 'create' in candidate) {
    try {
      return definePlugin(candidate as PluginDefinition);
    } catch (err) {
      throw new PluginResolveError(`${use}: ${(err as Error).message}`);
    }
  }
  throw new PluginResolveError(`${use} does not export a plugin: its default export must be the result of definePlugin({...}) (or of defineRouter, or a bare { route } object)`);
}

/** The useful part of a load error: esbuild puts the file, line and message on the lines after the first. */
function firstLine(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.slice(0, 4).join(' ');
}
