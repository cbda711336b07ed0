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

/** A plugin placed after coalesce that misbehaves on request: leaves no answer, or throws. */
const misbehaving = `
import { definePlugin } from 'router-kernel';
export default definePlugin({
  id: 'middleware.misbehaving', kind: 'middleware', version: '1.0.0',
  create: () => ({
    async handle(ctx, next) {
      await next();
      const mode = ctx.raw.headers['x-misbehave'];
      if (mode === 'unset') ctx.response = undefined;
      if (mode === 'throw') throw new Error('thrown after the answer began');
    },
  }),
});
`;

t.test('when a plugin after coalesce leaves no answer or throws, every waiting client hears it and the next request starts afresh', async (t) => {
  const upstream = await faultUpstream({ latencyMs: 150 });
  t.teardown(() => upstream.close());
  const { url } = await startTestRouter(
    t,
    `
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: coalesce
    with: { mode: always }
  - use: ./misbehaving.ts
`,
    { files: { 'misbehaving.ts': misbehaving } },
  );
  for (const mode of ['unset', 'throw']) {
    const both = await Promise.all([chat(url, {}, { 'x-misbehave': mode }), chat(url, {}, { 'x-misbehave': mode })]);
    t.same(both.map((r) => r.headers['x-router-coalesced'] ?? 'error'), ['error', 'error'], `${mode}: neither hangs`);
    t.same(both.map((r) => r.statusCode), [500, 500], `${mode}: both get the leader's failure`);
    for (const r of both) await r.body.dump();
    const again = await chat(url, {});
    t.equal(again.statusCode, 200, `${mode}: the same request afterwards gets a fresh call`);
    t.equal(again.headers['x-router-coalesced'], 'leader');
    await again.body.dump();
  }
});

/** A plugin after coalesce that takes its time before calling on, deaf to the client leaving. */
const slowToStart = `
import { definePlugin } from 'router-kernel';
export default definePlugin({
  id: 'middleware.slow-to-start', kind: 'middleware', version: '1.0.0',
  create: () => ({
    async handle(ctx, next) {
      (globalThis as any).__rkSlowEntered = ((globalThis as any).__rkSlowEntered ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 400));
      await next();
    },
  }),
});
`;

t.test('a call every client has left is forgotten at once: the same request right after starts its own', async (t) => {
  const upstream = await faultUpstream({});
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
    with: { mode: always }
  - use: ./slow.ts
`,
    { files: { 'slow.ts': slowToStart } },
  );
  (globalThis as any).__rkSlowEntered = 0;
  const coalesceState = async () => ((await (await request(`${url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json()) as any).plugins.find((p: any) => p.plugin === 'cache.coalesce').state;
  const leaving = new AbortController();
  const first = chat(url, {}, {}, leaving.signal).catch(() => 'aborted');
  await waitFor(() => (globalThis as any).__rkSlowEntered === 1, 3000, 'the first request past coalesce');
  leaving.abort();
  t.equal(await first, 'aborted');
  await waitFor(async () => (await coalesceState()).waiting === 0, 3000, 'the router to see the client leave');
  t.match(await coalesceState(), { inFlight: 0, totals: { abandoned: 1 } }, 'the abandoned call is no longer joinable');
  const again = await chat(url, {});
  t.equal(again.statusCode, 200, 'a complete answer, not the abandoned call’s failure');
  t.equal(again.headers['x-router-coalesced'], 'leader');
  await again.body.dump();
});

t.test('a leader whose client left is logged as a client that left, while the others get the answer', async (t) => {
  const upstream = await faultUpstream({ latencyMs: 300, eventDelayMs: 40 });
  t.teardown(() => upstream.close());
  const { url, logs } = await startTestRouter(
    t,
    `
server: { admin_key: admin-0123456789 }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: coalesce
    with: { mode: always }
`,
  );
  const waiting = async () => ((await (await request(`${url}/admin/state`, { headers: { 'x-api-key': 'admin-0123456789' } })).body.json()) as any).plugins.find((p: any) => p.plugin === 'cache.coalesce').state.waiting;
  for (const stream of [false, true]) {
    const body = { stream, messages: [{ role: 'user', content: `stream ${stream}` }] };
    const leaving = new AbortController();
    const leader = chat(url, body, {}, leaving.signal).then(
      (res) => (res.body.on('error', () => {}), res),
      () => 'aborted',
    );
    const follower = chat(url, body);
    await waitFor(async () => (await waiting()) === 2, 3000, 'both clients on the call');
    if (stream) await leader; // mid-stream
    leaving.abort();
    const answer = await follower;
    t.equal(answer.statusCode, 200);
    t.match(await answer.body.text(), stream ? /data: \[DONE\]\n\n$/ : /chat\.completion/, `stream ${stream}: the follower's answer is complete`);
  }
  await waitFor(() => logs.filter((l) => l.reqId && l.path === '/v1/chat/completions').length === 4, 3000, 'four request lines');
  const lines = logs.filter((l) => l.reqId && l.path === '/v1/chat/completions');
  t.same(lines.map((l) => l.code ?? 'ok').sort(), ['RK_CLIENT_CLOSED', 'RK_CLIENT_CLOSED', 'ok', 'ok'], 'the two leaders left; the two followers were answered');
});

t.test("a leader's client leaving does not give its scheduler slot away while the others still read the call", async (t) => {
  const upstream = await faultUpstream({ eventDelayMs: 60 });
  t.teardown(() => upstream.close());
  const { url } = await startTestRouter(
    t,
    `
server: { admin_key: admin-0123456789 }
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, keys: [k1], models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: coalesce
    with: { mode: always }
  - use: scheduler
    with: { concurrency: 1 }
`,
  );
  const leaving = new AbortController();
  const leader = await chat(url, { stream: true }, {}, leaving.signal);
  leader.body.on('error', () => {});
  const follower = await chat(url, { stream: true });
  const followed = follower.body.text();
  leaving.abort();
  const other = await chat(url, { stream: true, messages: [{ role: 'user', content: 'another question' }] });
  t.match(await followed, /data: \[DONE\]\n\n$/);
  t.match(await other.body.text(), /data: \[DONE\]\n\n$/);
  t.equal(upstream.maxInflight, 1, 'sequential mode held: the other request waited for the shared call to end');
});

t.test('the opt-in header is read whatever letter case router.yaml spells it in', async (t) => {
  const upstream = await faultUpstream({ latencyMs: 150 });
  t.teardown(() => upstream.close());
  const { url } = await startTestRouter(
    t,
    `
providers:
  up: { use: openai, base_url: ${upstream.url}/v1, api_key: k, models: [m] }
pipeline:
  - use: router
    with: { default: up/m }
  - use: coalesce
    with: { mode: header, header: X-Share-This }
`,
  );
  const both = await Promise.all([chat(url, { temperature: 0.7 }, { 'x-share-this': 'on' }), chat(url, { temperature: 0.7 }, { 'X-SHARE-THIS': 'on' })]);
  for (const r of both) await r.body.dump();
  t.equal(upstream.requests.length, 1, 'both opted in: one call');
});
