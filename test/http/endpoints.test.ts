import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { mockConfig, startTestRouter } from '../helpers/router.ts';

const anthropicBody = { model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };

t.test('GET /health answers with the live generation', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const res = await request(`${url}/health`);
  t.equal(res.statusCode, 200);
  t.match(await res.body.json(), { status: 'ok', generation: 1 });
});

t.test('HEAD / answers 200 (Claude Code checks its base URL this way)', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const res = await request(`${url}/`, { method: 'HEAD' });
  t.equal(res.statusCode, 200);
  await res.body.dump();
});

t.test('GET /v1/models lists configured models in the dialect asked for', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const openai = await (await request(`${url}/v1/models`)).body.json();
  t.match(openai, { object: 'list', data: [{ id: 'mock/mock-fast', object: 'model', owned_by: 'mock' }, { id: 'mock/mock-smart' }] });
  const anthropic = await (await request(`${url}/v1/models`, { headers: { 'anthropic-version': '2023-06-01' } })).body.json();
  t.match(anthropic, { data: [{ type: 'model', id: 'mock/mock-fast' }, { id: 'mock/mock-smart' }], has_more: false, first_id: 'mock/mock-fast', last_id: 'mock/mock-smart' });
});

t.test('POST /v1/messages/count_tokens answers locally with the exact counter (an estimate for Claude models)', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const count = async (body: Record<string, unknown>) => {
    const res = await request(`${url}/v1/messages/count_tokens?beta=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    t.equal(res.statusCode, 200);
    return ((await res.body.json()) as { input_tokens: number }).input_tokens;
  };
  const messages = [{ role: 'user', content: 'hello world' }];
  // o200k_base: "hello world" is 2 tokens; OpenAI frames a message with 4 (its role included) and
  // primes the reply with 3. An older model is counted in its own encoding (cl100k_base).
  t.equal(await count({ model: 'gpt-4o', messages }), 2 + 4 + 3);
  const japanese = [{ role: 'user', content: '日本語の文章です' }];
  t.equal(await count({ model: 'gpt-4', messages: japanese }), 7 + 4 + 3, 'cl100k_base for gpt-4');
  t.equal(await count({ model: 'gpt-4o', messages: japanese }), 5 + 4 + 3, 'o200k_base for gpt-4o');
  const text = 'Please explain what Python is and its main use cases. '.repeat(100);
  const claude = await count({ model: 'claude-sonnet-4-5', system: 'You are a helpful assistant.', messages: [{ role: 'user', content: text }] });
  // Anthropic billed 1,114 input tokens for this request (test/fixtures/providers/anthropic/count-tokens).
  t.ok(Math.abs(claude - 1114) < 1114 * 0.1, `within 10% of Anthropic's own count, got ${claude}`);
});

t.test('malformed JSON gets a 400 in the Anthropic shape, and the next request still works', async (t) => {
  const { url, logs } = await startTestRouter(t, mockConfig);
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "x", "messages": [' });
  t.equal(res.statusCode, 400);
  const id = res.headers['request-id'];
  t.equal(res.headers['x-request-id'], id);
  const body = (await res.body.json()) as any;
  t.match(body, { type: 'error', error: { type: 'invalid_request_error', message: /not valid JSON/ }, request_id: id });
  t.ok(logs.some((l) => l.reqId === id && l.status === 400), 'the log line carries the same request id');

  const ok = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(anthropicBody) });
  t.equal(ok.statusCode, 200);
  t.match(await ok.body.json(), { type: 'message', content: [{ type: 'text' }] });
});

t.test('malformed JSON gets a 400 in the OpenAI shape on /v1/chat/completions', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'not json' });
  t.equal(res.statusCode, 400);
  t.match(await res.body.json(), { error: { type: 'invalid_request_error', message: /not valid JSON/, code: 'RK_BAD_JSON', request_id: res.headers['x-request-id'] } });
});

t.test('a body over the limit gets a 413 in the client dialect', async (t) => {
  const { url } = await startTestRouter(t, 'server:\n  body_limit: 2kb\n' + mockConfig);
  const big = JSON.stringify({ ...anthropicBody, messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
  const a = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
  t.equal(a.statusCode, 413);
  t.match(await a.body.json(), { type: 'error', error: { type: 'request_too_large', message: /2048 bytes/ } });
  const o = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
  t.equal(o.statusCode, 413);
  t.match(await o.body.json(), { error: { code: 'RK_BODY_TOO_LARGE' } });
});

t.test('a body that grows past the limit while streaming in (no content-length) gets a 413', async (t) => {
  const { url } = await startTestRouter(t, 'server:\n  body_limit: 1kb\n' + mockConfig);
  const body = Readable.from((function* chunks() {
    for (let i = 0; i < 20; i++) yield Buffer.from('x'.repeat(200));
  })());
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  t.equal(res.statusCode, 413);
  await res.body.dump();
});

t.test('a structurally wrong request names the field in a 400', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'x', messages: [{ role: 'robot', content: 'hi' }] }) });
  t.equal(res.statusCode, 400);
  t.match(await res.body.json(), { error: { type: 'invalid_request_error', message: 'messages[0].role: must be "user", "assistant" or "system"' } });
});

