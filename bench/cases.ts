/**
 * The benchmark cases and the request bodies they send. Each case is measured twice in one run:
 * against the mock upstream directly (with the body the provider would receive) and through the
 * router (with the client's body), so the ratio is the router's cost alone.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CanonicalRequest, Dialect } from '../core/canonical.ts';
import { anthropicCodec } from '../core/dialects/anthropic/index.ts';
import type { DialectCodec } from '../core/dialects/codec.ts';
import { openaiCodec } from '../core/dialects/openai/index.ts';

export interface BenchCase {
  id: string;
  title: string;
  client: 'openai' | 'anthropic';
  /** Router provider name: `oai` (OpenAI-compatible) or `ant` (Anthropic), on the fast or paced mock. */
  provider: 'oai' | 'ant' | 'oaipaced' | 'antpaced';
  mode: 'passthrough' | 'translation';
  stream: boolean;
  connections: number[];
  /** Client bodies; the direct run sends each translated to the provider's dialect. */
  bodies(): Array<Record<string, unknown>>;
}

const codecs: Record<'openai' | 'anthropic', DialectCodec<any>> = { openai: openaiCodec, anthropic: anthropicCodec };

const system = 'You are a careful assistant for a software team. '.repeat(6);
const question = 'Summarise the following notes in three bullet points, keeping every number exact. '.repeat(7);

function small(client: 'openai' | 'anthropic', provider: string, stream: boolean): Record<string, unknown> {
  const model = `${provider}/bench-model`;
  if (client === 'openai') {
    return { model, messages: [{ role: 'system', content: system }, { role: 'user', content: question }], max_tokens: 256, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) };
  }
  return { model, max_tokens: 256, system, messages: [{ role: 'user', content: question }], stream };
}

/** A Claude Code request (recorded shape: system prompt, ~25 tools) grown with tool turns to `bytes`. */
export function claudeCodeBody(bytes: number, turns?: number): Record<string, unknown> {
  const recorded = JSON.parse(readFileSync(fileURLToPath(new URL('../test/fixtures/clients/claude-code/tool-use-03.json', import.meta.url)), 'utf8')) as { body: Record<string, unknown> };
  const body = structuredClone(recorded.body) as { messages: Array<Record<string, unknown>>; stream: boolean };
  body.stream = true;
  const base = Buffer.byteLength(JSON.stringify(body));
  const count = turns ?? Math.max(1, Math.round((bytes - base) / 20_000));
  const size = Math.max(200, Math.floor((bytes - base) / count) - 200);
  for (let i = 0; i < count; i++) {
    const id = `toolu_bench_${String(i).padStart(4, '0')}`;
    body.messages.push({ role: 'assistant', content: [{ type: 'text', text: `Reading part ${i}.` }, { type: 'tool_use', id, name: 'Read', input: { file_path: `/repo/src/part-${i}.ts` } }] });
    body.messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: `// part ${i}\n` + 'export const value = computeSomething(input, options);\n'.repeat(Math.ceil(size / 52)).slice(0, size) }] });
  }
  return body;
}

/** The same conversation, one turn longer in each body: 100 KB growing to 470 KB over 20 turns. */
function growing(): Array<Record<string, unknown>> {
  const full = claudeCodeBody(470_000, 20) as { messages: unknown[] };
  const start = full.messages.length - 40;
  return Array.from({ length: 20 }, (_, turn) => ({ ...full, messages: full.messages.slice(0, start + 2 * (turn + 1)) }));
}

