/**
 * Loads the module behind a plugin reference. Local files (TypeScript or JavaScript) are imported
 * again under a fresh URL whenever they or a local file they import changed (see
 * reload-hooks.mjs): the cost of a reload is one more copy of the plugin's own files, never of the
 * kernel or of node_modules. npm packages are imported once and keep Node's module cache.
 */
import { existsSync, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';

interface LocalModule {
  exports: Record<string, unknown>;
  /** Every local file the module imported (not node_modules, not the kernel), with its mtime. */
  files: Map<string, number>;
}

const localModules = new Map<string, LocalModule>();
let hooks: MessagePort | undefined;
let version = 0;

// This module runs from core/ (sources, under tsx) or dist/core/ (the build): the kernel it belongs
// to is the one next to it, in the same form.
const kernelRoot = new URL('../../', import.meta.url).href;
const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/**
 * Registers the resolve hook (once): local plugin reloads, and `router-kernel` meaning the running
 * kernel. `mapAll` extends that meaning to every importer (the sources run without a build, where
 * the package's own exports point at dist/).
 */
export function reloadHooks(options: { mapAll?: boolean } = {}): MessagePort {
  if (hooks) return hooks;
  const { port1, port2 } = new MessageChannel();
  const kernelEntries = { 'router-kernel': `${kernelRoot}core/index${extension}`, 'router-kernel/server': `${kernelRoot}core/router${extension}` };
  const data = { kernelDirs: [kernelRoot + 'core/', kernelRoot + 'plugins/'], kernelEntries, mapAll: options.mapAll === true, port: port2 };
  register(new URL('./reload-hooks.mjs', import.meta.url), { data, transferList: [port2] });
  port1.unref();
  hooks = port1;
  return port1;
}

let loaders: Promise<MessagePort> | undefined;

/**
 * Module loading for plugins, set up on first use: tsx (so plugin files may be TypeScript; the
 * sources already run under it), then the resolve hook above, in that order so that the hook sees
 * every module first.
 */
function pluginLoaders(): Promise<MessagePort> {
  loaders ??= (async () => {
    if (!import.meta.url.endsWith('.ts')) (await import('tsx/esm/api')).register();
    return reloadHooks();
  })();
  return loaders;
}

function filesLoadedUnder(port: MessagePort, v: number): Promise<string[]> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string; version: string; files: string[] }) => {
      if (message.type !== 'files' || message.version !== String(v)) return;
      port.off('message', onMessage);
      resolve(message.files.map((url) => fileURLToPath(url)));
    };
    port.on('message', onMessage);
    port.postMessage({ type: 'files', version: String(v) });
  });
}

const loading = new Map<string, Promise<{ exports: Record<string, unknown>; files: string[] }>>();

/**
 * Imports a local plugin file, again only if it or a local file it imports changed since.
 * Concurrent calls for one file share one import, so every slot using it gets the same definition.
 */
export function importLocal(file: string): Promise<{ exports: Record<string, unknown>; files: string[] }> {
  let pending = loading.get(file);
  if (!pending) {
    pending = load(file).finally(() => loading.delete(file));
    loading.set(file, pending);
  }
  return pending;
}

async function load(file: string): Promise<{ exports: Record<string, unknown>; files: string[] }> {
  const cached = localModules.get(file);
  if (cached && (await unchanged(cached.files))) return { exports: cached.exports, files: [...cached.files.keys()] };
  const port = await pluginLoaders();
  const v = ++version;
  const exports = (await import(`${pathToFileURL(file).href}?rk-reload=${v}`)) as Record<string, unknown>;
  const imported = [...new Set([file, ...(await filesLoadedUnder(port, v))])];
  const files = new Map<string, number>();
  for (const path of imported) files.set(path, await mtime(path));
  localModules.set(file, { exports, files });
  return { exports, files: imported };
}

async function unchanged(files: Map<string, number>): Promise<boolean> {
  for (const [path, seen] of files) if ((await mtime(path)) !== seen) return false;
  return true;
}

async function mtime(path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return -1;
  }
}

export interface PackageInfo {
  dir: string;
  manifest: Record<string, unknown>;
  entry: string;
}

/** Finds an installed package the way Node would from `fromDir`, and its ESM entry file. */
export function findPackage(name: string, fromDir: string): PackageInfo | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) {
      const manifest = JSON.parse(readFileSync(join(candidate, 'package.json'), 'utf8')) as Record<string, unknown>;
      return { dir: candidate, manifest, entry: join(candidate, entryOf(manifest)) };
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function entryOf(manifest: Record<string, unknown>): string {
  const pick = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') {
      const conditions = value as Record<string, unknown>;
      for (const key of ['.', 'import', 'node', 'default']) {
        const found = key in conditions ? pick(conditions[key]) : undefined;
        if (found) return found;
      }
    }
    return undefined;
  };
  return pick(manifest.exports) ?? (typeof manifest.module === 'string' ? manifest.module : undefined) ?? (typeof manifest.main === 'string' ? manifest.main : 'index.js');
}

export async function importPackage(info: PackageInfo): Promise<Record<string, unknown>> {
  await pluginLoaders(); // TypeScript entries, and `router-kernel` for packages that expect it as a peer
  return (await import(pathToFileURL(info.entry).href)) as Record<string, unknown>;
}
