/**
 * The official Anthropic and OpenAI SDKs through a real router to provider.gemini, whose upstream
 * is a mock Gemini API replaying the recorded fixtures: text, thinking, function calls (and the
 * signatures that must come back on the next turn), usage, errors, and the exact URL, key header
 * and body Gemini receives.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { SseReader } from '../../../core/sse.ts';
import { fixtureJson, fixtureReply, fixtureText } from '../../helpers/fixtures.ts';
import { mockUpstream, type UpstreamHandler } from '../../helpers/mock-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

const key = 'AIzaSy-test-0123456789abcdefghij';
const dir = 'providers/gemini/';

async function setup(t: Test, handler: UpstreamHandler, extra = '') {
  const upstream = await mockUpstream(handler);
  t.teardown(() => upstream.close());
  const router = await startTestRouter(t, `
providers:
  gem:
    use: gemini
    base_url: ${upstream.url}/v1beta
    api_key: \${GEMINI_KEY}
${extra}    models: [gemini-2.5-flash]
pipeline:
  - use: router
    with: { default: gem/gemini-2.5-flash }
`, { env: { GEMINI_KEY: key } });
  return {
    upstream,
    ...router,
    anthropic: new Anthropic({ baseURL: router.url, apiKey: 'client', maxRetries: 0 }),
    openai: new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'client', maxRetries: 0 }),
  };
}

/** Replies in order, one per upstream request. */
const replies = (...list: Array<ReturnType<typeof fixtureReply>>): UpstreamHandler => {
  let i = 0;
  return () => list[Math.min(i++, list.length - 1)];
};

t.test('an Anthropic stream is answered from a Gemini SSE stream cut at any byte, exactly', async (t) => {
  for (const chunking of ['events', 1, 7] as const) {
    const { anthropic, upstream } = await setup(t, () => fixtureReply(dir + 'stream-text.sse', { chunking }));
    const message = await anthropic.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 300, temperature: 0, system: 'You are a helpful chatbot.', messages: [{ role: 'user', content: 'What is the capital of France?' }] }).finalMessage();
    t.same(message.content.map((b) => b.type === 'text' && b.text), ['The capital of France is Paris.\n'], `chunking ${chunking}`);
    t.equal(message.stop_reason, 'end_turn');
    t.match(message.usage, { input_tokens: 13, output_tokens: 8, cache_read_input_tokens: 0 });
    t.equal(message.model, 'gemini-2.0-flash-exp', 'the model that really answered');
    const sent = upstream.requests[0];
    t.equal(sent.url, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    t.equal(sent.headers['x-goog-api-key'], key);
    t.equal(sent.headers.authorization, undefined);
    t.equal(sent.headers.accept, 'text/event-stream');
    t.same(sent.json, {
      contents: [{ role: 'user', parts: [{ text: 'What is the capital of France?' }] }],
      systemInstruction: { parts: [{ text: 'You are a helpful chatbot.' }] },
      generationConfig: { maxOutputTokens: 300, temperature: 0 },
    });
  }
});