export const benchCases: BenchCase[] = [
  { id: 'small-openai-passthrough', title: 'small, OpenAI client → OpenAI-compatible (passthrough)', client: 'openai', provider: 'oai', mode: 'passthrough', stream: false, connections: [1, 50], bodies: () => [small('openai', 'oai', false)] },
  { id: 'small-anthropic-translation', title: 'small, Anthropic client → OpenAI-compatible (translation)', client: 'anthropic', provider: 'oai', mode: 'translation', stream: false, connections: [1, 50], bodies: () => [small('anthropic', 'oai', false)] },
  { id: 'small-anthropic-passthrough', title: 'small, Anthropic client → Anthropic (passthrough)', client: 'anthropic', provider: 'ant', mode: 'passthrough', stream: false, connections: [1, 50], bodies: () => [small('anthropic', 'ant', false)] },
  { id: 'stream-translation', title: 'stream of 26 events, Anthropic client → OpenAI-compatible (translation)', client: 'anthropic', provider: 'oai', mode: 'translation', stream: true, connections: [1, 50], bodies: () => [small('anthropic', 'oai', true)] },
  { id: 'stream-passthrough', title: 'stream of 26 events, OpenAI client → OpenAI-compatible (passthrough)', client: 'openai', provider: 'oai', mode: 'passthrough', stream: true, connections: [1, 50], bodies: () => [small('openai', 'oai', true)] },
  { id: 'ttfb-translation', title: 'time to first byte, upstream pacing 5 ms/event (translation)', client: 'anthropic', provider: 'oaipaced', mode: 'translation', stream: true, connections: [1, 50], bodies: () => [small('anthropic', 'oaipaced', true)] },
  { id: 'ttfb-passthrough', title: 'time to first byte, upstream pacing 5 ms/event (passthrough)', client: 'openai', provider: 'oaipaced', mode: 'passthrough', stream: true, connections: [1, 50], bodies: () => [small('openai', 'oaipaced', true)] },
  { id: 'coalesced-streams', title: 'identical deterministic streams, paced upstream, coalesced (passthrough)', client: 'openai', provider: 'oaipaced', mode: 'passthrough', stream: true, connections: [50], bodies: () => [{ ...small('openai', 'oaipaced', true), temperature: 0 }] },
  { id: 'claude-code-100kb', title: 'Claude Code request ~100 KB, routed, → OpenAI-compatible (translation)', client: 'anthropic', provider: 'oai', mode: 'translation', stream: true, connections: [4], bodies: () => [claudeCodeBody(100_000)] },
  { id: 'claude-code-470kb', title: 'Claude Code request ~470 KB, routed, → OpenAI-compatible (translation)', client: 'anthropic', provider: 'oai', mode: 'translation', stream: true, connections: [4], bodies: () => [claudeCodeBody(470_000)] },
  { id: 'claude-code-470kb-passthrough', title: 'Claude Code request ~470 KB, routed, → Anthropic (passthrough)', client: 'anthropic', provider: 'ant', mode: 'passthrough', stream: true, connections: [4], bodies: () => [claudeCodeBody(470_000)] },
  { id: 'claude-code-growing', title: 'Claude Code conversation growing 100 → 470 KB over 20 turns (translation)', client: 'anthropic', provider: 'oai', mode: 'translation', stream: true, connections: [4], bodies: growing },
];

/** The path a client of this dialect calls, on the router or (for the provider's dialect) on the mock. */
export function pathOf(dialect: 'openai' | 'anthropic'): string {
  return dialect === 'openai' ? '/v1/chat/completions' : '/v1/messages';
}

export function providerDialect(c: BenchCase): 'openai' | 'anthropic' {
  return c.provider.startsWith('oai') ? 'openai' : 'anthropic';
}

/** What the provider receives for a client body: the same bytes in passthrough, the translation otherwise. */
export function directBody(c: BenchCase, body: Record<string, unknown>): Record<string, unknown> {
  const target = providerDialect(c);
  const request: CanonicalRequest = codecs[c.client].parseRequest(body);
  if (c.client === target) return { ...body, model: 'bench-model' };
  return codecs[target].buildRequest(request, { model: 'bench-model', source: c.client as Dialect, dropped: () => {} });
}

/**
 * The body as the router receives it. Claude Code bodies keep their Claude model name, which the
 * router's default route sends to the OpenAI-compatible provider (routing is exercised); the
 * passthrough variant names `ant/bench-model` explicitly.
 */
export function routed(c: BenchCase, body: Record<string, unknown>): Record<string, unknown> {
  if (!c.id.startsWith('claude-code')) return body;
  return c.provider === 'ant' ? { ...body, model: 'ant/bench-model' } : body;
}
