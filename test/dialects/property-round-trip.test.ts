/**
 * Property tests: arbitrary canonical requests and answers survive a trip through each dialect's
 * wire format and back, for everything the dialect can express.
 */
import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import type { CanonicalRequest, CanonicalResponse, Message, StreamEvent } from '../../core/canonical.ts';
import { collectEvents, messageToEvents } from '../../core/canonical-stream.ts';
import type { DialectCodec } from '../../core/dialects/codec.ts';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';
import { openaiCodec } from '../../core/dialects/openai/index.ts';
import { NdjsonReader } from '../../core/ndjson.ts';
import { SseReader } from '../../core/sse.ts';
import { canonicalAnswer, canonicalRequest } from '../helpers/arbitraries.ts';

const runs = { numRuns: 300 };

function buildThenParse(codec: DialectCodec, request: CanonicalRequest): CanonicalRequest {
  const dropped: string[] = [];
  const wire = codec.buildRequest(request, { model: request.model, source: codec.dialect, dropped: (f) => dropped.push(f) });
  if (dropped.length > 0) throw new Error(`unexpected drops: ${dropped.join(', ')}`);
  return codec.parseRequest(JSON.parse(JSON.stringify(wire)));
}

/** Streams an answer through a dialect's writer and reader, as bytes cut at random places. */
async function throughStream(codec: DialectCodec, answer: CanonicalResponse, cut: number): Promise<CanonicalResponse> {
  const writer = codec.createStreamWriter({ model: 'm', system: [], messages: [], tools: [], stream: true, extras: {} }, { stream_options: { include_usage: true } });
  let wire = '';
  for (const event of messageToEvents(answer)) wire += writer.write(event);
  wire += writer.end?.() ?? '';
  const reader = codec.createStreamReader();
  const events: StreamEvent[] = [];
  const bytes = Buffer.from(wire);
  if (codec.framing === 'sse') {
    const sse = new SseReader();
    for (let i = 0; i < bytes.length; i += cut) for (const e of sse.push(bytes.subarray(i, i + cut))) events.push(...reader.push(e.data, e.event));
    for (const e of sse.end()) events.push(...reader.push(e.data, e.event));
  } else {
    const lines = new NdjsonReader();
    for (let i = 0; i < bytes.length; i += cut) for (const l of lines.push(bytes.subarray(i, i + cut))) events.push(...reader.push(l));
    for (const l of lines.end()) events.push(...reader.push(l));
  }
  events.push(...reader.end());
  return collectEvents((async function* () { yield* events; })());
}

t.test('Anthropic: requests survive build → wire → parse', async (t) => {
  const arb = canonicalRequest({ cacheControl: true, images: true, reasoningOrigin: 'anthropic', multiSystem: true, mixedToolResults: true, toolResultErrors: true, multiText: true, midSystem: true, topK: true });
  fc.assert(fc.property(arb, (request) => deepStrictEqual(buildThenParse(anthropicCodec, request), normalizeAnthropic(request))), runs);
  t.pass(`${runs.numRuns} arbitrary requests round-tripped`);
});

t.test('OpenAI: requests survive build → wire → parse', async (t) => {
  const arb = canonicalRequest({ cacheControl: false, images: true, multiSystem: false, mixedToolResults: false, toolResultErrors: false, multiText: false, midSystem: true, topK: false });
  fc.assert(fc.property(arb, (request) => deepStrictEqual(buildThenParse(openaiCodec, request), normalizeOpenAI(request))), runs);
  t.pass(`${runs.numRuns} arbitrary requests round-tripped`);
});

t.test('Anthropic: answers survive render → wire → parse, whole and streamed', async (t) => {
  const arb = canonicalAnswer({ stopReasons: ['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'refusal', 'pause_turn'], reasoningOrigin: 'anthropic', reasoningSigned: true, cacheWrite: true, multiText: true, toolOrigin: 'anthropic' });
  await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 1, max: 64 }), async (answer, cut) => {
    const expected = { ...answer, usage: { cacheReadTokens: 0, cacheWriteTokens: 0, ...answer.usage } };
    deepStrictEqual(anthropicCodec.parseMessage(JSON.parse(JSON.stringify(anthropicCodec.renderMessage(answer, undefined as never, {})))), expected);
    deepStrictEqual(await throughStream(anthropicCodec, answer, cut), expected);
  }), { numRuns: 200 });
  t.pass('200 arbitrary answers round-tripped');
});

t.test('OpenAI: answers survive render → wire → parse, whole and streamed', async (t) => {
  const arb = canonicalAnswer({ stopReasons: ['end_turn', 'max_tokens', 'tool_use', 'content_filter'], reasoningOrigin: 'openai', reasoningSigned: false, cacheWrite: false, multiText: false });
  await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 1, max: 64 }), async (answer, cut) => {
    const expected = normalizeOpenAIAnswer(answer);
    deepStrictEqual(openaiCodec.parseMessage(JSON.parse(JSON.stringify(openaiCodec.renderMessage(answer, undefined as never, {})))), expected);
    deepStrictEqual(await throughStream(openaiCodec, answer, cut), expected);
  }), { numRuns: 200 });
  t.pass('200 arbitrary answers round-tripped');
});

// What each dialect's wire form cannot tell apart, stated once per dialect.

function normalizeAnthropic(request: CanonicalRequest): CanonicalRequest {
  const out = structuredClone(request);
  if (out.thinking === undefined) delete out.thinking;
  return out;
}

function normalizeOpenAI(request: CanonicalRequest): CanonicalRequest {
  const out = structuredClone(request);
  // One system string; user text parts joined; tool-result blocks flattened to their text.
  if (out.system.length > 0) out.system = [{ type: 'text', text: out.system.map((p) => p.text).join('\n\n') }];
  out.messages = out.messages.map((m): Message => {
    if (m.role === 'system') return { role: 'system', content: [{ type: 'text', text: m.content.map((p) => (p.type === 'text' ? p.text : '')).join('\n\n') }] };
    if (m.role === 'assistant') {
      const text = m.content.filter((p) => p.type === 'text').map((p) => (p.type === 'text' ? p.text : '')).join('');
      const calls = m.content.filter((p) => p.type === 'tool_call');
      return { role: 'assistant', content: [...(text !== '' ? [{ type: 'text' as const, text }] : []), ...calls] };
    }
    const content = m.content.map((p) => (p.type === 'tool_result' && typeof p.content !== 'string' ? { ...p, content: p.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n\n') } : p));
    return { role: 'user', content };
  });
  return out;
}

function normalizeOpenAIAnswer(answer: CanonicalResponse): CanonicalResponse {
  const usage = { ...answer.usage };
  if (!usage.reasoningTokens) delete usage.reasoningTokens;
  return { ...answer, stopSequence: null, usage };
}