t.test('a non-streaming request calls generateContent and gets the complete answer', async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply(dir + 'generate-content-text-thought-signature.json'));
  const message = await anthropic.messages.create({ model: 'x', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
  t.match(message, { type: 'message', role: 'assistant', model: 'gemini-3-pro-preview', content: [{ type: 'text', text: 'Hello! How can I help you today?' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 213 } });
  t.equal(message.content.length, 1);
  t.equal(upstream.requests[0].url, '/v1beta/models/gemini-2.5-flash:generateContent');
  t.equal(upstream.requests[0].headers.accept, 'application/json');
  t.same(upstream.requests[0].json, { contents: [{ role: 'user', parts: [{ text: 'Say hello' }] }], generationConfig: { maxOutputTokens: 64 } });
});

t.test("a signed function call is assembled by the Anthropic SDK and its signature comes back on the next turn", async (t) => {
  const recorded = ssePayloads(fixtureText(dir + 'stream-function-call-thought-signature.sse'))[0].candidates[0].content.parts[0].thoughtSignature;
  const { anthropic, upstream } = await setup(t, replies(fixtureReply(dir + 'stream-function-call-thought-signature.sse', { chunking: 'events' }), fixtureReply(dir + 'generate-content-text-thought-signature.json')));
  const tools = [{ name: 'get_country', description: 'The user country', input_schema: { type: 'object' as const, properties: {}, additionalProperties: false } }];
  const question = { role: 'user' as const, content: 'What is the capital of the user country? Call the tool' };
  const json: string[] = [];
  const stream = anthropic.messages.stream({ model: 'x', max_tokens: 1000, tools, messages: [question] });
  stream.on('inputJson', (delta) => json.push(delta));
  const message = await stream.finalMessage();
  t.match(message.content, [{ type: 'tool_use', name: 'get_country', input: {} }]);
  t.equal(message.content.length, 1);
  t.same(json, ['{}']);
  t.equal(message.stop_reason, 'tool_use');
  t.match(message.usage, { input_tokens: 29, output_tokens: 212 });
  t.same(upstream.requests[0].json.tools, [{ functionDeclarations: [{ name: 'get_country', description: 'The user country', parameters: { type: 'object', properties: {} } }] }]);

  const call = message.content[0] as Anthropic.ToolUseBlock;
  await anthropic.messages.create({ model: 'x', max_tokens: 1000, tools, messages: [question, { role: 'assistant', content: message.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Japan' }] }] });
  const next = upstream.requests[1].json;
  const [sentCall] = next.contents[1].parts;
  t.same(next.contents[1].parts, [{ functionCall: { name: 'get_country', args: {}, id: sentCall.functionCall.id }, thoughtSignature: recorded }], 'the recorded signature, not the sentinel');
  t.notMatch(sentCall.functionCall.id, /__rks_/, 'Gemini sees the clean id');
  t.same(next.contents[2], { role: 'user', parts: [{ functionResponse: { name: 'get_country', response: { result: 'Japan' }, id: sentCall.functionCall.id } }] });
});

t.test('parallel calls reach an OpenAI client, and unsigned calls go back with the sentinel', async (t) => {
  const { openai, upstream } = await setup(t, replies(fixtureReply(dir + 'stream-function-call-parallel.sse', { chunking: 3 }), fixtureReply(dir + 'generate-content-text-thought-signature.json')));
  const tools = [{ type: 'function' as const, function: { name: 'get_current_temperature', description: 'Get the current temperature in a city.', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the temperature in Paris and London?' }];
  const completion = await openai.chat.completions.stream({ model: 'x', tools, messages, stream_options: { include_usage: true } }).finalChatCompletion();
  const choice = completion.choices[0];
  t.equal(choice.finish_reason, 'tool_calls');
  const calls = choice.message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
  t.same(calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)]), [['get_current_temperature', { city: 'Paris' }], ['get_current_temperature', { city: 'London' }]]);
  t.not(calls[0].id, calls[1].id);
  t.match(completion.usage, { prompt_tokens: 37, completion_tokens: 14, total_tokens: 51 });

  await openai.chat.completions.create({ model: 'x', tools, messages: [...messages, choice.message as OpenAI.ChatCompletionMessageParam, ...calls.map((c, i) => ({ role: 'tool' as const, tool_call_id: c.id, content: ['18°C', '12°C'][i] }))] });
  const next = upstream.requests[1].json;
  t.same(next.contents[1], {
    role: 'model',
    parts: [
      { functionCall: { name: 'get_current_temperature', args: { city: 'Paris' }, id: calls[0].id }, thoughtSignature: 'skip_thought_signature_validator' },
      { functionCall: { name: 'get_current_temperature', args: { city: 'London' }, id: calls[1].id } },
    ],
  });
  t.same(next.contents[2], {
    role: 'user',
    parts: [
      { functionResponse: { name: 'get_current_temperature', response: { result: '18°C' }, id: calls[0].id } },
      { functionResponse: { name: 'get_current_temperature', response: { result: '12°C' }, id: calls[1].id } },
    ],
  });
});

t.test('a complete answer with three calls keeps the first call signed through an OpenAI client', async (t) => {
  const body = fixtureJson(dir + 'generate-content-function-call-parallel.json');
  const { openai, upstream } = await setup(t, replies(fixtureReply(dir + 'generate-content-function-call-parallel.json'), fixtureReply(dir + 'generate-content-text-thought-signature.json')));
  const tools = ['one', 'two', 'three'].map((n) => ({ type: 'function' as const, function: { name: `parallel_local_search_${n}`, parameters: { type: 'object', properties: { query: { type: 'string' } } } } }));
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Search three times.' }];
  const completion = await openai.chat.completions.create({ model: 'x', tools, messages });
  const calls = completion.choices[0].message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
  t.same(calls.map((c) => c.function.name), ['parallel_local_search_one', 'parallel_local_search_two', 'parallel_local_search_three']);
  t.equal(completion.choices[0].finish_reason, 'tool_calls');
  t.match(completion.usage, { prompt_tokens: 291, completion_tokens: 137, completion_tokens_details: { reasoning_tokens: 67 } });

  await openai.chat.completions.create({ model: 'x', tools, messages: [...messages, completion.choices[0].message as OpenAI.ChatCompletionMessageParam, ...calls.map((c) => ({ role: 'tool' as const, tool_call_id: c.id, content: 'ok' }))] });
  const parts = upstream.requests[1].json.contents[1].parts;
  t.equal(parts[0].thoughtSignature, body.candidates[0].content.parts[0].thoughtSignature);
  t.notOk('thoughtSignature' in parts[1] || 'thoughtSignature' in parts[2], 'only the first call carries one, as Gemini sent it');
});

t.test('an OpenAI streaming client gets text and usage with thinking counted as completion', async (t) => {
  const { openai } = await setup(t, () => fixtureReply(dir + 'stream-usage-thoughts-count.sse', { chunking: 'events' }));
  const stream = await openai.chat.completions.create({ model: 'x', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Count from 1 to 30.' }] });
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    usage = chunk.usage ?? usage;
  }
  t.equal(text, Array.from({ length: 30 }, (_, i) => i + 1).join('\n'));
  t.match(usage, { prompt_tokens: 18, completion_tokens: 115, total_tokens: 133, completion_tokens_details: { reasoning_tokens: 35 } });
});

t.test('Gemini thoughts reach an Anthropic client as a thinking block before the text', async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply(dir + 'stream-thinking.sse', { chunking: 'events' }));
  const message = await anthropic.messages.stream({ model: 'x', max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 2048 }, messages: [{ role: 'user', content: 'How do I cross the street?' }] }).finalMessage();
  t.same(message.content.map((b) => b.type), ['thinking', 'text']);
  t.match(message.content[0], { type: 'thinking', thinking: /^\*\*Clarifying User Goals\*\*/ });
  t.match(message.content[1], { type: 'text', text: /^This is a great question!/ });
  t.match(message.usage, { input_tokens: 34, output_tokens: 1256 });
  t.same(upstream.requests[0].json.generationConfig, { maxOutputTokens: 4000, thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 } });
});

t.test('an upstream 429 before the stream reaches the Anthropic client as a 429 rate_limit_error', async (t) => {
  const { anthropic, openai } = await setup(t, () => fixtureReply(dir + 'error-429-resource-exhausted.json'));
  const err = await anthropic.messages.stream({ model: 'x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage().catch((e: unknown) => e);
  t.ok(err instanceof Anthropic.RateLimitError);
  t.match(err, { status: 429, error: { error: { type: 'rate_limit_error', message: /gem answered 429: Resource exhausted/ } } });
  const openaiErr = await openai.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
  t.ok(openaiErr instanceof OpenAI.RateLimitError);
});

t.test("a refused key answered to a streaming call as plain JSON is the router's failure (502), with Google's message", async (t) => {
  const { url } = await setup(t, () => fixtureReply(dir + 'error-400-api-key-invalid-on-stream.json'));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 502);
  t.match(await res.body.json(), { type: 'error', error: { type: 'api_error', message: /gem answered 400: API key not valid/ } });
});

t.test('an error chunk in the middle of the stream reaches the Anthropic client as an error event', async (t) => {
  const body = fixtureText(dir + 'stream-text.sse').split('\r\n\r\n')[0] + '\r\n\r\ndata: {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}\r\n\r\n';
  const { url } = await setup(t, () => ({ headers: { 'content-type': 'text/event-stream' }, body, chunking: 'events' }));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 200);
  const text = await res.body.text();
  t.match(text, /"text":"The"/);
  t.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"overloaded_error","message":"[^"]*The model is overloaded\.[^"]*"\}/);
  t.notMatch(text, /message_stop/);
});

