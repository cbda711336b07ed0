/**
 * The Gemini codec against every recorded Gemini exchange in test/fixtures/providers/gemini:
 * exact text, calls, signatures, stop reasons and usage, as the recordings hold them.
 */
import { readdirSync } from 'node:fs';
import t from 'tap';
import { readStream, collect, ssePayloads } from '../../helpers/wire.ts';
import { geminiCodec } from '../../../core/dialects/gemini/index.ts';
import { isRouterError, routerError } from '../../../core/errors.ts';
import { fixtureJson, fixtureText, fixturesDir } from '../../helpers/fixtures.ts';

const dir = 'providers/gemini/';

t.test('every recorded Gemini body is covered by a test in this file', async (t) => {
  const bodies = readdirSync(fixturesDir + dir).filter((f) => !f.endsWith('.meta.json')).sort();
  t.same(bodies, [
    'error-400-api-key-invalid-on-stream.json',
    'error-429-resource-exhausted.json',
    'error-429-retry-info.json',
    'generate-content-function-call-parallel.json',
    'generate-content-text-thought-signature.json',
    'stream-function-call-parallel.sse',
    'stream-function-call-partial-args.sse',
    'stream-function-call-thought-signature.sse',
    'stream-text.sse',
    'stream-thinking.sse',
    'stream-usage-thoughts-count.sse',
  ]);
});

t.test('a streamed text answer is read exactly, with the usage of the last chunk', async (t) => {
  const events = readStream(geminiCodec, fixtureText(dir + 'stream-text.sse'));
  t.same(events.filter((e) => e.type === 'text_delta').map((e) => (e as { text: string }).text), ['The', ' capital of France', ' is Paris.\n']);
  const message = await collect(events);
  t.same(message, {
    id: 'w1peaMz6INOvnvgPgYfPiQY',
    model: 'gemini-2.0-flash-exp',
    content: [{ type: 'text', text: 'The capital of France is Paris.\n' }],
    stopReason: 'end_turn',
    stopSequence: null,
    usage: { inputTokens: 13, outputTokens: 8 },
  });
});

t.test('a stream cut every byte, inside CRLF separators and UTF-8 characters, reads the same', async (t) => {
  for (const name of ['stream-text.sse', 'stream-thinking.sse', 'stream-function-call-partial-args.sse']) {
    const text = fixtureText(dir + name);
    const whole = await collect(readStream(geminiCodec, text));
    const cut = await collect(readStream(geminiCodec, text, 1));
    t.same(stripIds(cut), stripIds(whole), name);
  }
});

