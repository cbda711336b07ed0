/**
 * The tokenizer, in a piscina worker thread: counting a 100k-token conversation takes tens of
 * milliseconds, which must never block the event loop. An encoding's tables (tens of MB) load on
 * its first use in each worker, so only the encodings in use cost memory; the pool's warm-up
 * loads the default one at start-up. Text is counted segment by segment (long-runs.ts), so a
 * pathological run of one character class costs linear time rather than quadratic.
 */
import { collectGarbage } from '../full-gc.ts';
import { segments } from './long-runs.ts';

export type Encoding = 'o200k_base' | 'cl100k_base';

export interface CountTask {
  encoding: Encoding;
  texts: string[];
}

/** Give back memory: after loading an encoding (its module's source is garbage then), and when the router is idle. */
export interface CollectTask {
  collect: true;
}

type Counter = (text: string, options: { disallowedSpecial: Set<string> }) => number;

const loaded = new Map<Encoding, Promise<Counter>>();

function counterFor(encoding: Encoding): Promise<Counter> {
  let counter = loaded.get(encoding);
  if (!counter) {
    counter = encoding === 'cl100k_base' ? import('gpt-tokenizer/encoding/cl100k_base').then((m) => m.countTokens) : import('gpt-tokenizer/encoding/o200k_base').then((m) => m.countTokens);
    loaded.set(encoding, counter);
  }
  return counter;
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
