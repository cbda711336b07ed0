/**
 * Edge cases where a faithful translation would be rejected upstream or misread by the client,
 * each found by trying real client traffic against the real APIs' rules.
 */
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { cleanSchema } from '../../core/dialects/gemini/index.ts';
import { fixtureReply } from '../helpers/fixtures.ts';
import { mockUpstream, type UpstreamHandler } from '../helpers/mock-upstream.ts';
import { startTestRouter } from '../helpers/router.ts';

async function setup(t: Test, use: string, base: string, handler: UpstreamHandler) {
  const upstream = await mockUpstream(handler);
  t.teardown(() => upstream.close());
  const router = await startTestRouter(t, `providers:\n  up:\n    use: ${use}\n    base_url: ${upstream.url}${base}\n    models: [m]\n`);
  return { upstream, url: router.url };
}

const post = (url: string, path: string, body: unknown) => request(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

t.test('a body holding the router\'s own markers is translated, not passed through', async (t) => {
  const anthropic = await setup(t, 'anthropic', '', () => fixtureReply('providers/anthropic/message-text.json'));
  const res = await post(anthropic.url, '/v1/messages', {
    model: 'up/m',
    max_tokens: 50,
    messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'thinking', thinking: 'earlier', signature: 'rk1.openai.' }, { type: 'text', text: 'hello' }] }, { role: 'user', content: 'and?' }],
  });
  t.equal(res.statusCode, 200);
  await res.body.dump();
  t.notMatch(anthropic.upstream.requests[0].body, /rk1\./, 'the router-made signature never reaches Anthropic');
  t.match(res.headers['x-router-dropped'], /thinking/);

  const openai = await setup(t, 'openai', '/v1', () => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  const carried = `call_1__rks_gemini_${Buffer.from('sig'.repeat(100)).toString('base64url')}`;
  await (await post(openai.url, '/v1/chat/completions', { model: 'up/m', messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: null, tool_calls: [{ id: carried, type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', tool_call_id: carried, content: 'ok' }] })).body.dump();
  const sent = openai.upstream.requests[0].json;
  t.equal(sent.messages[1].tool_calls[0].id, 'call_1', 'the carried signature is decoded out of the id');
  t.equal(sent.messages[2].tool_call_id, 'call_1');
});

t.test('a body naming the model twice is not passed through with one of them edited', async (t) => {
  const { url, upstream } = await setup(t, 'openai', '/v1', () => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  const body = '{"model":"cheap","messages":[{"role":"user","content":"hi"}],"model":"up/m"}';
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await res.body.dump();
  t.equal(res.headers['x-router-route'], 'up/m; reason=explicit', 'routed by the key JSON.parse keeps: the last');
  t.same(upstream.requests[0].json.model, 'm');
  t.equal((upstream.requests[0].body.match(/"model"/g) ?? []).length, 1, 'the upstream sees one model only');
});

t.test('an OpenAI client asking to reason on a tool turn does not get a certain 400 from Anthropic', async (t) => {
  const { url, upstream } = await setup(t, 'anthropic', '', () => fixtureReply('providers/anthropic/message-text.json'));
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  await client.chat.completions.create({
    model: 'up/m',
    reasoning_effort: 'low',
    messages: [{ role: 'user', content: 'weather?' }, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'w', arguments: '{}' } }] }, { role: 'tool', tool_call_id: 'call_1', content: 'sunny' }],
  });
  t.notOk('thinking' in upstream.requests[0].json, 'thinking left out: the tool turn has no signed thinking block to start with');
  await client.chat.completions.create({ model: 'up/m', reasoning_effort: 'low', max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] });
  t.notOk('thinking' in upstream.requests[1].json, 'no room for the 1024-token minimum budget below max_tokens');
  await client.chat.completions.create({ model: 'up/m', reasoning_effort: 'low', max_tokens: 8000, messages: [{ role: 'user', content: 'hi' }] });
  t.match(upstream.requests[2].json.thinking, { type: 'enabled', budget_tokens: 2048 });
});

t.test('empty text parts are not sent to Anthropic', async (t) => {
  const { url, upstream } = await setup(t, 'anthropic', '', () => fixtureReply('providers/anthropic/message-text.json'));
  await (await post(url, '/v1/chat/completions', { model: 'up/m', messages: [{ role: 'user', content: '' }, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'hi' }] })).body.dump();
  t.same(upstream.requests[0].json.messages, [{ role: 'assistant', content: [{ type: 'text', text: 'ok' }] }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }]);
});

t.test('stop sequences beyond what the upstream accepts are cut and reported', async (t) => {
  const { url, upstream } = await setup(t, 'openai', '/v1', () => fixtureReply('providers/openai/chat-completion-ratelimit-headers.json'));
  const res = await post(url, '/v1/messages', { model: 'up/m', max_tokens: 5, stop_sequences: ['a', 'b', 'c', 'd', 'e', 'f'], messages: [{ role: 'user', content: 'hi' }] });
  await res.body.dump();
  t.same(upstream.requests[0].json.stop, ['a', 'b', 'c', 'd']);
  t.match(res.headers['x-router-dropped'], /stop_sequences/);
});

t.test('Gemini gets an items schema for every array', async (t) => {
  t.same(cleanSchema({ type: 'object', properties: { tags: { type: 'array' }, any: { type: ['array', 'null'] }, loose: { type: 'array', items: true } } }), {
    type: 'object',
    properties: { tags: { type: 'array', items: {} }, any: { type: 'array', items: {}, nullable: true }, loose: { type: 'array', items: {} } },
  });
});

t.test('a tool call without arguments reaches an OpenAI client as "{}"', async (t) => {
  const { url } = await setup(t, 'anthropic', '', () => fixtureReply('providers/anthropic/stream-tool-use-no-args.sse', { chunking: 'events' }));
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  const final = await client.chat.completions.stream({ model: 'up/m', messages: [{ role: 'user', content: 'hi' }] }).finalChatCompletion();
  const call = final.choices[0].message.tool_calls?.[0];
  t.equal(call?.type === 'function' ? call.function.arguments : undefined, '{}');
});