t.test('thought parts become one reasoning part before the answer text, and thinking counts as output', async (t) => {
  const text = fixtureText(dir + 'stream-thinking.sse');
  const events = readStream(geminiCodec, text);
  t.same(events.filter((e) => e.type === 'part_start').map((e) => [e.index, e.part.type]), [[0, 'reasoning'], [1, 'text']]);
  t.notOk(events.some((e) => e.type === 'signature_delta'), 'the signature on the answer text is dropped');
  const message = await collect(events);
  const chunks = ssePayloads(text).map((c) => c.candidates[0].content.parts[0]);
  t.same(message.content, [
    { type: 'reasoning', text: chunks.filter((p) => p.thought).map((p) => p.text).join(''), origin: 'gemini' },
    { type: 'text', text: chunks.filter((p) => !p.thought).map((p) => p.text).join('') },
  ]);
  t.match(message.content[0], { text: /^\*\*Clarifying User Goals\*\*\n\nI'm currently focused/ });
  t.match(message.content[1], { text: /^This is a great question! Safely crossing.*Always assume a driver might not see you\.$/s });
  t.equal(message.stopReason, 'end_turn');
  t.same(message.usage, { inputTokens: 34, outputTokens: 469 + 787, reasoningTokens: 787 });
});

t.test('usage with thoughtsTokenCount is input, candidates plus thoughts, and reasoning', async (t) => {
  const message = await collect(readStream(geminiCodec, fixtureText(dir + 'stream-usage-thoughts-count.sse')));
  t.same(message.content, [{ type: 'text', text: Array.from({ length: 30 }, (_, i) => String(i + 1)).join('\n') }]);
  t.same(message.usage, { inputTokens: 18, outputTokens: 115, reasoningTokens: 35 });
  t.equal(message.model, 'gemini-2.5-flash');
});

t.test('two function calls in one chunk are two tool calls with their own generated ids', async (t) => {
  const events = readStream(geminiCodec, fixtureText(dir + 'stream-function-call-parallel.sse'));
  t.same(events.map((e) => e.type), ['start', 'part_start', 'tool_input_delta', 'part_stop', 'part_start', 'tool_input_delta', 'part_stop', 'finish']);
  const message = await collect(events);
  t.match(message.content, [
    { type: 'tool_call', name: 'get_current_temperature', input: { city: 'Paris' }, id: /^call_[0-9a-f]{24}$/ },
    { type: 'tool_call', name: 'get_current_temperature', input: { city: 'London' }, id: /^call_[0-9a-f]{24}$/ },
  ]);
  t.not((message.content[0] as { id: string }).id, (message.content[1] as { id: string }).id);
  t.notOk('signature' in message.content[0], 'Gemini 2.0 signs nothing');
  t.equal(message.stopReason, 'tool_use', 'STOP with calls is tool_use');
  t.same(message.usage, { inputTokens: 37, outputTokens: 14 });
});

t.test("a streamed call's thoughtSignature is its signature, with origin gemini", async (t) => {
  const text = fixtureText(dir + 'stream-function-call-thought-signature.sse');
  const recorded = ssePayloads(text)[0].candidates[0].content.parts[0].thoughtSignature as string;
  t.match(recorded, /^EpwICpkIAXLI2nx/);
  const events = readStream(geminiCodec, text);
  const start = events.find((e) => e.type === 'part_start');
  t.match(start, { index: 0, part: { type: 'tool_call', name: 'get_country', signature: recorded, origin: 'gemini' } });
  t.same(events.filter((e) => e.type === 'tool_input_delta').map((e) => (e as { json: string }).json), ['{}']);
  const message = await collect(events);
  t.equal(message.content.length, 1, 'the empty text of the last chunk opens no part');
  t.match(message.content[0], { type: 'tool_call', name: 'get_country', input: {}, signature: recorded });
  t.equal(message.stopReason, 'tool_use');
  t.same(message.usage, { inputTokens: 29, outputTokens: 212, reasoningTokens: 202 });
});

t.test('function-call arguments streamed as partialArgs are assembled into whole calls', async (t) => {
  const text = fixtureText(dir + 'stream-function-call-partial-args.sse');
  const recorded = ssePayloads(text)[0].candidates[0].content.parts[0].thoughtSignature as string;
  const events = readStream(geminiCodec, text);
  t.same(events.filter((e) => e.type === 'part_start').map((e) => e.index), [0, 1]);
  const message = await collect(events);
  t.match(message.content, [
    { type: 'tool_call', name: 'getWeather', input: { location: 'Boston' }, signature: recorded },
    { type: 'tool_call', name: 'getWeather', input: { location: 'San Francisco' } },
  ]);
  t.notOk('signature' in message.content[1], 'only the first of the calls is signed');
  t.equal(message.stopReason, 'tool_use');
  t.same(message.usage, { inputTokens: 26, outputTokens: 23 + 132, reasoningTokens: 132 });
});

t.test('a complete answer with three parallel calls keeps the signature on the first only', async (t) => {
  const body = fixtureJson(dir + 'generate-content-function-call-parallel.json');
  const message = geminiCodec.parseMessage(body);
  t.equal(message.id, 'alKWacytCLi5jMcPhISaoAI');
  t.equal(message.model, 'gemini-2.5-flash');
  t.match(message.content, [
    { type: 'tool_call', name: 'parallel_local_search_one', input: { query: 'latest OpenAI model release notes' }, origin: 'gemini', signature: body.candidates[0].content.parts[0].thoughtSignature },
    { type: 'tool_call', name: 'parallel_local_search_two', input: { query: 'latest Anthropic model release notes' } },
    { type: 'tool_call', name: 'parallel_local_search_three', input: { query: 'latest Gemini model release notes' } },
  ]);
  t.notOk('signature' in message.content[1] || 'signature' in message.content[2]);
  t.notOk('origin' in message.content[1] || 'origin' in message.content[2], 'origin says who signed, so unsigned calls have none');
  t.equal(message.stopReason, 'tool_use');
  t.same(message.usage, { inputTokens: 291, outputTokens: 70 + 67, reasoningTokens: 67 });
});

t.test('a thoughtSignature on plain answer text is dropped, the text kept', async (t) => {
  const message = geminiCodec.parseMessage(fixtureJson(dir + 'generate-content-text-thought-signature.json'));
  t.same(message, {
    id: 'kTgtafe4Fabn_uMPzdzJkAM',
    model: 'gemini-3-pro-preview',
    content: [{ type: 'text', text: 'Hello! How can I help you today?' }],
    stopReason: 'end_turn',
    stopSequence: null,
    usage: { inputTokens: 3, outputTokens: 213, reasoningTokens: 204 },
  });
});

t.test('an error body is thrown as a catalog error that keeps its status and meaning', async (t) => {
  // A refused key is the router's own credential failure: a 502 for the client (see errors.md).
  const cases = [
    ['error-400-api-key-invalid-on-stream.json', 400, 502, 'api_error', 'API key not valid. Please pass a valid API key.'],
    ['error-429-resource-exhausted.json', 429, 429, 'rate_limit', 'Resource exhausted. Please try again later.'],
    ['error-429-retry-info.json', 429, 429, 'rate_limit', 'You exceeded your current quota, please check your plan.'],
  ] as const;
  for (const [name, upstream, status, kind, message] of cases) {
    let thrown: unknown;
    try {
      geminiCodec.parseMessage(fixtureJson(dir + name));
    } catch (err) {
      thrown = err;
    }
    t.ok(isRouterError(thrown), name);
    t.match(thrown, { status, kind, message: new RegExp(`gemini answered ${upstream}: ${message.replace(/[.]/g, '\\.')}`) }, name);
  }
});

t.test('an error body arriving as a stream chunk is an error event with its kind and status', async (t) => {
  const reader = geminiCodec.createStreamReader();
  t.same(reader.push(fixtureText(dir + 'error-400-api-key-invalid-on-stream.json')), [
    { type: 'error', error: { kind: 'invalid_request', message: 'API key not valid. Please pass a valid API key.', status: 400 } },
  ]);
  t.same(reader.end(), [], 'nothing follows the error');
  const limited = geminiCodec.createStreamReader().push(fixtureText(dir + 'error-429-retry-info.json'));
  t.match(limited, [{ type: 'error', error: { kind: 'rate_limit', status: 429 } }]);
});

t.test("renderError writes the router's errors in the recorded google.rpc shape", async (t) => {
  const recorded = fixtureJson(dir + 'error-429-resource-exhausted.json');
  const err = routerError('RK_UPSTREAM_ERROR', { provider: 'gemini', upstreamStatus: 429, reason: recorded.error.message }, { status: 429, kind: 'rate_limit' });
  const rendered = geminiCodec.renderError(err, 'req_1');
  t.match(rendered, { error: { code: recorded.error.code, status: recorded.error.status, message: `gemini answered 429: ${recorded.error.message}` } });
  t.same(Object.keys(rendered.error as object).slice(0, 3), Object.keys(recorded.error));
  const invalid = geminiCodec.renderError(routerError('RK_BAD_REQUEST', { reason: 'contents: must be an array' }), 'req_2');
  t.match(invalid, { error: { code: 400, status: fixtureJson(dir + 'error-400-api-key-invalid-on-stream.json').error.status, message: 'contents: must be an array' } });
  t.match(geminiCodec.renderError(routerError('RK_INTERNAL', { reason: 'secret detail' }), 'req_3'), { error: { code: 500, status: 'INTERNAL', message: /^The router failed/ } });
});

function stripIds(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, v) => (key === 'id' && typeof v === 'string' && v.startsWith('call_') ? 'call_*' : v));
}