t.test('what Gemini cannot carry is reported in x-router-dropped', async (t) => {
  const { url, upstream } = await setup(t, () => fixtureReply(dir + 'generate-content-text-thought-signature.json'));
  const res = await request(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'x', max_tokens: 5, metadata: { user_id: 'u1' }, system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }], messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-router-dropped'], 'cache_control, metadata.user_id');
  await res.body.dump();
  t.same(upstream.requests[0].json.systemInstruction, { parts: [{ text: 'sys' }] });
});

t.test('schema_mode json_schema and a key pool are honoured', async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply(dir + 'generate-content-text-thought-signature.json'), '    schema_mode: json_schema\n    keys: [first-key-000000, second-key-00000]\n');
  const schema = { type: 'object' as const, properties: { q: { type: 'string', format: 'uri' } }, additionalProperties: false };
  await anthropic.messages.create({ model: 'x', max_tokens: 5, tools: [{ name: 'f', input_schema: schema }], messages: [{ role: 'user', content: 'hi' }] });
  t.same(upstream.requests[0].json.tools, [{ functionDeclarations: [{ name: 'f', parametersJsonSchema: schema }] }]);
  t.equal(upstream.requests[0].headers['x-goog-api-key'], 'first-key-000000');
});

/** The JSON payloads of an SSE body, as the recording holds them. */
function ssePayloads(text: string): any[] {
  const sse = new SseReader();
  return [...sse.push(text), ...sse.end()].map((ev) => JSON.parse(ev.data));
}

t.test("Google's RetryInfo becomes retry-after, and a refused key is the router's problem (502)", async (t) => {
  const { fixtureReply } = await import('../../helpers/fixtures.ts');
  const { mockUpstream } = await import('../../helpers/mock-upstream.ts');
  const { startTestRouter } = await import('../../helpers/router.ts');
  const { request } = await import('undici');
  for (const [fixture, status, retryAfter] of [['error-429-retry-info.json', 429, '35'], ['error-400-api-key-invalid-on-stream.json', 502, undefined]] as const) {
    const upstream = await mockUpstream(() => fixtureReply(`providers/gemini/${fixture}`, { status: fixture.includes('429') ? 429 : 400 }));
    t.teardown(() => upstream.close());
    const { url } = await startTestRouter(t, `providers:\n  g:\n    use: gemini\n    base_url: ${upstream.url}/v1beta\n    models: [m]\n`);
    const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'g/m', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
    t.equal(res.statusCode, status, fixture);
    t.equal(res.headers['retry-after'], retryAfter);
    await res.body.dump();
  }
});
