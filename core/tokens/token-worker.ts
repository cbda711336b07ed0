/**
 * The tokenizer, in a piscina worker thread: counting a 100k-token conversation takes tens of
 * milliseconds, which must never block the event loop. An encoding's table loads on its first use
 * in each worker, so only the encodings in use cost memory; the pool's warm-up loads the default
 * one at start-up. Any text counts in time linear in its length (bpe-count.ts slices long pieces).
 *
 * The ranks and the pre-tokenizer patterns are gpt-tokenizer's; the counting is ours
 * (bpe-count.ts), over a flat table of the ranks (rank-table.ts) that the build writes to
 * `dist/tokenizer/<encoding>.<gpt-tokenizer version>.bin` (bin/build.js) and a worker reads whole:
 * 4.3 MB for o200k_base, outside the heap. gpt-tokenizer's own encoder kept a 200k-entry Map, its
 * strings and a 100k-entry merge cache: ~60 MB of a worker's memory after counting a long
 * conversation, and ~400 ms to load. Without a usable file for the installed version (running
 * from the sources, or a damaged build) the worker builds the table from gpt-tokenizer's ranks
 * module instead: ~0.9 s, and the module stays loaded (~13 MB of heap).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { collectGarbage } from '../full-gc.ts';
import { packageRoot } from '../package-root.ts';
import { bpeCounter } from './bpe-count.ts';
import { openRankTable, rankTableBytes } from './rank-table.ts';

/** The encodings the router counts with (the build writes a table for each). */
export const encodings = ['o200k_base', 'cl100k_base'] as const;
export type Encoding = (typeof encodings)[number];

export interface CountTask {
  encoding: Encoding;
  texts: string[];
}

/** Give back memory: after the warm-up has loaded an encoding, and when the router is idle. */
export interface CollectTask {
  collect: true;
}

const loaded = new Map<Encoding, Promise<(text: string) => number>>();

function counterFor(encoding: Encoding): Promise<(text: string) => number> {
  let counter = loaded.get(encoding);
  if (!counter) {
    counter = load(encoding);
    loaded.set(encoding, counter);
    // A load that failed is tried again by the next task, not remembered.
    counter.catch(() => loaded.delete(encoding));
  }
  return counter;
}

async function load(encoding: Encoding): Promise<(text: string) => number> {
  // Imported here rather than at the top: tsx fails to load a worker module that imports a package subpath statically.
  const patterns = await import('gpt-tokenizer/esm/encodingParams/constants');
  const pattern = encoding === 'o200k_base' ? patterns.O200K_TOKEN_SPLIT_REGEX : patterns.CL100K_TOKEN_SPLIT_REGEX;
  const file = ranksFile(encoding);
  if (existsSync(file)) {
    try {
      return bpeCounter(openRankTable(readFileSync(file)), pattern);
    } catch (err) {
      process.emitWarning(`${file} is not a usable rank table (${(err as Error).message}); building the table from gpt-tokenizer's ranks instead`);
    }
  }
  return bpeCounter(openRankTable(await rankTableFromModule(encoding)), pattern);
}

/** An encoding's rank table, built from gpt-tokenizer's ranks module (the build writes this to `ranksFile`). */
export async function rankTableFromModule(encoding: Encoding): Promise<Uint8Array> {
  const ranks = (await import(`gpt-tokenizer/esm/bpeRanks/${encoding}`)) as { default: Array<string | number[]> };
  return rankTableBytes(ranks.default);
}

/** Where the build writes an encoding's rank table, for the installed gpt-tokenizer. */
export function ranksFile(encoding: Encoding): string {
  const { version } = createRequire(import.meta.url)('gpt-tokenizer/package.json') as { version: string };
  return join(packageRoot, 'dist', 'tokenizer', `${encoding}.${version}.bin`);
}

export default async function count(task: CountTask | CollectTask): Promise<number[]> {
  if ('collect' in task) {
    collectGarbage();
    return [];
  }
  const counter = await counterFor(task.encoding);
  return task.texts.map((text) => counter(text));
}
