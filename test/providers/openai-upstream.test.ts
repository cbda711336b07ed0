/**
 * An Anthropic client (and an OpenAI client) through the router to an OpenAI-compatible upstream
 * replaying recorded responses: translation both ways with exact text, stop reasons and usage.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { fixtureReply, fixtureText } from '../helpers/fixtures.ts';
import { mockUpstream, type UpstreamHandler } from '../helpers/mock-upstream.ts';
import { startTestRouter } from '../helpers/router.ts';

const upstreamKey = 'sk-test-upstream-0123456789abcdef';

async function setup(t: Test, handler: UpstreamHandler) {
  const upstream = await mockUpstream(handler);
  t.teardown(() => upstream.close());
  const router = await startTestRouter(t, `
providers:
  up:
    use: openai
    base_url: ${upstream.url}/v1
    api_key: \${UP_KEY}
    models: [gpt-4o]
pipeline:
  - use: router
    with: { default: up/gpt-4o }
`, { env: { UP_KEY: upstreamKey } });
  return { upstream, ...router, anthropic: new Anthropic({ baseURL: router.url, apiKey: 'client', maxRetries: 0 }) };
}

// The recorded stream's text, in order.
const recordedText = fixtureText('providers/openai/stream-text-include-usage.sse')
  .split('\n')
  .filter((l) => l.startsWith('data: {'))
  .map((l) => JSON.parse(l.slice(6)).choices[0]?.delta?.content ?? '')
  .join('');

t.test('an Anthropic streaming request is translated to Chat Completions and the answer back, exactly', async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply('providers/openai/stream-text-include-usage.sse', { chunking: 'events' }));
  const stream = anthropic.messages.stream({ model: 'claude-sonnet-4-6', max_tokens: 300, system: 'You are dog Researcher.', stop_sequences: ['\nObservation:'], messages: [{ role: 'user', content: 'Give me an analysis around dog.' }] });
  const message = await stream.finalMessage();
  t.equal(message.content.length, 1);
  t.match(message.content[0], { type: 'text', text: recordedText });
  t.equal(recordedText, "Thought: I now can give a great answer  \nFinal Answer: Dogs are loyal companions, often considered a human's best friend.");
  t.equal(message.stop_reason, 'end_turn');
  t.match(message.usage, { input_tokens: 176, output_tokens: 26, cache_read_input_tokens: 0 });
  t.equal(message.model, 'gpt-4o-2024-08-06', 'the model that really answered');

  const sent = upstream.requests[0];
  t.equal(sent.url, '/v1/chat/completions');
  t.equal(sent.headers.authorization, `Bearer ${upstreamKey}`);
  t.same(sent.json, {
    model: 'gpt-4o',
    messages: [
      { role: 'system', content: 'You are dog Researcher.' },
      { role: 'user', content: 'Give me an analysis around dog.' },
    ],
    max_tokens: 300,
    stop: ['\nObservation:'],
    stream: true,
    stream_options: { include_usage: true },
  });
});

t.test('the Anthropic event sequence is well formed', async (t) => {
  const { url } = await setup(t, () => fixtureReply('providers/openai/stream-text-include-usage.sse', { chunking: 'events' }));
  const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /text\/event-stream/);
  const text = await res.body.text();
  const names = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  t.equal(names[0], 'message_start');
  t.equal(names[1], 'content_block_start');
  t.same(names.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  t.ok(names.slice(2, -3).every((n) => n === 'content_block_delta'));
  const delta = JSON.parse(/event: message_delta\ndata: (.*)\n/.exec(text)![1]);
  t.same(delta, { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { input_tokens: 176, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 26 } });
});

t.test('an upstream stream cut every few bytes (inside lines and UTF-8 characters) arrives intact', async (t) => {
  const chunk = (content: string, extra = '') => `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]${extra}}\n\n`;
  const body =
    chunk('Grüße, ') + chunk('世界 ') + chunk('🦀!') +
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n' +
    'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}\n\ndata: [DONE]\n\n';
  for (const size of [1, 3, 7]) {
    const { anthropic } = await setup(t, () => ({ headers: { 'content-type': 'text/event-stream' }, body, chunking: size }));
    const message = await anthropic.messages.stream({ model: 'x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
    t.match(message.content[0], { type: 'text', text: 'Grüße, 世界 🦀!' }, `cut every ${size} bytes`);
    t.match(message.usage, { input_tokens: 9, output_tokens: 4 });
  }
});

t.test('a non-streaming Anthropic request gets the translated complete answer', async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  const message = await anthropic.messages.create({ model: 'x', max_tokens: 100, messages: [{ role: 'user', content: 'Capital of France?' }] });
  t.match(message, {
    id: /^msg_[0-9a-f]{32}$/, // the router's own unique id, never the upstream's (Claude Code merges messages by id)
    type: 'message',
    role: 'assistant',
    model: 'o1-mini-2024-09-12',
    content: [{ type: 'text', text: 'The capital of France is **Paris**.' }],
    stop_reason: 'end_turn',
    usage: { input_tokens: 14, output_tokens: 84 },
  });
  t.equal(upstream.requests[0].json.stream, false);
  t.notOk('stream_options' in upstream.requests[0].json);
});

t.test('an OpenAI client gets the upstream answer and usage through the router', async (t) => {
  const { url } = await setup(t, () => fixtureReply('providers/openai/stream-text-include-usage.sse', { chunking: 'events' }));
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'client', maxRetries: 0 });
  const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'dog' }] });
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    usage = chunk.usage ?? usage;
  }
  t.equal(text, recordedText);
  t.match(usage, { prompt_tokens: 176, completion_tokens: 26, total_tokens: 202 });
});

t.test("an upstream 400 reaches the client as a 400 in its dialect, with the upstream's message", async (t) => {
  const { anthropic } = await setup(t, () => fixtureReply('providers/openai/error-400-unsupported-parameter.json'));
  const err = await anthropic.messages.create({ model: 'x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
  t.ok(err instanceof Anthropic.BadRequestError);
  t.match(err, { status: 400, error: { error: { type: 'invalid_request_error', message: /up answered 400: Unsupported parameter: 'stop' is not supported/ } } });
});

t.test("an upstream refusing the router's key is a 502 for the client, and the key never leaks", async (t) => {
  const { url, logText } = await setup(t, () => ({ status: 401, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${upstreamKey}`, type: 'invalid_request_error' } }) }));
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 502);
  const text = await res.body.text();
  t.match(text, /up answered 401: Incorrect API key provided: \[redacted\]/);
  t.notMatch(text, upstreamKey);
  t.notMatch(logText(), upstreamKey);
});

t.test('an upstream 429 keeps its meaning and its retry-after', async (t) => {
  const { url } = await setup(t, () => ({ status: 429, headers: { 'content-type': 'application/json', 'retry-after': '7' }, body: '{"error":{"message":"Rate limit reached","type":"requests"}}' }));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 429);
  t.equal(res.headers['retry-after'], '7');
  t.match(await res.body.json(), { type: 'error', error: { type: 'rate_limit_error', message: /Rate limit reached/ } });
});

t.test('an unreachable upstream is a 502 naming the provider', async (t) => {
  const upstream = await mockUpstream(() => ({ body: '{}' }));
  const dead = upstream.url;
  await upstream.close();
  const { url } = await startTestRouter(t, `providers:\n  up:\n    use: openai\n    base_url: ${dead}/v1\n    models: [m]\n`);
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'up/m', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 502);
  t.match(await res.body.json(), { type: 'error', error: { type: 'api_error', message: /Could not reach up: ECONNREFUSED/ } });
});

t.test('an error in the middle of the upstream stream reaches the Anthropic client as an error event', async (t) => {
  const { url } = await setup(t, () => fixtureReply('providers/openrouter/stream-error-midstream.sse', { chunking: 'events' }));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 200);
  const text = await res.body.text();
  t.match(text, /event: message_start/);
  t.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"invalid_request_error","message":"Token limit reached"\},"request_id":"req_\w+"\}/);
  t.notMatch(text, /message_stop/);
});

t.test('a client that disconnects mid-stream aborts the upstream request', async (t) => {
  const body = Array.from({ length: 200 }, (_, i) => `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"w${i} "},"finish_reason":null}]}\n\n`).join('');
  const { url, upstream } = await setup(t, () => ({ headers: { 'content-type': 'text/event-stream' }, body, chunking: 'events', delayMs: 20 }));
  const controller = new AbortController();
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }), signal: controller.signal });
  let received = 0;
  await t.rejects(
    (async () => {
      for await (const chunk of res.body) {
        received += chunk.length;
        if (received > 500) controller.abort();
      }
    })(),
  );
  const deadline = Date.now() + 3000;
  while (upstream.aborted === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(upstream.aborted, 1, 'the upstream saw its response abandoned long before the 4 s it would take');
});

t.test('what translation cannot carry is reported in x-router-dropped', async (t) => {
  const { url } = await setup(t, () => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  const res = await request(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'x', max_tokens: 5, top_k: 3, system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }], context_management: { edits: [] }, messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-router-dropped'], 'cache_control, top_k, context_management');
  await res.body.dump();
});

t.test("an upstream error inside the stream is scrubbed of the router's key and a credential failure becomes a 502", async (t) => {
  const errorChunk = `data: {"error":{"message":"Invalid key ${upstreamKey} for org","code":401}}\n\n`;
  const content = 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n';
  // Before any content: an ordinary error response.
  const early = await setup(t, () => ({ headers: { 'content-type': 'text/event-stream' }, body: errorChunk }));
  const res = await request(`${early.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 502);
  const text = await res.body.text();
  t.match(text, /Invalid key \[redacted\] for org/);
  t.notMatch(text, upstreamKey);
  // After content: an in-stream error, scrubbed too, for both client dialects (the OpenAI one is a passthrough).
  const late = await setup(t, () => ({ headers: { 'content-type': 'text/event-stream' }, body: content + errorChunk, chunking: 'events' }));
  for (const [path, body] of [
    ['/v1/messages', { model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }],
    ['/v1/chat/completions', { model: 'x', stream: true, messages: [{ role: 'user', content: 'hi' }] }],
  ] as const) {
    const r = await request(`${late.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const streamed = await r.body.text();
    t.match(streamed, /\[redacted\]/, path);
    t.notMatch(streamed, upstreamKey, path);
  }
  t.notMatch(early.logText() + late.logText(), upstreamKey);
});

t.test('a reload while a request body is still uploading does not break that request', async (t) => {
  const r = await setup(t, () => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  const { PassThrough } = await import('node:stream');
  const body = new PassThrough();
  const json = JSON.stringify({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
  const pending = request(`${r.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  body.write(json.slice(0, 10));
  await new Promise((resolve) => setTimeout(resolve, 100));
  // A new generation with different provider options: the old one's pool is retired once drained.
  r.writeConfig(`providers:\n  up:\n    use: openai\n    base_url: ${r.upstream.url}/v1\n    api_key: other\n    connections: 3\n    models: [gpt-4o]\npipeline:\n  - use: router\n    with: { default: up/gpt-4o }\n`);
  t.match(await r.router.reload(), { ok: true });
  await new Promise((resolve) => setTimeout(resolve, 100));
  body.end(json.slice(10));
  const res = await pending;
  t.equal(res.statusCode, 200);
  t.match(await res.body.json(), { content: [{ text: 'The capital of France is **Paris**.' }] });
});

t.test('every answer an Anthropic client gets has its own message id, even when the upstream repeats or omits one', async (t) => {
  const chunk = (id: string) => `data: {"id":"${id}","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n`;
  let n = 0;
  const { anthropic } = await setup(t, () => ({ headers: { 'content-type': 'text/event-stream' }, body: chunk(n++ % 2 === 0 ? 'chatcmpl-273' : '') }));
  const ids = new Set<string>();
  for (let i = 0; i < 4; i++) ids.add((await anthropic.messages.stream({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).finalMessage()).id);
  t.equal(ids.size, 4);
  for (const id of ids) t.match(id, /^msg_[0-9a-f]{32}$/);
});

t.test('parallel calls sent all at index 0 with distinct ids (Ollama /v1, SGLang) stay separate calls', async (t) => {
  const call = (id: string, name: string, args: string) => `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"${id}","type":"function","function":{"name":"${name}","arguments":${JSON.stringify(args)}}}]},"finish_reason":null}]}\n\n`;
  const body = call('call_aaa', 'Read', '{"file":"hello.py"}') + call('call_bbb', 'Read', '{"file":"world.py"}') + 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\ndata: [DONE]\n\n';
  const { anthropic } = await setup(t, () => ({ headers: { 'content-type': 'text/event-stream' }, body, chunking: 'events' }));
  const message = await anthropic.messages.stream({ model: 'x', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
  t.match(message.content, [{ type: 'tool_use', id: 'call_aaa', input: { file: 'hello.py' } }, { type: 'tool_use', id: 'call_bbb', input: { file: 'world.py' } }]);
});

t.test('an Anthropic client gets content blocks one after another, never overlapping', async (t) => {
  const { url } = await setup(t, () => fixtureReply('providers/openai/stream-parallel-tool-calls.sse', { chunking: 'events' }));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  const events = [...(await res.body.text()).matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]) as { type: string; index?: number });
  let open: number | undefined;
  for (const e of events) {
    if (e.type === 'content_block_start') {
      t.equal(open, undefined, `block ${e.index} starts while block ${open} is open`);
      open = e.index;
    } else if (e.type === 'content_block_delta') t.equal(e.index, open);
    else if (e.type === 'content_block_stop') open = undefined;
  }
});

t.test("a model's max_output_tokens lowers what the client asked for, and says so", async (t) => {
  const upstream = await mockUpstream(() => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  t.teardown(() => upstream.close());
  const { url } = await startTestRouter(t, `providers:\n  up:\n    use: openai\n    base_url: ${upstream.url}/v1\n    models: [{ name: small, max_output_tokens: 8192, thinking: false }]\n`);
  for (const body of [
    { path: '/v1/messages', json: { model: 'up/small', max_tokens: 128000, thinking: { type: 'enabled', budget_tokens: 31999 }, messages: [{ role: 'user', content: 'hi' }] } },
    { path: '/v1/chat/completions', json: { model: 'up/small', max_tokens: 128000, messages: [{ role: 'user', content: 'hi' }] } },
  ]) {
    const res = await request(`${url}${body.path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body.json) });
    t.equal(res.statusCode, 200);
    t.match(res.headers['x-router-dropped'], /max_tokens/);
    await res.body.dump();
  }
  t.equal(upstream.requests[0].json.max_tokens, 8192);
  t.notOk('reasoning_effort' in upstream.requests[0].json || 'thinking' in upstream.requests[0].json);
  t.equal(upstream.requests[1].json.max_tokens, 8192, 'also for a passthrough client, whose body is rebuilt');
});
