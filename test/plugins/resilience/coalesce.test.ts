/**
 * In-flight coalescing: identical requests share one upstream call; streams are fanned out to every
 * client, late joiners first receiving what was already streamed; a client leaving cancels nobody
 * else, and the upstream call stops only when every client has gone.
 */
import t, { type Test } from 'tap';
import { request } from 'undici';
import { faultUpstream, type FaultOptions } from '../../helpers/fault-upstream.ts';
import { startTestRouter } from '../../helpers/router.ts';
import { waitFor } from '../../helpers/wait.ts';

async function setup(t: Test, upstreamOptions: FaultOptions, mode = 'deterministic', dialect: 'openai' | 'anthropic' = 'openai') {
  const upstream = await faultUpstream({ dialect, ...upstreamOptions });
  t.teardown(() => upstream.close());
  const use = dialect === 'openai' ? `use: openai, base_url: ${upstream.url}/v1` : `use: anthropic, base_url: ${upstream.url}`;
  const router = await startTestRouter(
    t,
    `
server: { admin_key: admin-0123456789 }
providers:
  up: { ${use}, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: coalesce
    with: { mode: ${mode} }
`,
  );
  return { upstream, ...router };
}

function chat(url: string, body: Record<string, unknown>, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return request(`${url}/v1/chat/completions`, { method: 'POST', signal, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'same question' }], ...body }) });
}

t.test('identical deterministic requests in flight share one upstream call and get identical answers', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 150 });
  const responses = await Promise.all(Array.from({ length: 5 }, () => chat(url, { temperature: 0 })));
  const bodies = await Promise.all(responses.map((r) => r.body.text()));
  t.equal(upstream.requests.length, 1, 'one upstream call for five clients');
  t.ok(bodies.every((b) => b === bodies[0]), 'identical answers');
  t.match(JSON.parse(bodies[0]), { object: 'chat.completion' });
  t.same(responses.map((r) => r.headers['x-router-coalesced']).sort(), ['follower', 'follower', 'follower', 'follower', 'leader']);
  t.ok(responses.every((r) => r.headers['x-router-route'] === 'up/m; reason=model'), 'every client sees the route');

  // Once the answer is out, the same request goes upstream again (this is not a cache).
  await (await chat(url, { temperature: 0 })).body.text();
  t.equal(upstream.requests.length, 2);
});

t.test('streams fan out: a late joiner first gets what was already streamed, then follows live', async (t) => {
  const { url, upstream } = await setup(t, { eventDelayMs: 40 });
  const leader = await chat(url, { temperature: 0, stream: true });
  const leaderText = leader.body.text();
  await new Promise((resolve) => setTimeout(resolve, 150)); // a few events in
  const late = await chat(url, { temperature: 0, stream: true });
  const [first, second] = await Promise.all([leaderText, late.body.text()]);
  t.equal(upstream.requests.length, 1);
  t.equal(second, first, 'the late joiner received the complete, identical stream');
  t.match(first, /data: \[DONE\]\n\n$/);
  t.equal(late.headers['x-router-coalesced'], 'follower');
});

t.test('a client that leaves cancels nobody else; the upstream stops only when every client has gone', async (t) => {
  const { url, upstream } = await setup(t, { eventDelayMs: 40 }, 'always');
  const leaving = new AbortController();
  const leader = await chat(url, { stream: true }, {}, leaving.signal);
  leader.body.on('error', () => {});
  const follower = await chat(url, { stream: true });
  await new Promise((resolve) => setTimeout(resolve, 100));
  leaving.abort(); // the leader's client goes away mid-stream
  const text = await follower.body.text();
  t.match(text, /data: \[DONE\]\n\n$/, 'the follower still got the whole stream');
  t.equal(upstream.aborted, 0, 'the upstream call was not cut');

  const a = new AbortController();
  const b = new AbortController();
  const first = await chat(url, { stream: true, messages: [{ role: 'user', content: 'another' }] }, {}, a.signal);
  const second = await chat(url, { stream: true, messages: [{ role: 'user', content: 'another' }] }, {}, b.signal);
  first.body.on('error', () => {});
  second.body.on('error', () => {});
  t.equal(second.headers['x-router-coalesced'], 'follower');
  await new Promise((resolve) => setTimeout(resolve, 80));
  a.abort();
  await new Promise((resolve) => setTimeout(resolve, 80));
  t.equal(upstream.aborted, 0, 'one client still listening');
  b.abort();
  await waitFor(() => upstream.aborted === 1, 3000, 'the upstream call to be aborted');
  t.pass('aborted once the last client left');
});