t.test('unknown paths get a 404 and wrong methods a 405, in the dialect of the path', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const missing = await request(`${url}/v1/embeddings`, { method: 'POST', body: '{}' });
  t.equal(missing.statusCode, 404);
  t.match(await missing.body.json(), { error: { type: 'not_found_error', message: 'No endpoint POST /v1/embeddings' } });
  const wrong = await request(`${url}/v1/messages`);
  t.equal(wrong.statusCode, 405);
  t.match(await wrong.body.json(), { type: 'error', error: { type: 'invalid_request_error' } });
});

t.test('with auth keys configured, requests need one of them (x-api-key or Bearer)', async (t) => {
  const { url, logText } = await startTestRouter(t, 'server:\n  auth:\n    keys: ["${ROUTER_KEY}"]\n' + mockConfig, { env: { ROUTER_KEY: 'rk-secret-0123456789' } });
  const body = JSON.stringify(anthropicBody);
  const headers = { 'content-type': 'application/json' };
  const none = await request(`${url}/v1/messages`, { method: 'POST', headers, body });
  t.equal(none.statusCode, 401);
  t.match(await none.body.json(), { type: 'error', error: { type: 'authentication_error' } });
  const wrong = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { ...headers, authorization: 'Bearer nope' }, body: JSON.stringify({ model: 'x', messages: [] }) });
  t.equal(wrong.statusCode, 401);
  t.match(await wrong.body.json(), { error: { type: 'authentication_error' } });
  const apiKey = await request(`${url}/v1/messages`, { method: 'POST', headers: { ...headers, 'x-api-key': 'rk-secret-0123456789' }, body });
  t.equal(apiKey.statusCode, 200);
  await apiKey.body.dump();
  const bearer = await request(`${url}/v1/messages`, { method: 'POST', headers: { ...headers, authorization: 'Bearer rk-secret-0123456789' }, body });
  t.equal(bearer.statusCode, 200);
  await bearer.body.dump();
  const health = await request(`${url}/health`);
  t.equal(health.statusCode, 200, 'health stays open for load balancers');
  await health.body.dump();
  t.notMatch(logText(), /rk-secret-0123456789/, 'the key never reaches the log');
});

t.test('a model no provider serves gets a 404 naming the configured models (no router in the pipeline)', async (t) => {
  const { url } = await startTestRouter(t, 'providers:\n  mock:\n    use: mock\n    models: [m1]\n');
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'gpt-9', messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(res.statusCode, 404);
  t.match(await res.body.json(), { error: { type: 'not_found_error', message: 'No provider serves model "gpt-9" (configured: mock/m1)' } });
  const explicit = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'mock,m1', messages: [{ role: 'user', content: 'hi' }] }) });
  t.equal(explicit.statusCode, 200);
  t.equal(explicit.headers['x-router-route'], 'mock/m1; reason=explicit');
  await explicit.body.dump();
});

t.test('a `provider,model` naming no configured provider is refused, not silently defaulted', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const res = await request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...anthropicBody, model: 'nope,x' }) });
  t.equal(res.statusCode, 404);
  t.match(await res.body.json(), { error: { type: 'not_found_error', message: 'Route names provider "nope", which is not configured (providers: mock)' } });
});

t.test('a 405 names the allowed method', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const res = await request(`${url}/v1/chat/completions`);
  t.equal(res.statusCode, 405);
  t.equal(res.headers.allow, 'POST');
  await res.body.dump();
});

t.test('JSON nested too deeply for the router to walk gets a 400, not a 500', async (t) => {
  const { url } = await startTestRouter(t, mockConfig);
  const deep = '{"a":'.repeat(100000) + '1' + '}'.repeat(100000);
  const body = `{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"t","input_schema":${deep}}]}`;
  for (const path of ['/v1/messages', '/v1/messages/count_tokens']) {
    const res = await request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    t.equal(res.statusCode, 400, path);
    t.match(await res.body.json(), { error: { type: 'invalid_request_error', message: /nested too deeply/ } });
  }
});

t.test('a client that goes away is logged as a closed client (499), not as a router failure', async (t) => {
  const { url, logs } = await startTestRouter(t, 'providers:\n  mock:\n    use: mock\n    models: [m]\n    latency: 2s\npipeline:\n  - use: router\n    with: { default: mock/m }\n');
  const controller = new AbortController();
  const pending = request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(anthropicBody), signal: controller.signal });
  setTimeout(() => controller.abort(), 200);
  await t.rejects(pending);
  const { waitFor } = await import('../helpers/wait.ts');
  const line = await waitFor(() => logs.find((l) => l.path === '/v1/messages'), 3000, 'the log line');
  t.match(line, { status: 499, code: 'RK_CLIENT_CLOSED', level: 30 });
});
