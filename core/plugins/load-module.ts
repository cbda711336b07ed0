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

function reloadHooks(): MessagePort {
  if (hooks) return hooks;
  const { port1, port2 } = new MessageChannel();
  const root = new URL('../../', import.meta.url).href;
  const kernelEntries = { 'router-kernel': root + 'core/index.ts', 'router-kernel/server': root + 'core/router.ts' };
  register(new URL('./reload-hooks.mjs', import.meta.url), { data: { kernelDirs: [root + 'core/', root + 'plugins/'], kernelEntries, port: port2 }, transferList: [port2] });
  port1.unref();
  hooks = port1;
  return port1;
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
  const port = reloadHooks();
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
  reloadHooks(); // so a package that expects `router-kernel` as a peer finds the running one
  return (await import(pathToFileURL(info.entry).href)) as Record<string, unknown>;
}
