/**
 * Watches router.yaml and the local plugin files it uses; a change triggers one debounced reload.
 * Editors that save by writing a temporary file and renaming it are handled (chokidar's atomic
 * mode), and the watched set follows the config: after each reload it becomes the new
 * generation's files.
 */
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from './contract.ts';

export interface ConfigWatcher {
  /** Replace the set of watched files (router.yaml is always kept). */
  track(files: string[]): void;
  close(): Promise<void>;
}

/**
 * Resolves once the watcher is ready on router.yaml and on `files` (the first generation's local
 * plugins), so an edit made right after start-up is not missed. (Files added later by `track` are
 * watched a moment after the reload that added them: chokidar reports no readiness for them.)
 */
export async function watchConfig(configFile: string, files: readonly string[], onChange: (file: string) => void, log: Logger, debounceMs = 150): Promise<ConfigWatcher> {
  let watched = new Set([configFile, ...files]);
  const watcher: FSWatcher = watch([...watched], { ignoreInitial: true, atomic: true, awaitWriteFinish: false });
  let timer: NodeJS.Timeout | undefined;
  let changed = configFile;
  const fire = (file: string) => {
    changed = file;
    clearTimeout(timer);
    timer = setTimeout(() => onChange(changed), debounceMs);
  };
  watcher.on('change', fire).on('add', fire).on('unlink', fire);
  watcher.on('error', (err) => log.warn({ err }, 'file watcher error'));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    track(files) {
      const next = new Set([configFile, ...files]);
      const added = [...next].filter((f) => !watched.has(f));
      const removed = [...watched].filter((f) => !next.has(f));
      if (added.length) watcher.add(added);
      if (removed.length) watcher.unwatch(removed);
      watched = next;
    },
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