t.test('requests that may differ are not shared unless they opt in; a shared failure reaches every client', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 100, faults: [] });
  await Promise.all([chat(url, { temperature: 0.7 }), chat(url, { temperature: 0.7 })].map(async (p) => (await p).body.text()));
  t.equal(upstream.requests.length, 2, 'sampling requests each go upstream');
  await Promise.all([chat(url, { temperature: 0.7 }, { 'x-router-coalesce': 'on' }), chat(url, { temperature: 0.7 }, { 'x-router-coalesce': 'on' })].map(async (p) => (await p).body.text()));
  t.equal(upstream.requests.length, 3, 'opted in: shared');
  await Promise.all([chat(url, { temperature: 0 }, { 'x-router-coalesce': 'off' }), chat(url, { temperature: 0 }, { 'x-router-coalesce': 'off' })].map(async (p) => (await p).body.text()));
  t.equal(upstream.requests.length, 5, 'opted out: not shared');

  upstream.faults.push({ status: 503 });
  const failed = await Promise.all([chat(url, { temperature: 0, messages: [{ role: 'user', content: 'boom' }] }), chat(url, { temperature: 0, messages: [{ role: 'user', content: 'boom' }] })]);
  t.same(failed.map((r) => r.statusCode), [503, 503], 'both clients get the failure, in their dialect');
  for (const r of failed) t.match(await r.body.json(), { error: { message: /503/ } });
  t.equal(upstream.requests.length, 6);
});

t.test('Anthropic passthrough streams fan out byte for byte', async (t) => {
  const { url, upstream } = await setup(t, { eventDelayMs: 20 }, 'always', 'anthropic');
  const send = () => request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
  const texts = await Promise.all([send(), send(), send()].map(async (p) => (await p).body.text()));
  t.equal(upstream.requests.length, 1);
  t.ok(texts.every((text) => text === texts[0]));
  t.match(texts[0], /event: message_stop/);
});

t.test('requests differing in a forwarded header or in priority are not shared', async (t) => {
  const { url, upstream } = await setup(t, { latencyMs: 100 }, 'always', 'anthropic');
  const send = (headers: Record<string, string>) => request(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: 'm', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }) }).then((r) => r.body.text());
  await Promise.all([send({}), send({ 'anthropic-beta': 'context-1m-2025-08-07' })]);
  t.equal(upstream.requests.length, 2, 'a beta flag changes the answer: two calls');
  t.equal(upstream.requests[1].headers['anthropic-beta'] ?? upstream.requests[0].headers['anthropic-beta'], 'context-1m-2025-08-07');
});

t.test('a critical request never joins a queued batch one, though the scheduler classifies them after coalescing', async (t) => {
  const upstream = await faultUpstream({ latencyMs: 200 });
  t.teardown(() => upstream.close());
  const { url } = await startTestRouter(
    t,
    `
server: { admin_key: admin-0123456789 }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: coalesce
  - use: scheduler
    with: { concurrency: 1 }
`,
  );
  const ask = (content: string, priority?: string) =>
    chat(url, { temperature: 0, messages: [{ role: 'user', content }] }, priority ? { 'x-router-priority': priority } : {}).then(async (res) => ({ coalesced: res.headers['x-router-coalesced'], text: await res.body.text() }));
  const queued = async (cls: string) => {
    const state = (await (await request(`${url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json()) as any;
    return state.plugins.find((p: any) => p.plugin === 'scheduler.scheduler').state.up.queued[cls] as number;
  };
  const occupy = ask('occupy');
  await waitFor(() => upstream.requests.length === 1, 3000, 'the first request upstream');
  const batch = ask('same question', 'batch');
  await waitFor(async () => (await queued('batch')) === 1, 3000, 'the batch request queued');
  const critical = await ask('same question', 'critical');
  t.equal(critical.coalesced, 'leader', 'the critical request is its own call');
  t.equal((await batch).coalesced, 'leader');
  await occupy;
  t.same(upstream.requests.map((r) => r.json.messages[0].content), ['occupy', 'same question', 'same question'], 'two calls for the two classes');
});
