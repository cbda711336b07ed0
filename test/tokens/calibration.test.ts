/**
 * The Claude estimate against what Anthropic actually billed for recorded requests
 * (test/fixtures/providers/anthropic: each response's usage, each request in its .meta.json). The
 * recorder shortened long strings to a prefix and their length; they are rebuilt by repeating the
 * prefix, which is what those requests did (padding sentences repeated).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import pino from 'pino';
import t from 'tap';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';
import { TokenCounter } from '../../core/tokens/token-counter.ts';
import { fixturesDir } from '../helpers/fixtures.ts';

const dir = `${fixturesDir}providers/anthropic/`;

function rebuild(value: unknown): unknown {
  if (typeof value === 'string') {
    const cut = /^(.*)\.\.\.\[request string truncated by extractor: (\d+) chars\]$/s.exec(value);
    if (!cut) return value;
    const sentence = cut[1].slice(0, cut[1].indexOf('. ') + 2) || cut[1];
    return sentence.repeat(Math.ceil(Number(cut[2]) / sentence.length)).slice(0, Number(cut[2]));
  }
  if (Array.isArray(value)) return value.map(rebuild);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rebuild(v)]));
  return value;
}

t.test('the Claude estimate is within 20% (or 40 tokens) of what Anthropic billed', async (t) => {
  const counter = new TokenCounter({ log: pino({ level: 'silent' }), workers: 1 });
  t.teardown(() => counter.close());
  let checked = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.meta.json'))) {
    const meta = JSON.parse(readFileSync(dir + file, 'utf8')) as { request?: { body?: { messages?: unknown; tools?: Array<{ type?: string }> } } };
    const body = meta.request?.body;
    if (!body?.messages) continue;
    // Server tools (web search) bring prompts of their own that the estimate does not model.
    if (body.tools?.some((tool) => tool.type !== undefined && tool.type !== 'custom')) continue;
    const answer = [file.replace('.meta.json', '.json'), file.replace('.meta.json', '.sse')].find((f) => existsSync(dir + f));
    const text = answer ? readFileSync(dir + answer, 'utf8') : '';
    const usage = ['input_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'].map((name) => Number(new RegExp(`"${name}":\\s*(\\d+)`).exec(text)?.[1] ?? 0));
    const billed = usage[0] + usage[1] + usage[2];
    if (billed === 0) continue;
    const estimate = await counter.count(anthropicCodec.parseRequest(rebuild(body) as Record<string, unknown>), { claude: true });
    const off = Math.abs(estimate.tokens - billed);
    t.ok(off <= Math.max(40, billed * 0.2), `${file}: estimated ${estimate.tokens}, billed ${billed}`);
    checked++;
  }
  t.ok(checked >= 6, `${checked} recorded requests checked`);
});
