/**
 * The official Anthropic and OpenAI SDKs through a real router to provider.ollama, whose upstream
 * is a mock Ollama replaying the recorded /api/chat fixtures (whole and cut at odd byte sizes):
 * text, tool calls, thinking, usage, errors before and during the stream, and the exact body
 * Ollama receives.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { compileSchema } from '../../../core/config/ajv.ts';
import ollamaProvider from '../../../plugins/providers/ollama/index.ts';
import { fixtureReply, fixtureText } from '../../helpers/fixtures.ts';
import { mockUpstream, type UpstreamHandler } from '../../helpers/mock-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';

async function setup(t: Test, handler: UpstreamHandler, extra = '') {
  const upstream = await mockUpstream(handler);
  t.teardown(() => upstream.close());
  const router = await startTestRouter(t, `
providers:
  local:
    use: ollama
    base_url: ${upstream.url}
${extra}    models: [llama3.2]
pipeline:
  - use: router
    with: { default: local/llama3.2 }
`);
  return {
    upstream,
    ...router,
    anthropic: new Anthropic({ baseURL: router.url, apiKey: 'client', maxRetries: 0 }),
    openai: new OpenAI({ baseURL: `${router.url}/v1`, apiKey: 'client', maxRetries: 0 }),
  };
}

const ndjson = (...lines: object[]): string => lines.map((l) => JSON.stringify(l) + '\n').join('');
const streamed = (body: string, chunking: number | 'whole' = 'whole') => ({ headers: { 'content-type': 'application/x-ndjson' }, body, chunking });
const tailText = ' these times of day.';
const notFound = () => ({ status: 404, headers: { 'content-type': 'application/json' }, body: `{"error":"model 'x' not found"}` });

t.test('an Anthropic stream is answered from an Ollama NDJSON stream cut at any byte, exactly', async (t) => {
  for (const size of [1, 3, 7, 64]) {
    const { anthropic, upstream } = await setup(t, () => fixtureReply('providers/ollama/chat-stream-tail.ndjson', { chunking: size }));
    const message = await anthropic.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 300, system: 'Be poetic.', stop_sequences: ['\nEnd'], messages: [{ role: 'user', content: 'Say something.' }] }).finalMessage();
    t.equal(message.content.length, 1);
    t.match(message.content[0], { type: 'text', text: tailText }, `cut every ${size} bytes`);
    t.equal(message.stop_reason, 'end_turn');
    t.match(message.usage, { input_tokens: 10, output_tokens: 239 });
    t.equal(message.model, 'phi3', 'the model that really answered');
    const sent = upstream.requests[0];
    t.equal(sent.url, '/api/chat');
    t.same(sent.json, {
      model: 'llama3.2',
      messages: [{ role: 'system', content: 'Be poetic.' }, { role: 'user', content: 'Say something.' }],
      options: { num_predict: 300, stop: ['\nEnd'] },
      stream: true,
    });
  }
});

t.test('a non-streaming Anthropic request asks Ollama not to stream and gets the complete answer', async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply('providers/ollama/chat.json'));
  const message = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'Hello' }] });
  t.match(message, { type: 'message', role: 'assistant', model: 'llama3.2', content: [{ type: 'text', text: 'Hello! How are you today?' }], stop_reason: 'end_turn', usage: { input_tokens: 26, output_tokens: 298 } });
  t.equal(message.content.length, 1);
  t.match(message.id, /^msg_[0-9a-f]{32}$/, 'the router gives Anthropic clients its own unique message id');
  t.same(upstream.requests[0].json, { model: 'llama3.2', messages: [{ role: 'user', content: 'Hello' }], options: { num_predict: 50 }, stream: false });
  t.equal(upstream.requests[0].headers.accept, 'application/json');
});

t.test("a streamed tool call is assembled by the Anthropic SDK's stream helper", async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply('providers/ollama/chat-stream-tool-call.ndjson', { chunking: 5 }));
  const tool = { name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } };
  const stream = anthropic.messages.stream({ model: 'x', max_tokens: 100, tools: [tool], messages: [{ role: 'user', content: 'Weather in Tokyo?' }] });
  const json: string[] = [];
  stream.on('inputJson', (delta) => json.push(delta));
  const message = await stream.finalMessage();
  t.match(message.content, [{ type: 'tool_use', name: 'get_weather', input: { city: 'Tokyo' }, id: /^call_0_/ }]);
  t.same(json, ['{"city":"Tokyo"}']);
  t.equal(message.stop_reason, 'tool_use');
  t.match(message.usage, { input_tokens: 169, output_tokens: 15 });
  t.same(upstream.requests[0].json.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: tool.input_schema } }]);
});

t.test("the tool result goes back to Ollama as a tool message named after the router's generated call id", async (t) => {
  let calls = 0;
  const { anthropic, upstream } = await setup(t, () => fixtureReply(++calls === 1 ? 'providers/ollama/chat-tool-call.json' : 'providers/ollama/chat.json'));
  const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }];
  const question = { role: 'user' as const, content: 'Weather in Tokyo?' };
  const first = await anthropic.messages.create({ model: 'x', max_tokens: 100, tools, messages: [question] });
  t.equal(first.stop_reason, 'tool_use');
  const call = first.content[0] as Anthropic.ToolUseBlock;
  await anthropic.messages.create({
    model: 'x',
    max_tokens: 100,
    tools,
    messages: [question, { role: 'assistant', content: first.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: 'Rainy, 18°C' }] }],
  });
  t.same(upstream.requests[1].json.messages, [
    { role: 'user', content: 'Weather in Tokyo?' },
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Tokyo' } } }] },
    { role: 'tool', content: 'Rainy, 18°C', tool_name: 'get_weather' },
  ]);
});

t.test('Ollama thinking reaches an Anthropic client as a thinking block before the text', async (t) => {
  const line = (message: object, done = false) => ({ model: 'qwen3', created_at: '2025-01-01T00:00:00Z', message: { role: 'assistant', content: '', ...message }, done, ...(done ? { done_reason: 'stop', prompt_eval_count: 11, eval_count: 7 } : {}) });
  const body = ndjson(line({ thinking: 'Two plus ' }), line({ thinking: 'two.' }), line({ content: '4' }), line({}, true));
  const { anthropic, upstream } = await setup(t, () => streamed(body, 3));
  const message = await anthropic.messages.stream({ model: 'x', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: '2+2?' }] }).finalMessage();
  t.match(message.content, [{ type: 'thinking', thinking: 'Two plus two.' }, { type: 'text', text: '4' }]);
  t.equal(upstream.requests[0].json.think, true, 'thinking the client enabled is asked for');
});

t.test("Ollama's thinking shown to an Anthropic client goes back to Ollama as thinking on the next turn", async (t) => {
  const answer = { model: 'qwen3', created_at: '2025-01-01T00:00:00Z', message: { role: 'assistant', content: '4', thinking: 'Two plus two.' }, done: true, done_reason: 'stop', prompt_eval_count: 11, eval_count: 7 };
  const { anthropic, upstream } = await setup(t, () => ({ body: JSON.stringify(answer) }));
  const question = { role: 'user' as const, content: '2+2?' };
  const first = await anthropic.messages.create({ model: 'x', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [question] });
  t.match(first.content, [{ type: 'thinking', thinking: 'Two plus two.' }, { type: 'text', text: '4' }]);
  const { response } = await anthropic.messages
    .create({ model: 'x', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [question, { role: 'assistant', content: first.content }, { role: 'user', content: 'And 3+3?' }] })
    .withResponse();
  t.same(upstream.requests[1].json.messages[1], { role: 'assistant', content: '4', thinking: 'Two plus two.' });
  t.equal(response.headers.get('x-router-dropped'), null, 'nothing was lost on the way back');
});

t.test('an OpenAI streaming client gets the text and usage', async (t) => {
  const { openai, upstream } = await setup(t, () => fixtureReply('providers/ollama/chat-stream-tail.ndjson', { chunking: 7 }));
  const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, max_tokens: 64, temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] });
  let text = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta.content ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  t.equal(text, tailText);
  t.equal(finish, 'stop');
  t.match(usage, { prompt_tokens: 10, completion_tokens: 239, total_tokens: 249 });
  t.same(upstream.requests[0].json, { model: 'llama3.2', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 64, temperature: 0.2 }, stream: true });
});

t.test('an OpenAI non-streaming client gets the complete answer', async (t) => {
  const { openai } = await setup(t, () => fixtureReply('providers/ollama/chat.json'));
  const completion = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hello' }] });
  t.equal(completion.choices[0].message.content, 'Hello! How are you today?');
  t.equal(completion.choices[0].finish_reason, 'stop');
  t.match(completion.usage, { prompt_tokens: 26, completion_tokens: 298 });
});

t.test("a streamed tool call is assembled by the OpenAI SDK's stream helper", async (t) => {
  const { openai } = await setup(t, () => fixtureReply('providers/ollama/chat-stream-tool-call.ndjson', { chunking: 3 }));
  const stream = openai.chat.completions.stream({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'Weather in Tokyo?' }],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  });
  const completion = await stream.finalChatCompletion();
  const choice = completion.choices[0];
  t.equal(choice.finish_reason, 'tool_calls');
  t.match(choice.message.tool_calls, [{ type: 'function', id: /^call_0_/, function: { name: 'get_weather', arguments: '{"city":"Tokyo"}' } }]);
});

t.test('an Ollama 404 before the stream reaches an Anthropic client as a 404 not_found_error', async (t) => {
  const { anthropic } = await setup(t, notFound);
  const err = await anthropic.messages.stream({ model: 'x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage().catch((e: unknown) => e);
  t.ok(err instanceof Anthropic.NotFoundError);
  t.match(err, { status: 404, error: { type: 'error', error: { type: 'not_found_error', message: /local answered 404: model 'x' not found/ } } });
});

t.test('an Ollama 404 reaches an OpenAI client as a 404 not_found_error', async (t) => {
  const { openai } = await setup(t, notFound);
  const err = await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
  t.ok(err instanceof OpenAI.NotFoundError);
  t.match(err, { status: 404, error: { type: 'not_found_error', message: /model 'x' not found/ } });
});

t.test('an error line in the middle of the Ollama stream reaches the Anthropic client as an error event', async (t) => {
  const lines = fixtureText('providers/ollama/chat-stream-tail.ndjson').split('\n');
  const body = lines.slice(0, 2).join('\n') + '\n{"error":"an error was encountered while running the model"}\n';
  const { url } = await setup(t, () => streamed(body, 9));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 200);
  const text = await res.body.text();
  t.match(text, /event: message_start/);
  t.match(text, /"text":" these"/);
  t.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"an error was encountered while running the model"\}/);
  t.notMatch(text, /message_stop/);
});

t.test('an error line before any content is an HTTP error the client (or a retry) can act on', async (t) => {
  const { anthropic } = await setup(t, () => streamed('{"error":"model requires more system memory (9.1 GiB) than is available (4.0 GiB)"}\n'));
  const err = await anthropic.messages.stream({ model: 'x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }).finalMessage().catch((e: unknown) => e);
  t.ok(err instanceof Anthropic.APIError);
  t.match(err, { status: 502, error: { error: { type: 'api_error', message: /more system memory/ } } });
});

t.test("configured think, keep_alive, num_ctx and api_key reach Ollama's request", async (t) => {
  const { anthropic, upstream } = await setup(t, () => fixtureReply('providers/ollama/chat.json'), '    think: false\n    keep_alive: 30m\n    num_ctx: 16384\n    api_key: ollama-cloud-key-0123456789\n');
  await anthropic.messages.create({ model: 'x', max_tokens: 20, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'hi' }] });
  const sent = upstream.requests[0];
  t.equal(sent.headers.authorization, 'Bearer ollama-cloud-key-0123456789');
  t.equal(sent.json.think, false);
  t.equal(sent.json.keep_alive, '30m');
  t.same(sent.json.options, { num_predict: 20, num_ctx: 16384 });
});

t.test("Claude Code's adaptive thinking does not switch Ollama's think on", async (t) => {
  const { url, upstream } = await setup(t, () => fixtureReply('providers/ollama/chat.json'));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, thinking: { type: 'adaptive' }, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 200);
  await res.body.dump();
  t.notOk('think' in upstream.requests[0].json);
});

t.test('what Ollama cannot carry is reported in x-router-dropped', async (t) => {
  const { url } = await setup(t, () => fixtureReply('providers/ollama/chat.json'));
  const res = await request(`${url}/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'x',
      max_tokens: 5,
      system: [{ type: 'text', text: 'sys', cache_control: { type: 'ephemeral' } }],
      metadata: { user_id: 'user_abc' },
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }, { type: 'text', text: 'hi' }] }],
    }),
  });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-router-dropped'], 'cache_control, image.url, metadata.user_id');
  await res.body.dump();
});

t.test('the provider defaults to a local Ollama and rejects options it does not know', async (t) => {
  const validate = compileSchema(ollamaProvider.schema!);
  const options: Record<string, unknown> = {};
  t.ok(validate(options));
  t.match(options, { base_url: 'http://127.0.0.1:11434', think: 'auto', connections: 64 });
  t.notOk(validate({ thinkk: true }), 'a misspelt option');
  t.notOk(validate({ think: 'maybe' }));
  t.ok(validate({ think: false, keep_alive: -1, num_ctx: 8192 }));
});
