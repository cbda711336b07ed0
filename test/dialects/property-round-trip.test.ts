/**
 * Property tests: arbitrary canonical requests and answers survive a trip through each dialect's
 * wire format and back, for everything the dialect can express.
 */
import { deepStrictEqual } from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import type { CanonicalRequest, CanonicalResponse, Message } from '../../core/canonical.ts';
import { messageToEvents } from '../../core/canonical-stream.ts';
import type { DialectCodec } from '../../core/dialects/codec.ts';
import { anthropicCodec } from '../../core/dialects/anthropic/index.ts';
import { geminiCodec } from '../../core/dialects/gemini/index.ts';
import { ollamaCodec } from '../../core/dialects/ollama/index.ts';
import { openaiCodec } from '../../core/dialects/openai/index.ts';
import { canonicalAnswer, canonicalRequest } from '../helpers/arbitraries.ts';
import { collect, readStream } from '../helpers/wire.ts';

const runs = { numRuns: 300 };

function buildThenParse(codec: DialectCodec<any>, request: CanonicalRequest, options: Record<string, unknown> = {}): CanonicalRequest {
  const dropped: string[] = [];
  const wire = codec.buildRequest(request, { model: request.model, source: codec.dialect, dropped: (f: string) => dropped.push(f), ...options });
  if (dropped.length > 0) throw new Error(`unexpected drops: ${dropped.join(', ')}`);
  return codec.parseRequest(JSON.parse(JSON.stringify(wire)));
}

/** Streams an answer through a dialect's writer and reader, as bytes cut at random places. */
async function throughStream(codec: DialectCodec<any>, answer: CanonicalResponse, cut: number): Promise<CanonicalResponse> {
  const writer = codec.createStreamWriter({ model: 'm', system: [], messages: [], tools: [], stream: true, extras: {} }, { stream_options: { include_usage: true } });
  let wire = '';
  for (const event of messageToEvents(answer)) wire += writer.write(event);
  wire += writer.end?.() ?? '';
  return collect(readStream(codec, wire, cut));
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

t.test('Gemini: requests survive build → wire → parse', async (t) => {
  const arb = canonicalRequest({ cacheControl: false, images: true, reasoningOrigin: 'gemini', multiSystem: true, mixedToolResults: true, toolResultErrors: true, multiText: true, midSystem: false, topK: true, alternating: true, user: false });
  fc.assert(fc.property(arb, (request) => deepStrictEqual(buildThenParse(geminiCodec, request, { signatureFallback: false }), normalizeGemini(request))), runs);
  t.pass(`${runs.numRuns} arbitrary requests round-tripped`);
});

t.test('Gemini: answers survive render → wire → parse, whole and streamed', async (t) => {
  const arb = canonicalAnswer({ stopReasons: ['end_turn', 'max_tokens', 'content_filter'], reasoningOrigin: 'gemini', reasoningSigned: true, cacheWrite: false, multiText: false });
  await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 1, max: 64 }), async (answer, cut) => {
    const expected = normalizeGeminiAnswer(answer);
    deepStrictEqual(geminiCodec.parseMessage(JSON.parse(JSON.stringify(geminiCodec.renderMessage(answer, undefined as never, {})))), expected);
    deepStrictEqual(await throughStream(geminiCodec, answer, cut), expected);
  }), { numRuns: 200 });
  t.pass('200 arbitrary answers round-tripped');
});

t.test('Ollama: answers survive render → wire → parse, whole and streamed', async (t) => {
  const arb = canonicalAnswer({ stopReasons: ['end_turn', 'max_tokens'], reasoningOrigin: 'ollama', reasoningSigned: false, cacheWrite: false, multiText: false });
  await fc.assert(fc.asyncProperty(arb, fc.integer({ min: 1, max: 64 }), async (answer, cut) => {
    const expected = normalizeOllamaAnswer(answer);
    // Ollama answers carry no id; the reader makes one up.
    deepStrictEqual({ ...ollamaCodec.parseMessage(JSON.parse(JSON.stringify(ollamaCodec.renderMessage(answer, undefined as never, {})))), id: answer.id }, expected);
    deepStrictEqual({ ...(await throughStream(ollamaCodec, answer, cut)), id: answer.id }, expected);
  }), { numRuns: 200 });
  t.pass('200 arbitrary answers round-tripped');
});

// What each dialect's wire form cannot tell apart, stated once per dialect.

/** Gemini keeps model and stream in the URL and flattens tool-result blocks. */
function normalizeGemini(request: CanonicalRequest): CanonicalRequest {
  const out = structuredClone(request);
  out.model = '';
  out.stream = false;
  out.messages = out.messages.map((m) => ({ ...m, content: m.content.map((p) => (p.type === 'tool_result' && typeof p.content !== 'string' ? { ...p, content: p.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n\n') } : p)) }));
  return out;
}

/** Gemini has no stop reason for a call; it is implied by the calls. Usage has no cache writes. */
function normalizeGeminiAnswer(answer: CanonicalResponse): CanonicalResponse {
  const calls = answer.content.some((p) => p.type === 'tool_call');
  const usage = { ...answer.usage };
  if (!usage.cacheReadTokens) delete usage.cacheReadTokens;
  return { ...answer, stopReason: calls && answer.stopReason === 'end_turn' ? 'tool_use' : answer.stopReason, stopSequence: null, usage };
}

/** Ollama counts all prompt tokens together, has no reasoning count, and implies tool_use by the calls. */
function normalizeOllamaAnswer(answer: CanonicalResponse): CanonicalResponse {
  const calls = answer.content.some((p) => p.type === 'tool_call');
  const { inputTokens, outputTokens, cacheReadTokens = 0, cacheWriteTokens = 0 } = answer.usage;
  return { ...answer, stopReason: calls && answer.stopReason === 'end_turn' ? 'tool_use' : answer.stopReason, stopSequence: null, usage: { inputTokens: inputTokens + cacheReadTokens + cacheWriteTokens, outputTokens } };
}

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
