/**
 * Every token family against what its provider actually billed for recorded requests (each
 * response's usage in test/fixtures/providers/<provider>/, each request in its .meta.json). The
 * recorder shortened long strings to a prefix and their length; they are rebuilt by repeating the
 * prefix, which is what those requests did (padding sentences repeated).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import pino from 'pino';
import t, { type Test } from 'tap';
import type { CanonicalRequest, Dialect } from '../../core/canonical.ts';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';
import { geminiCodec } from '../../core/dialects/gemini/index.ts';
import { openaiCodec } from '../../core/dialects/openai/index.ts';
import { encodingFor, tokenFamilyFor, type TokenFamilyName } from '../../core/tokens/families.ts';
import { TokenCounter } from '../../core/tokens/token-counter.ts';
import { fixturesDir } from '../helpers/fixtures.ts';

interface Recorded {
  file: string;
  request: CanonicalRequest;
  dialect: Dialect;
  billed: number;
}

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

/** Input tokens the provider billed, cached ones included. */
function billedOf(answer: string): number {
  const one = (name: string) => Number(new RegExp(`"${name}":\\s*(\\d+)`).exec(answer)?.[1] ?? 0);
  return one('input_tokens') + one('cache_read_input_tokens') + one('cache_creation_input_tokens') + one('prompt_tokens') + one('promptTokenCount');
}

/** Recorded requests with their billed usage, from provider directories whose requests we can parse. */
function recorded(providers: string[]): Recorded[] {
  const out: Recorded[] = [];
  for (const provider of providers) {
    const dir = `${fixturesDir}providers/${provider}/`;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.meta.json'))) {
      const meta = JSON.parse(readFileSync(dir + file, 'utf8')) as { request?: { url?: string; body?: Record<string, unknown> } };
      const body = meta.request?.body;
      if (!body) continue;
      const answerFile = ['.json', '.sse'].map((ext) => dir + file.replace('.meta.json', ext)).find((path) => existsSync(path));
      const billed = answerFile ? billedOf(readFileSync(answerFile, 'utf8')) : 0;
      if (billed === 0) continue;
      const url = meta.request?.url ?? '';
      const full = rebuild(body) as Record<string, unknown>;
      // Gemini names the model in the URL, not the body.
      if (body.contents) out.push({ file: `${provider}/${file}`, dialect: 'gemini', billed, request: { ...geminiCodec.parseRequest(full), model: /models\/([^:/]+)/.exec(url)?.[1] ?? '' } });
      else if (url.includes('/v1/messages')) out.push({ file: `${provider}/${file}`, dialect: 'anthropic', billed, request: anthropicCodec.parseRequest(full) });
      else if (body.messages) out.push({ file: `${provider}/${file}`, dialect: 'openai', billed, request: openaiCodec.parseRequest(full) });
    }
  }
  return out;
}

async function check(t: Test, family: TokenFamilyName, cases: Recorded[], within: (billed: number) => number): Promise<void> {
  const counter = new TokenCounter({ log: pino({ level: 'silent' }), workers: 1 });
  t.teardown(() => counter.close());
  for (const c of cases) {
    t.equal(tokenFamilyFor(c.request.model, c.dialect).name, family, `${c.file}: ${c.request.model} is counted as ${family}`);
    const count = await counter.count(c.request, { family, encoding: encodingFor(c.request.model) });
    t.ok(Math.abs(count.tokens - c.billed) <= within(c.billed), `${c.file}: counted ${count.tokens}, billed ${c.billed}`);
  }
}

t.test('OpenAI: plain chat exactly, tool definitions within 5%', async (t) => {
  const cases = recorded(['openai']);
  t.ok(cases.length >= 6, `${cases.length} recorded requests`);
  await check(t, 'openai', cases, (billed) => Math.max(1, Math.ceil(billed * 0.05)));
  const counter = new TokenCounter({ log: pino({ level: 'silent' }), workers: 1 });
  t.teardown(() => counter.close());
  const plain = cases.find((c) => c.file.endsWith('stream-text-include-usage.meta.json'))!;
  t.equal((await counter.count(plain.request, { family: 'openai' })).tokens, plain.billed, 'a system and a user message: exactly what gpt-4o billed');
});

t.test('Claude: the estimate is within 20% (or 40 tokens) of what Anthropic billed', async (t) => {
  // Server tools (web search) bring prompts of their own that the estimate does not model.
  const cases = recorded(['anthropic']).filter((c) => !c.request.tools.some((tool) => tool.server));
  t.ok(cases.length >= 7, `${cases.length} recorded requests`);
  await check(t, 'claude', cases, (billed) => Math.max(40, billed * 0.2));
});

t.test('Gemini: the estimate is within 25% (or 20 tokens) of what Google billed', async (t) => {
  const cases = recorded(['gemini', 'gemini-openai-compat']);
  t.ok(cases.length >= 7, `${cases.length} recorded requests`);
  await check(t, 'gemini', cases, (billed) => Math.max(20, billed * 0.25));
});
