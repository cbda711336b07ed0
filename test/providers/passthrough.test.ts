/**
 * Passthrough: a client and a provider of the same dialect. The client's body reaches the upstream
 * byte for byte except the routed model, and the upstream's bytes reach the client untouched.
 */
import Anthropic from '@anthropic-ai/sdk';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { claudeCodeRequest, fixtureReply, fixtureText } from '../helpers/fixtures.ts';
import { mockUpstream, type UpstreamHandler } from '../helpers/mock-upstream.ts';
import { startTestRouter } from '../helpers/router.ts';
import { waitFor } from '../helpers/wait.ts';

const key = 'sk-ant-test-0123456789abcdef';

async function setup(t: Test, use: 'anthropic' | 'openai', handler: UpstreamHandler, extra = '') {
  const upstream = await mockUpstream(handler);
  t.teardown(() => upstream.close());
  const base = use === 'anthropic' ? upstream.url : `${upstream.url}/v1`;
  const router = await startTestRouter(t, `
providers:
  up:
    use: ${use}
    base_url: ${base}
    api_key: ${key}
    models: [{ name: big, upstream: real-model-id }]${extra}
pipeline:
  - use: router
    with: { default: up/big }
`);
  return { upstream, ...router };
}

t.test("Claude Code's request reaches an Anthropic upstream byte for byte except the model", async (t) => {
  const { url, upstream } = await setup(t, 'anthropic', () => fixtureReply('providers/anthropic/stream-thinking.sse', { chunking: 'events' }));
  const recorded = claudeCodeRequest('tool-use-02');
  const sent = JSON.stringify(recorded.body);
  const headers = { ...recorded.headers, 'x-api-key': 'client-key', host: 'x', 'content-length': String(Buffer.byteLength(sent)) };
  delete (headers as Record<string, string>)['accept-encoding'];
  const res = await request(`${url}/v1/messages?beta=true`, { method: 'POST', headers, body: sent });
  t.equal(res.statusCode, 200);
  const answer = await res.body.text();

  const got = upstream.requests[0];
  t.equal(got.url, '/v1/messages');
  t.equal(got.body, sent.replace('"model":"claude-opus-4-8"', '"model":"real-model-id"'), 'identical except the model');
  t.equal(got.headers['x-api-key'], key, "the provider's key, not the client's");
  t.equal(got.headers['anthropic-version'], '2023-06-01');
  t.equal(got.headers['anthropic-beta'], recorded.headers['anthropic-beta'], 'every beta flag passed on');
  t.equal(answer, fixtureText('providers/anthropic/stream-thinking.sse'), 'the answer is the upstream bytes, untouched');
  t.equal(res.headers['x-router-route'], 'up/big; reason=default');
});

t.test('usage is read from a passthrough stream without changing it', async (t) => {
  const { url, logs } = await setup(t, 'anthropic', () => fixtureReply('providers/anthropic/stream-text-cache-read.sse', { chunking: 7 }));
  const client = new Anthropic({ baseURL: url, apiKey: 'c', maxRetries: 0 });
  const message = await client.messages.stream({ model: 'x', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
  const line = await waitFor(() => logs.find((l) => l.path === '/v1/messages'), 2000, 'the log line');
  t.same(line!.usage, { inputTokens: message.usage.input_tokens, outputTokens: message.usage.output_tokens, cacheReadTokens: message.usage.cache_read_input_tokens, cacheWriteTokens: message.usage.cache_creation_input_tokens });
  t.ok(message.usage.cache_read_input_tokens! > 0, 'the recording has cache reads');
});

t.test('an upstream that fails before any content is an ordinary (retryable) error, not a broken stream', async (t) => {
  const { url } = await setup(t, 'anthropic', () => fixtureReply('providers/anthropic/stream-error-overloaded.sse'));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 529);
  t.match(await res.body.json(), { type: 'error', error: { type: 'overloaded_error', message: /Overloaded/ } });
});

t.test('a non-streaming passthrough answer is the upstream JSON, untouched', async (t) => {
  const { url } = await setup(t, 'anthropic', () => fixtureReply('providers/anthropic/message-text.json'));
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(await res.body.text(), fixtureText('providers/anthropic/message-text.json'));
});

t.test("an OpenAI client's stream from an OpenAI-compatible upstream is passed through byte for byte", async (t) => {
  const { url, upstream } = await setup(t, 'openai', () => fixtureReply('providers/openai/stream-tool-call-args-split.sse', { chunking: 5 }));
  const body = '{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"stream":true,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"model":{"type":"string"}}}}}]}';
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.equal(await res.body.text(), fixtureText('providers/openai/stream-tool-call-args-split.sse'));
  t.equal(upstream.requests[0].body, body.replace('"model":"gpt-4o"', '"model":"real-model-id"'), 'only the top-level model changed, not the tool property named "model"');
});

t.test('with passthrough off, an Anthropic client is translated like any other', async (t) => {
  const { url, upstream } = await setup(t, 'anthropic', () => fixtureReply('providers/anthropic/message-text.json'), '\n    passthrough: false');
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', max_tokens: 50, unknown_beta_field: { a: 1 }, messages: [{ role: 'user', content: 'hi' }] }) });
  t.match(await res.body.json(), { type: 'message', content: [{ type: 'text', text: /Hello/ }] });
  t.same(upstream.requests[0].json, { model: 'real-model-id', max_tokens: 50, messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], unknown_beta_field: { a: 1 }, stream: false }, 'a same-dialect translation keeps unknown fields');
});

t.test("passthrough leaves validation to the upstream: its 400 reaches the client in the client's dialect", async (t) => {
  const { url, upstream } = await setup(t, 'anthropic', () => fixtureReply('providers/anthropic/error-400-invalid-request.json'));
  // Valid JSON the router never needs to understand: it reads `model` and `stream`, nothing more.
  const body = '{"model":"x","max_tokens":4096,"output_config":{"effort":"xhigh"},"messages":"not a list"}';
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.equal(res.statusCode, 400);
  t.match(await res.body.json(), { type: 'error', error: { type: 'invalid_request_error', message: /effort level 'xhigh'/ } });
  t.equal(upstream.requests[0].body, body.replace('"model":"x"', '"model":"real-model-id"'));
});

t.test('a body without a usable model is refused by the router, upstream untouched', async (t) => {
  const { url, upstream } = await setup(t, 'openai', () => fixtureReply('providers/openai/stream-tool-call-args-split.sse'));
  for (const body of ['{"messages":[]}', '{"model":42,"messages":[]}', '{"model":"","messages":[]}']) {
    const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    t.equal(res.statusCode, 400, body);
    t.match(await res.body.json(), { error: { type: 'invalid_request_error', message: /model: must be a non-empty string/ } });
  }
  t.equal(upstream.requests.length, 0);
});
