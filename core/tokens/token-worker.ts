/**
 * The tokenizer, in a piscina worker thread: counting a 100k-token conversation takes tens of
 * milliseconds, which must never block the event loop. An encoding's tables (tens of MB) load on
 * its first use in each worker, so only the encodings in use cost memory; the pool's warm-up
 * loads the default one at start-up. Text is counted segment by segment (long-runs.ts), so a
 * pathological run of one character class costs linear time rather than quadratic.
 *
 * gpt-tokenizer ships each encoding's ranks as a JavaScript module of 200k string literals.
 * Compiling that module costs a worker ~20 MB more resident memory than the ranks themselves
 * (the parser's memory stays with the allocator) and ~100 ms. The build therefore also writes
 * the ranks as JSON (`dist/tokenizer/<encoding>.<gpt-tokenizer version>.json`, bin/build.js),
 * and a worker builds the encoding from that, exactly as the module does (`getEncodingApi` with
 * the same ranks); without a build for the installed version it imports the module.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { collectGarbage } from '../full-gc.ts';
import { packageRoot } from '../package-root.ts';
import { segments } from './long-runs.ts';

export type Encoding = 'o200k_base' | 'cl100k_base';

export interface CountTask {
  encoding: Encoding;
  texts: string[];
}

/** Give back memory: after loading an encoding (the text it was read from is garbage then), and when the router is idle. */
export interface CollectTask {
  collect: true;
}

type Counter = (text: string, options: { disallowedSpecial: Set<string> }) => number;

const loaded = new Map<Encoding, Promise<Counter>>();

function counterFor(encoding: Encoding): Promise<Counter> {
  let counter = loaded.get(encoding);
  if (!counter) {
    counter = load(encoding);
    loaded.set(encoding, counter);
  }
  return counter;
}

async function load(encoding: Encoding): Promise<Counter> {
  const file = ranksFile(encoding);
  if (existsSync(file)) {
    const ranks = JSON.parse(readFileSync(file, 'utf8')) as Array<string | number[]>;
    const { GptEncoding } = await import('gpt-tokenizer/esm/GptEncoding');
    const api = GptEncoding.getEncodingApi(encoding, () => ranks);
    return (text, options) => api.countTokens(text, options);
  }
  return encoding === 'cl100k_base' ? (await import('gpt-tokenizer/encoding/cl100k_base')).countTokens : (await import('gpt-tokenizer/encoding/o200k_base')).countTokens;
}

/** Where the build writes an encoding's ranks as JSON, for the installed gpt-tokenizer. */
export function ranksFile(encoding: Encoding): string {
  const { version } = createRequire(import.meta.url)('gpt-tokenizer/package.json') as { version: string };
  return join(packageRoot, 'dist', 'tokenizer', `${encoding}.${version}.json`);
}

// Text that happens to contain `<|endoftext|>` is counted as text (tiktoken's disallowed_special=()),
// never refused: clients send code and docs about tokenizers.
const asText = { disallowedSpecial: new Set<string>() };

export default async function count(task: CountTask | CollectTask): Promise<number[]> {
  if ('collect' in task) {
    collectGarbage();
    return [];
  }
  const counter = await counterFor(task.encoding);
  return task.texts.map((text) => {
    let tokens = 0;
    for (const segment of segments(text)) tokens += counter(segment, asText);
    return tokens;
  });
}
